"""VecTradingEnv: exact accounting, batch = one by one, the NumPy oracle, resets, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cappuccino_runtime.env import EnvConfig, VecTradingEnv
from cappuccino_runtime.env.reference import ReferenceTradingEnv

from .conftest import Market, make_market

EXACT = {"rtol": 1e-12, "atol": 1e-9}
"""Float64 rounding: the torch env and the oracle order a few operations differently."""


def make_env(m: Market, cfg: EnvConfig, b: int, device: str = "cpu", **kw) -> VecTradingEnv:
    return VecTradingEnv(m.open, m.close, m.features, cfg, num_envs=b, device=device, **kw)


def scripted_actions(steps: int, b: int, a: int, seed: int = 0) -> torch.Tensor:
    """Wide random actions: all-in, all-out and mixed targets, so every branch trades."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(steps, b, a, generator=gen) * 4.0


def test_accounting_is_exact_after_every_step(market: Market) -> None:
    """A ledger kept from the reported fills reproduces cash, holdings, value and fees."""
    cfg = EnvConfig(
        lookback=3, episode_length=60, min_order_notional=50.0, slippage_bps=10, no_trade_band=0.0
    )
    env = make_env(market, cfg, b=4)
    env.reset(starts=[2, 10, 50, 90])
    t = torch.tensor([2, 10, 50, 90])
    cash = torch.full((4,), cfg.initial_cash, dtype=torch.float64)
    holdings = torch.zeros(4, 3, dtype=torch.float64)
    fees = torch.zeros(4, dtype=torch.float64)
    open_, close = torch.as_tensor(market.open), torch.as_tensor(market.close)
    sub_minimum = 0
    for action in scripted_actions(cfg.episode_length, 4, 3):
        _, _, _, _, info = env.step(action)
        t = t + 1
        assert torch.equal(info["t"], t)
        buy, sell = info["buy_notional"], info["sell_notional"]
        filled = (buy > 0) | (sell > 0)
        assert not ((buy > 0) & (sell > 0)).any(), "an asset is bought and sold in one step"
        assert torch.equal(info["trades"], filled.sum(dim=1))
        # Orders the targets ask for: sells below the minimum are skipped, the rest filled whole.
        price = open_[t]
        delta = info["weights"] * (cash + (holdings * price).sum(1))[:, None] - holdings * price
        want_sell = (
            torch.minimum((-delta).clamp_min(0) / price, holdings) * price * (1 - cfg.slippage)
        )
        small = (want_sell > 0) & (want_sell < cfg.min_order_notional)
        assert (sell[small] == 0).all()
        torch.testing.assert_close(sell[~small], want_sell[~small], **EXACT)
        small_buy = (delta > 0) & (delta < cfg.min_order_notional)
        assert (buy[small_buy] == 0).all()
        sub_minimum += int(small.sum() + small_buy.sum())
        assert (buy[buy > 0] >= cfg.min_order_notional).all()
        # Ledger: sells at open * (1 - slip), fee in cash; buys at open * (1 + slip), fee in units.
        units_sold = sell / (price * (1 - cfg.slippage))
        units_bought = buy / (price * (1 + cfg.slippage)) * (1 - cfg.fee_rate)
        cash = cash + (sell * (1 - cfg.fee_rate)).sum(dim=1) - buy.sum(dim=1)
        holdings = holdings - units_sold + units_bought
        fees = fees + cfg.fee_rate * (buy + sell).sum(dim=1)
        torch.testing.assert_close(info["cash"], cash, **EXACT)
        torch.testing.assert_close(info["holdings"], holdings, **EXACT)
        torch.testing.assert_close(info["fees"], cfg.fee_rate * (buy + sell).sum(dim=1), **EXACT)
        torch.testing.assert_close(info["total_fees"], fees, **EXACT)
        # value = cash + holdings x price, marked at the close of the fill bar.
        value = info["cash"] + (info["holdings"] * close[t]).sum(dim=1)
        torch.testing.assert_close(info["value"], value, rtol=1e-15, atol=0.0)
        assert (info["holdings"] >= 0).all() and (info["cash"] >= -1e-9).all()
        cash, holdings = info["cash"], info["holdings"]
    assert sub_minimum > 0, "the script never produced a sub-minimum order"
    assert fees.min() > 0


def test_rewards_are_log_returns_of_the_value(market: Market) -> None:
    for kind in ("log_return", "simple_return"):
        cfg = EnvConfig(lookback=2, episode_length=20, reward=kind, reward_scale=3.0)
        env = make_env(market, cfg, b=2)
        env.reset(starts=[5, 70])
        previous = torch.full((2,), cfg.initial_cash, dtype=torch.float64)
        for action in scripted_actions(cfg.episode_length, 2, 3, seed=1):
            _, reward, _, _, info = env.step(action)
            growth = info["value"] / previous
            expected = torch.log(growth) if kind == "log_return" else growth - 1
            torch.testing.assert_close(reward, 3.0 * expected, rtol=1e-12, atol=1e-15)
            previous = info["value"]


@pytest.mark.parametrize(
    "rule",
    [
        {},
        {"no_trade_band": 0.0},
        {"no_trade_band": 0.1, "rebalance_fraction": 0.5},
        {"reward": "excess_log_return", "turnover_penalty": 0.01, "reward_scale": 2.0},
        {"reward": "simple_return", "no_trade_band": 0.02, "rebalance_fraction": 0.25},
    ],
)
def test_torch_env_matches_the_numpy_oracle_at_every_step(market: Market, rule: dict) -> None:
    cfg = EnvConfig(
        lookback=4, episode_length=80, min_order_notional=40.0, slippage_bps=7.5, **rule
    )
    starts = [3, 20, 60, 79]
    env = make_env(market, cfg, b=len(starts))
    obs = env.reset(starts=starts)
    oracles = [ReferenceTradingEnv(market.open, market.close, market.features, cfg) for _ in starts]
    ref_obs = [o.reset(s) for o, s in zip(oracles, starts, strict=True)]
    for action in scripted_actions(cfg.episode_length, len(starts), 3, seed=2):
        np.testing.assert_allclose(obs.numpy(), np.stack(ref_obs), rtol=1e-6, atol=1e-6)
        obs, reward, _, truncated, info = env.step(action)
        outs = [o.step(a.numpy()) for o, a in zip(oracles, action, strict=True)]
        ref_obs = [out[0] for out in outs]
        np.testing.assert_allclose(reward.numpy(), [out[1] for out in outs], rtol=1e-9, atol=1e-12)
        assert truncated.tolist() == [out[2] for out in outs]
        for key in ("value", "cash", "total_fees", "fees", "turnover"):
            np.testing.assert_allclose(info[key].numpy(), [out[3][key] for out in outs], **EXACT)
        for key in ("holdings", "buy_notional", "sell_notional", "weights"):
            np.testing.assert_allclose(
                info[key].numpy(), np.stack([out[3][key] for out in outs]), **EXACT
            )
        assert info["trades"].tolist() == [out[3]["trades"] for out in outs]
    np.testing.assert_allclose(info["final_obs"].numpy(), np.stack(ref_obs), rtol=1e-6, atol=1e-6)


def test_a_batch_equals_the_same_episodes_run_one_by_one(market: Market) -> None:
    cfg = EnvConfig(lookback=3, episode_length=40)
    starts = [2, 33, 64, 100, 119]
    actions = scripted_actions(cfg.episode_length, len(starts), 3, seed=3)
    batch = make_env(market, cfg, b=len(starts))
    singles = [make_env(market, cfg, b=1) for _ in starts]
    torch.testing.assert_close(
        batch.reset(starts=starts),
        torch.cat([e.reset(starts=[s]) for e, s in zip(singles, starts, strict=True)]),
        rtol=0,
        atol=0,
    )
    for action in actions:
        got = batch.step(action)
        one = [e.step(action[i : i + 1]) for i, e in enumerate(singles)]
        for k in (1, 2, 3):  # reward, terminated, truncated
            torch.testing.assert_close(got[k], torch.cat([o[k] for o in one]), **EXACT)
        # Compared before autoreset: at the last step each env draws its own next start.
        for key in ("final_obs", "value", "cash", "holdings", "total_fees", "trades"):
            torch.testing.assert_close(got[4][key], torch.cat([o[4][key] for o in one]), **EXACT)


def test_truncation_autoreset_and_final_obs(market: Market) -> None:
    cfg = EnvConfig(lookback=3, episode_length=5)
    env = make_env(market, cfg, b=3, seed=11)
    env.reset(starts=[2, 50, 150])
    action = torch.full((3, 3), 2.0)
    for step in range(1, 6):
        obs, _, terminated, truncated, info = env.step(action)
        assert not terminated.any()
        assert truncated.all() == (step == 5) and truncated.any() == (step == 5)
        if step < 5:
            assert info["final_obs"] is obs
    # The finished episodes' last states are in final_obs; obs are fresh all-cash starts.
    assert torch.equal(info["t"], torch.tensor([7, 55, 155]))
    assert (info["holdings"] > 0).any()
    assert torch.equal(obs[:, 0], torch.ones(3))  # cash weight 1
    assert torch.equal(obs[:, 1:4], torch.zeros(3, 3))  # no holdings
    assert not torch.equal(obs, info["final_obs"])
    _, _, _, truncated, info = env.step(action)
    assert not truncated.any()
    assert torch.allclose(info["total_fees"], info["fees"])  # the fee total restarted


def test_without_autoreset_step_after_truncation_is_refused(market: Market) -> None:
    cfg = EnvConfig(lookback=2, episode_length=2)
    env = make_env(market, cfg, b=2, autoreset=False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, 3))
    env.reset(starts=[1, 157])  # 157 is the last start that leaves 2 bars
    env.step(torch.zeros(2, 3))
    assert env.step(torch.zeros(2, 3))[3].all()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, 3))


def test_same_seed_same_episodes_and_starts_stay_in_valid_starts(market: Market) -> None:
    cfg = EnvConfig(lookback=3, episode_length=4)
    valid = [10, 11, 12, 80, 81]

    def rollout(seed: int) -> list[torch.Tensor]:
        env = make_env(market, cfg, b=8, seed=seed, valid_starts=valid)
        out = [env.reset()]
        assert set(env.t.tolist()) <= set(valid)
        for action in scripted_actions(3 * cfg.episode_length, 8, 3, seed=4):
            obs, reward, _, truncated, info = env.step(action)
            out += [obs, reward, info["t"]]
            if truncated.all():
                assert set(env.t.tolist()) <= set(valid)  # the new episodes' starts
        return out

    first, again, other = rollout(5), rollout(5), rollout(6)
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(first, other, strict=True))


def test_reset_draws_starts_from_the_generator(market: Market) -> None:
    cfg = EnvConfig(lookback=3, episode_length=10)
    env = make_env(market, cfg, b=64)
    gen = torch.Generator().manual_seed(123)
    env.reset(generator=gen)
    starts = env.t
    assert starts.min() >= 2 and starts.max() <= 160 - 1 - 10
    env.reset(generator=torch.Generator().manual_seed(123))
    assert torch.equal(env.t, starts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"starts": [1]}, "outside 2..149"),
        ({"starts": [150]}, "outside 2..149"),
        ({"starts": [5, 6]}, "num_envs=1"),
    ],
)
def test_bad_starts_are_refused_with_the_bad_value(market: Market, kwargs, message) -> None:
    env = make_env(market, EnvConfig(lookback=3, episode_length=10), b=1)
    with pytest.raises(ValueError, match=message):
        env.reset(**kwargs)


def test_bad_inputs_are_refused(market: Market) -> None:
    cfg = EnvConfig(lookback=3, episode_length=10)
    bad = market.features.copy()
    bad[7, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        VecTradingEnv(market.open, market.close, bad, cfg, device="cpu")
    with pytest.raises(ValueError, match="strictly positive"):
        VecTradingEnv(market.open, -market.close, market.features, cfg, device="cpu")
    with pytest.raises(ValueError, match=r"\[T, A, F\]"):
        VecTradingEnv(market.open, market.close, market.features[:, :2], cfg, device="cpu")
    with pytest.raises(ValueError, match="needs at least"):
        VecTradingEnv(
            market.open,
            market.close,
            market.features,
            cfg.model_copy(update={"episode_length": 158}),
            device="cpu",
        )
    env = make_env(market, cfg, b=2)
    env.reset()
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        env.step(torch.zeros(2, 4))


def test_obs_and_action_dims(market: Market) -> None:
    env = make_env(market, EnvConfig(lookback=4, episode_length=10), b=2)
    assert env.action_dim == 3
    assert env.obs_dim == 1 + 3 + 3 * 3 + 4 * 3 * 2
    assert env.reset().shape == (2, env.obs_dim)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_cuda_gives_the_same_episodes_as_cpu() -> None:
    m = make_market(n_bars=300)
    cfg = EnvConfig(lookback=4, episode_length=50)
    envs = {d: make_env(m, cfg, b=16, device=d, seed=9) for d in ("cpu", "cuda")}
    obs = {d: e.reset() for d, e in envs.items()}
    torch.testing.assert_close(obs["cuda"].cpu(), obs["cpu"], rtol=1e-6, atol=1e-6)
    for action in scripted_actions(120, 16, 3, seed=5):  # crosses two autoresets
        out = {d: e.step(action.to(d)) for d, e in envs.items()}
        torch.testing.assert_close(out["cuda"][0].cpu(), out["cpu"][0], rtol=1e-5, atol=1e-5)
        for key in ("value", "cash", "holdings", "total_fees", "t"):
            torch.testing.assert_close(out["cuda"][4][key].cpu(), out["cpu"][4][key], **EXACT)
