"""action_to_weights: long-only weights summing to at most 1, the rest in cash."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.env import action_to_weights

actions = st.lists(st.lists(st.floats(-1e4, 1e4), min_size=3, max_size=3), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(actions)
def test_weights_are_long_only_and_leave_the_rest_in_cash(rows) -> None:
    a = torch.tensor(rows, dtype=torch.float64)
    w = action_to_weights(a)
    assert w.shape == a.shape
    assert torch.isfinite(w).all()
    assert (w >= 0).all()
    assert (w.sum(dim=1) <= 1.0 + 1e-12).all()
    # It is the softmax over [action, 0] without its last (cash) entry.
    expected = torch.softmax(torch.cat([a, torch.zeros(len(rows), 1, dtype=a.dtype)], 1), 1)
    torch.testing.assert_close(w, expected[:, :-1], rtol=1e-12, atol=1e-300)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=3, max_size=3), st.integers(0, 2), st.floats(0.1, 5))
def test_raising_an_action_raises_its_weight(row, i, bump) -> None:
    a = torch.tensor([row], dtype=torch.float64)
    b = a.clone()
    b[0, i] += bump
    assert action_to_weights(b)[0, i] > action_to_weights(a)[0, i]


def test_zero_action_splits_equally_between_assets_and_cash() -> None:
    w = action_to_weights(torch.zeros(2, 4, dtype=torch.float64))
    torch.testing.assert_close(w, torch.full((2, 4), 0.2, dtype=torch.float64))


def test_very_negative_actions_mean_all_cash() -> None:
    w = action_to_weights(torch.full((1, 3), -60.0, dtype=torch.float64))
    assert w.sum().item() < 1e-25


def test_dtype_is_kept_and_bad_shapes_are_refused() -> None:
    assert action_to_weights(torch.zeros(1, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\[B, A\]"):
        action_to_weights(torch.zeros(3))
