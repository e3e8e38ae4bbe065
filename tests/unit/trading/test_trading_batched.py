"""StackedActors computes exactly what a loop over the actors computes, in one batched pass."""

from __future__ import annotations

import pytest
import torch

from cappuccino_runtime.agent.networks import Actor
from cappuccino_runtime.trading.batched import StackedActors


def _actors(n: int, obs: int = 7, act: int = 3, width: int = 16) -> list[Actor]:
    torch.manual_seed(1)
    return [Actor(obs, act, width).eval() for _ in range(n)]


def test_shared_observation_matches_loop() -> None:
    actors = _actors(5)
    obs = torch.randn(7)
    with torch.no_grad():
        expected = torch.stack([a(obs) for a in actors])
    torch.testing.assert_close(StackedActors(actors)(obs), expected)
    torch.testing.assert_close(StackedActors(actors)(obs[None]), expected)


def test_one_observation_per_model_matches_loop() -> None:
    actors = _actors(4)
    obs = torch.randn(4, 7)
    with torch.no_grad():
        expected = torch.stack([a(obs[i]) for i, a in enumerate(actors)])
    torch.testing.assert_close(StackedActors(actors)(obs), expected)


def test_weight_bytes_counts_every_parameter_but_log_std() -> None:
    actors = _actors(3, obs=5, act=2, width=4)
    per_model = sum(p.numel() for n, p in actors[0].named_parameters() if n != "log_std")
    assert StackedActors(actors).weight_bytes() == 3 * per_model * 4


def test_mixed_architectures_and_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="one architecture"):
        StackedActors([Actor(5, 2, 4), Actor(5, 2, 8)])
    with pytest.raises(ValueError, match="at least one"):
        StackedActors([])
    stacked = StackedActors(_actors(3))
    with pytest.raises(ValueError, match="obs_dim=7"):
        stacked(torch.randn(6))
    with pytest.raises(ValueError, match="2 observations for 3 models"):
        stacked(torch.randn(2, 7))


def test_bf16_weights_halve_the_bytes_and_stay_close() -> None:
    actors = _actors(4)
    obs = torch.randn(7)
    full, half = StackedActors(actors), StackedActors(actors, dtype=torch.bfloat16)
    assert half.weight_bytes() * 2 == full.weight_bytes()
    torch.testing.assert_close(half(obs).float(), full(obs), rtol=0.05, atol=0.05)


def test_the_layers_come_from_the_actor_not_from_a_copy() -> None:
    """Another depth or activation in agent.networks needs no change here (it is walked)."""
    torch.manual_seed(2)
    actors = [Actor(7, 3, 16).eval() for _ in range(3)]
    for a in actors:
        a.net = torch.nn.Sequential(
            torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
            torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
        )  # fmt: skip
    obs = torch.randn(3, 7)
    with torch.no_grad():
        expected = torch.stack([a(obs[i]) for i, a in enumerate(actors)])
        shared = torch.stack([a(obs[0]) for a in actors])
    stacked = StackedActors(actors)
    torch.testing.assert_close(stacked(obs), expected)
    torch.testing.assert_close(stacked(obs[0]), shared)
    assert (stacked.obs_dim, stacked.net_dimension, stacked.action_dim) == (7, 16, 3)
