"""run_policy and buy_and_hold_equity: same convention as the env, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cappuccino_runtime.env import EnvConfig, VecTradingEnv, buy_and_hold_equity, run_policy
from cappuccino_runtime.metrics import annualised_sharpe, returns_from_equity

from .conftest import Market


def test_buy_and_hold_matches_a_hand_computation() -> None:
    open_ = np.array([[10.0, 100.0], [11.0, 90.0], [12.0, 95.0], [13.0, 80.0]])
    close = np.array([[10.5, 99.0], [11.5, 92.0], [12.5, 96.0], [12.0, 85.0]])
    cfg = EnvConfig(lookback=1, fee_rate=0.0025, slippage_bps=10, initial_cash=1000.0)
    equity = buy_and_hold_equity(open_, close, start=0, stop=4, config=cfg)
    # Decide at close 0, fill at open 1: 500 into each asset at open * 1.001, fee in units.
    units = np.array([500.0 / (11.0 * 1.001), 500.0 / (90.0 * 1.001)]) * (1 - 0.0025)
    expected = [1000.0, *(units @ close[k] for k in (1, 2, 3))]
    np.testing.assert_allclose(equity, expected, rtol=1e-14)
    assert len(equity) == 4


def test_buy_and_hold_on_a_later_segment_starts_from_initial_cash() -> None:
    open_ = np.full((6, 1), 50.0)
    close = np.full((6, 1), 50.0)
    cfg = EnvConfig(lookback=1, fee_rate=0.01, slippage_bps=0, initial_cash=100.0)
    equity = buy_and_hold_equity(open_, close, start=2, stop=6, config=cfg)
    # Flat prices: the only change is the 1% entry fee.
    np.testing.assert_allclose(equity, [100.0, 99.0, 99.0, 99.0], rtol=1e-15)


def constant_policy(value: float, n_assets: int):
    def policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.full((obs.shape[0], n_assets), value, dtype=obs.dtype, device=obs.device)

    return policy


def test_all_cash_policy_keeps_a_flat_curve(market: Market) -> None:
    cfg = EnvConfig(lookback=3, min_order_notional=1.0)
    curves = run_policy(
        constant_policy(-60.0, 3), market.open, market.close, market.features, cfg,
        [(2, 40), (50, 51 + 9)], device="cpu",
    ).curves  # fmt: skip
    assert [len(c) for c in curves] == [38, 10]
    for curve in curves:
        np.testing.assert_array_equal(curve, np.full(len(curve), cfg.initial_cash))


def test_equity_equals_the_env_values_of_the_same_episode(market: Market) -> None:
    cfg = EnvConfig(lookback=4, episode_length=30, slippage_bps=10)

    class Linear(torch.nn.Module):
        def __init__(self, obs_dim: int) -> None:
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.w = torch.randn(obs_dim, 3, generator=gen) * 0.5

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return obs @ self.w

    env = VecTradingEnv(market.open, market.close, market.features, cfg, num_envs=2, device="cpu")
    policy = Linear(env.obs_dim)
    starts = [3, 77]
    obs = env.reset(starts=starts)
    values = [np.full(2, cfg.initial_cash)]
    for _ in range(cfg.episode_length):
        obs, _, _, _, info = env.step(policy(obs))
        values.append(info["value"].numpy())
    from_env = np.stack(values, axis=1)
    segments = [(s, s + cfg.episode_length + 1) for s in starts]
    curves = run_policy(
        policy, market.open, market.close, market.features, cfg, segments, device="cpu"
    ).curves
    np.testing.assert_allclose(np.stack(curves), from_env, rtol=1e-12)


def test_segments_of_different_lengths_in_one_batch_equal_each_run_alone(market: Market) -> None:
    cfg = EnvConfig(lookback=2)
    policy = constant_policy(0.7, 3)
    segments = [(1, 20), (30, 100), (100, 160), (150, 152)]
    together = run_policy(
        policy, market.open, market.close, market.features, cfg, segments, device="cpu"
    ).curves
    for segment, curve in zip(segments, together, strict=True):
        alone = run_policy(
            policy, market.open, market.close, market.features, cfg, [segment], device="cpu"
        ).curves[0]
        assert len(curve) == segment[1] - segment[0]
        np.testing.assert_allclose(curve, alone, rtol=1e-13)
    # The curves feed the metrics module directly.
    sharpe = annualised_sharpe(returns_from_equity(together[1]), 8760)
    assert np.isfinite(sharpe)


def test_bad_segments_and_policies_are_refused(market: Market) -> None:
    cfg = EnvConfig(lookback=5)
    args = (market.open, market.close, market.features, cfg)
    with pytest.raises(ValueError, match=r"segment \(3, 40\)"):
        run_policy(constant_policy(0.0, 3), *args, [(3, 40)], device="cpu")
    with pytest.raises(ValueError, match=r"segment \(10, 161\)"):
        run_policy(constant_policy(0.0, 3), *args, [(10, 161)], device="cpu")
    with pytest.raises(ValueError, match="empty"):
        run_policy(constant_policy(0.0, 3), *args, [], device="cpu")
    with pytest.raises(ValueError, match=r"expected \(1, 3\)"):
        run_policy(constant_policy(0.0, 2), *args, [(10, 20)], device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_cuda_curves_equal_cpu_curves(market: Market) -> None:
    cfg = EnvConfig(lookback=3)
    segments = [(2, 60), (70, 159)]
    curves = {
        device: run_policy(
            lambda obs: obs[:, :3] * 4.0 - 1.0,
            market.open,
            market.close,
            market.features,
            cfg,
            segments,
            device=device,
        ).curves
        for device in ("cpu", "cuda")
    }
    for cpu, cuda in zip(curves["cpu"], curves["cuda"], strict=True):
        np.testing.assert_allclose(cuda, cpu, rtol=1e-9)


def test_outage_bars_are_not_traded_and_stats_are_reported(market: Market) -> None:
    """Zero-volume (forward-filled) bars cannot be filled: the env and evaluation skip them."""
    from cappuccino_runtime.env import run_policy

    cfg = EnvConfig(lookback=2, no_trade_band=0.0, episode_length=80)
    tradable = np.ones(market.close.shape, dtype=bool)
    tradable[:, 0] = False  # asset 0 is never tradable
    tradable[50:60, 1] = False  # asset 1 is out for ten bars

    def flip(obs: torch.Tensor) -> torch.Tensor:  # alternate hard between assets 1 and 2
        t = int(obs.shape[0])
        sign = 1.0 if float(obs[0, 2]) < 0.5 else -1.0
        return torch.tensor([[0.0, 6.0 * sign, -6.0 * sign]] * t)

    run = run_policy(flip, market.open, market.close, market.features, cfg, [(10, 100)], "cpu")
    blocked = run_policy(
        flip, market.open, market.close, market.features, cfg, [(10, 100)], "cpu", tradable=tradable
    )
    assert run.trades[0] > blocked.trades[0] > 0
    assert run.turnover[0] > blocked.turnover[0] > 0
    assert 0.9 < run.exposure[0] <= 1.0 and run.fees[0] > blocked.fees[0] > 0
    env = VecTradingEnv(
        market.open, market.close, market.features, cfg, device="cpu", tradable=tradable
    )
    env.reset(starts=[10])
    for _ in range(80):
        t = int(env.t[0]) + 1
        _, _, _, _, info = env.step(flip(env._observe()))
        assert info["buy_notional"][0, 0] == 0 and info["sell_notional"][0, 0] == 0
        if 50 <= t < 60:
            assert info["buy_notional"][0, 1] == 0 and info["sell_notional"][0, 1] == 0
