"""action_to_weights: long-only weights summing to at most 1; the zero action keeps the book."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.env import action_to_weights
from cappuccino_runtime.env.actions import FLOOR

actions = st.lists(st.lists(st.floats(-1e4, 1e4), min_size=3, max_size=3), min_size=1, max_size=4)
books = st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).map(
    lambda w: [x / max(1.0, sum(w)) for x in w]
)


@settings(max_examples=150, deadline=None)
@given(actions, books)
def test_weights_are_long_only_and_leave_the_rest_in_cash(rows, book) -> None:
    a = torch.tensor(rows, dtype=torch.float64)
    current = torch.tensor([book] * len(rows), dtype=torch.float64)
    w = action_to_weights(a, current)
    assert w.shape == a.shape
    assert torch.isfinite(w).all()
    assert (w >= 0).all()
    assert (w.sum(dim=1) <= 1.0 + 1e-12).all()
    # It is the softmax over [log(ref + FLOOR) + action, log(FLOOR)] without the cash entry,
    # where ref spreads the book's cash equally over the assets.
    ref = current + (1.0 - current.sum(dim=1, keepdim=True)).clamp_min(0.0) / 3
    logits = torch.cat(
        [torch.log(ref + FLOOR) + a, torch.full((len(rows), 1), math.log(FLOOR), dtype=a.dtype)], 1
    )
    torch.testing.assert_close(w, torch.softmax(logits, 1)[:, :-1], rtol=1e-12, atol=1e-300)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-20, 20), min_size=3, max_size=3),
    books,
    st.integers(0, 2),
    st.floats(0.1, 5),
)
def test_raising_an_action_raises_its_weight(row, book, i, bump) -> None:
    a = torch.tensor([row], dtype=torch.float64)
    current = torch.tensor([book], dtype=torch.float64)
    b = a.clone()
    b[0, i] += bump
    assert action_to_weights(b, current)[0, i] > action_to_weights(a, current)[0, i]


@settings(max_examples=100, deadline=None)
@given(books)
def test_zero_action_keeps_an_invested_book_within_a_few_floors(book) -> None:
    """The neutral point: an invested book stays where it is (up to ~A * FLOOR), so inside the
    default no-trade band an indifferent policy does not trade."""
    current = torch.tensor([book], dtype=torch.float64)
    cash = max(0.0, 1.0 - sum(book))
    ref = current + cash / 3
    w = action_to_weights(torch.zeros(1, 3, dtype=torch.float64), current)
    assert (w - ref).abs().max().item() <= 3 * FLOOR + 1e-12


def test_zero_action_on_a_cash_book_buys_equal_weight_not_cash() -> None:
    """The old mapping put 1/(A+1) in cash at the zero action; now cash is a learned choice."""
    w = action_to_weights(torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 4))
    expected = (0.25 + FLOOR) / (1 + 5 * FLOOR)
    torch.testing.assert_close(w, torch.full((2, 4), expected, dtype=torch.float64))
    assert 1.0 - w.sum(dim=1).max().item() < 0.01


def test_cash_is_reachable_and_so_is_an_empty_asset() -> None:
    full = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    to_cash = action_to_weights(torch.full((1, 3), math.log(FLOOR) - 1.0), full)
    assert to_cash.sum().item() < 0.5
    to_asset = action_to_weights(torch.tensor([[0.0, -math.log(FLOOR) + 1.0, 0.0]]), full)
    assert to_asset[0, 1].item() > 0.5


def test_very_negative_actions_mean_all_cash() -> None:
    w = action_to_weights(torch.full((1, 3), -60.0, dtype=torch.float64), torch.zeros(1, 3))
    assert w.sum().item() < 1e-20


def test_dtype_is_kept_and_bad_shapes_are_refused() -> None:
    assert action_to_weights(torch.zeros(1, 2), torch.zeros(1, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\[B, A\]"):
        action_to_weights(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="one weight per asset"):
        action_to_weights(torch.zeros(1, 3), torch.zeros(1, 2))
