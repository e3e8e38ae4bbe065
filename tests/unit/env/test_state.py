"""The shared state builder: layout, dimension, causality and parity with the env."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cappuccino_runtime.env import EnvConfig, VecTradingEnv, build_state, state_dim
from cappuccino_runtime.env.reference import reference_state

from .conftest import Market, make_market


def windows(m: Market, t: torch.Tensor | list[int], lookback: int):
    """Feature and close windows ending at bars t, cut from the raw arrays like a live trader."""
    idx = torch.as_tensor(t)[:, None] + torch.arange(-lookback + 1, 1)
    return (
        torch.as_tensor(m.features)[idx],
        torch.as_tensor(m.close)[idx],
    )


def test_hand_computed_single_portfolio() -> None:
    features = torch.tensor([[[[0.5], [-1.0]], [[1.5], [2.0]]]])  # [1, L=2, A=2, F=1]
    closes = torch.tensor([[[10.0, 40.0], [20.0, 80.0]]], dtype=torch.float64)  # [1, 2, 2]
    obs = build_state(
        features,
        closes,
        cash=torch.tensor([50.0], dtype=torch.float64),
        holdings=torch.tensor([[1.0, 0.5]], dtype=torch.float64),
        price_scale=0.25,
    )
    value = 50.0 + 20.0 + 40.0
    expected = [
        50 / value,
        20 / value,
        40 / value,
        math.log(0.5) / 0.25,  # price ratios are scaled by the train-fitted return std
        math.log(0.5) / 0.25,
        0.5,
        -1.0,
        1.5,
        2.0,
    ]
    assert obs.shape == (1, state_dim(2, 1, 2)) == (1, 9)
    assert obs.dtype == torch.float32
    assert obs[0].tolist() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("a", "f", "lookback"), [(1, 0, 1), (3, 2, 4), (4, 9, 5)])
def test_state_dim_matches_build_state(a: int, f: int, lookback: int) -> None:
    b = 3
    obs = build_state(
        torch.zeros(b, lookback, a, f),
        torch.ones(b, lookback, a, dtype=torch.float64),
        torch.ones(b, dtype=torch.float64),
        torch.zeros(b, a, dtype=torch.float64),
    )
    assert obs.shape == (b, state_dim(a, f, lookback))


def test_mismatched_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="disagree"):
        build_state(
            torch.zeros(1, 3, 2, 1),
            torch.ones(1, 4, 2, dtype=torch.float64),
            torch.ones(1, dtype=torch.float64),
            torch.zeros(1, 2, dtype=torch.float64),
        )
    with pytest.raises(ValueError, match="n_assets"):
        state_dim(0, 1, 1)


def test_env_states_equal_build_state_on_raw_windows_at_every_step(market: Market) -> None:
    """Train/serve parity: the env's precomputed states are exactly what build_state gives."""
    cfg = EnvConfig(lookback=4, episode_length=30)
    env = VecTradingEnv(
        market.open,
        market.close,
        market.features,
        cfg,
        num_envs=3,
        device="cpu",
        seed=3,
        price_scale=0.02,
    )
    obs = env.reset(starts=[3, 40, 100])
    t = torch.tensor([3, 40, 100])
    cash = torch.full((3,), cfg.initial_cash, dtype=torch.float64)
    holdings = torch.zeros(3, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(cfg.episode_length):
        fw, pw = windows(market, t, cfg.lookback)
        assert torch.equal(obs, build_state(fw, pw, cash, holdings, 0.02))
        obs, _, _, _, info = env.step(torch.randn(3, 3, generator=gen))
        t, cash, holdings = info["t"], info["cash"], info["holdings"]
        fw, pw = windows(market, t, cfg.lookback)
        assert torch.equal(info["final_obs"], build_state(fw, pw, cash, holdings, 0.02))


def test_state_at_t_does_not_read_later_bars() -> None:
    cfg = EnvConfig(lookback=5, episode_length=10)
    m = make_market()
    t = 60
    changed = Market(m.open.copy(), m.close.copy(), m.features.copy())
    rng = np.random.default_rng(1)
    changed.open[t + 1 :] *= rng.uniform(0.5, 2.0, changed.open[t + 1 :].shape)
    changed.close[t + 1 :] *= rng.uniform(0.5, 2.0, changed.close[t + 1 :].shape)
    changed.features[t + 1 :] = rng.normal(size=changed.features[t + 1 :].shape)
    obs = [
        VecTradingEnv(x.open, x.close, x.features, cfg, device="cpu").reset(starts=[t])
        for x in (m, changed)
    ]
    assert torch.equal(obs[0], obs[1])
    holdings = np.array([0.3, 0.0, 2.0])
    states = [
        reference_state(x.features, x.close, t, cfg.lookback, 10.0, holdings) for x in (m, changed)
    ]
    np.testing.assert_array_equal(states[0], states[1])
    # ...and it does read bar t itself.
    changed.close[t] *= 1.1
    moved = VecTradingEnv(changed.open, changed.close, changed.features, cfg, device="cpu")
    assert not torch.equal(obs[0], moved.reset(starts=[t]))


def test_state_is_bounded_however_long_the_book_lives() -> None:
    """No column grows with the book's age: a book that has grown 1000x since inception (the old
    state's log-wealth column) and a crash of 20 return stds give the same bounded state."""
    features = torch.zeros(1, 3, 1, 0)
    crash = torch.tensor([[[100.0], [100.0], [10.0]]], dtype=torch.float64)
    obs = build_state(
        features,
        crash,
        torch.tensor([1e9], dtype=torch.float64),
        torch.tensor([[1e7]], dtype=torch.float64),
        price_scale=0.01,
    )
    assert obs.abs().max().item() <= 10.0
    assert obs[0, :2].sum().item() == pytest.approx(1.0)  # cash weight + asset weight
