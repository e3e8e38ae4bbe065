"""The vectorised GAE must equal the plain loop (the oracle) on random rollouts with episode ends."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.agent.gae import gae, gae_reference


def _rollout(steps: int, envs: int, seed: int, p_done: float) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(steps, envs, generator=g)
    values = torch.randn(steps, envs, generator=g)
    dones = (torch.rand(steps, envs, generator=g) < p_done).float()
    next_value = torch.randn(envs, generator=g)
    return rewards, values, dones, next_value


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 40),
    envs=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    p_done=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    gamma=st.floats(0.9, 0.999),
    gae_lambda=st.floats(0.8, 1.0),
)
def test_vectorised_gae_matches_plain_loop(
    steps: int, envs: int, seed: int, p_done: float, gamma: float, gae_lambda: float
) -> None:
    rewards, values, dones, next_value = _rollout(steps, envs, seed, p_done)
    adv, ret = gae(rewards, values, dones, next_value, gamma, gae_lambda)
    adv_ref, ret_ref = gae_reference(rewards, values, dones, next_value, gamma, gae_lambda)
    torch.testing.assert_close(adv, adv_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ret, ret_ref, rtol=1e-4, atol=1e-4)


def test_hand_computed_two_steps() -> None:
    # One env, two steps, episode ends after step 0: A_1 = r1 + g*V_next - V1; A_0 = r0 - V0.
    rewards = torch.tensor([[1.0], [2.0]])
    values = torch.tensor([[0.5], [0.25]])
    dones = torch.tensor([[1.0], [0.0]])
    next_value = torch.tensor([4.0])
    adv, ret = gae(rewards, values, dones, next_value, gamma=0.5, gae_lambda=0.5)
    assert adv[1, 0].item() == pytest.approx(2.0 + 0.5 * 4.0 - 0.25)
    assert adv[0, 0].item() == pytest.approx(1.0 - 0.5)
    assert ret[0, 0].item() == pytest.approx(1.0)


def test_chunked_over_envs_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    import cappuccino_runtime.agent.gae as mod

    monkeypatch.setattr(mod, "_MAX_WEIGHT_ELEMENTS", 64)  # forces one env per chunk
    rewards, values, dones, next_value = _rollout(8, 7, 3, 0.2)
    adv, _ = gae(rewards, values, dones, next_value, 0.99, 0.95)
    adv_ref, _ = gae_reference(rewards, values, dones, next_value, 0.99, 0.95)
    torch.testing.assert_close(adv, adv_ref, rtol=1e-5, atol=1e-5)
