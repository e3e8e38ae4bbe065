"""Parity: a replay trader over a held-out period makes the env's orders and equity curve.

The trader (plan_orders under the model's frozen ExecutionSpec) and the env (execute, as in
CPCV scoring) trade the same bars: same fills, same equity to float rounding. The trader-only
overlays (position cap, ensemble vote) are not part of the scored policy; the last test
measures and prints what they change.
"""

from __future__ import annotations

import numpy as np
import torch
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import run_policy
from cappuccino_runtime.features import warmup_bars
from cappuccino_runtime.persistence import InMemoryLedger
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import (
    FEATURE_SET,
    LOOKBACK,
    make_slot,
    normalised_features,
    sample,
)

NO_GUARDS = RiskSettings(
    max_drawdown=1.0, max_loss_per_hour=1.0, max_trades_per_hour=10_000, max_position_fraction=1.0
)


def _replay(slot_list, start: int, stop: int, config: TraderConfig, data, vote: bool = False):
    warm = warmup_bars(FEATURE_SET)
    spec = slot_list[0].spec
    broker = ReplayBroker(
        data.slice(0, stop + warm),
        start=start + warm,
        fee_rate=spec.execution.fee_rate,
        slippage=spec.execution.slippage,
    )
    books = [BookPlan("local/parity", tuple(range(len(slot_list))))]
    trader = Trader(ModelBank(slot_list), books, broker, InMemoryLedger(), config)
    polls = trader.run()
    curve = np.array([v for _, v in trader.equity_curve("local/parity")])
    return trader, polls, curve


def _env_run(slot, data, start: int, stop: int, tradable=None):
    warm = warmup_bars(FEATURE_SET)
    env_config = EnvConfig.from_execution(slot.spec.execution, LOOKBACK)
    feats = normalised_features(data, slot)
    with torch.no_grad():
        return run_policy(
            lambda obs: slot.actor(obs),
            data.open[warm:],
            data.close[warm:],
            feats[warm:],
            env_config,
            [(start, stop)],
            device="cpu",
            price_scale=slot.spec.price_scale,
            tradable=None if tradable is None else tradable[warm:],
        )


def test_replay_trader_makes_the_envs_orders_and_equity_curve() -> None:
    data = sample(2200)
    slot = make_slot(data, seed=3)
    assert slot.spec.execution.no_trade_band > 0  # the model's band, not a trader default
    # held-out segment: env bars [1500, 1700) of the warm-cut arrays (never used to fit anything)
    start, stop = 1500, 1700
    env = _env_run(slot, data, start, stop)
    trader, polls, curve = _replay([slot], start, stop, TraderConfig(risk=NO_GUARDS), data)
    fills = trader.ledger.fills("local/parity")
    assert polls == stop - start
    assert len(curve) == len(env.curves[0])
    assert len(fills) == int(env.trades[0]) > 20  # the same orders, and the policy really traded
    # float32 actions from a batched matmul vs nn.Linear: equal to ~1e-7 relative
    np.testing.assert_allclose(curve, env.curves[0], rtol=1e-6, atol=0)
    assert abs(curve[-1] / curve[0] - 1) > 1e-3  # and the curve is not flat


def test_outage_bars_are_not_traded_by_the_replay_trader_nor_the_env() -> None:
    data = sample(2200)
    slot = make_slot(data, seed=3)
    warm = warmup_bars(FEATURE_SET)
    start, stop = 1500, 1700
    # bars forward-filled over an outage carry volume 0 (data/clean): every 7th bar of one asset
    outage = np.zeros_like(data.volume, dtype=bool)
    outage[warm + start : warm + stop : 7, 0] = True
    data.volume[outage] = 0.0
    env = _env_run(slot, data, start, stop, tradable=data.volume > 0)
    trader, _, curve = _replay([slot], start, stop, TraderConfig(risk=NO_GUARDS), data)
    fills = trader.ledger.fills("local/parity")
    assert len(fills) == int(env.trades[0]) > 20
    np.testing.assert_allclose(curve, env.curves[0], rtol=1e-6, atol=0)
    # and the outages mattered: an env that ignored them would have traded differently
    ignoring = _env_run(slot, data, start, stop)
    assert not np.allclose(ignoring.curves[0], env.curves[0], rtol=1e-9, atol=0)


def test_trader_only_overlays_are_measured() -> None:
    """Risk caps and the vote are not in the scored policy: report what they change."""
    data = sample(2200)
    slots = [make_slot(data, seed=s) for s in (3, 4, 5)]
    start, stop = 1500, 1700
    env = _env_run(slots[0], data, start, stop)
    env_return = env.curves[0][-1] / env.curves[0][0] - 1
    capped_guards = NO_GUARDS.model_copy(update={"max_position_fraction": 0.4})
    _, _, capped = _replay([slots[0]], start, stop, TraderConfig(risk=capped_guards), data)
    _, _, voted = _replay(slots, start, stop, TraderConfig(risk=NO_GUARDS), data)
    rows = {
        "env (scored policy)": (env_return, int(env.trades[0])),
        "trader, position cap 0.4": (capped[-1] / capped[0] - 1, None),
        "trader, 3-model majority vote": (voted[-1] / voted[0] - 1, None),
    }
    for name, (ret, trades) in rows.items():
        print(
            f"parity overlay: {name:32s} return {ret:+.4%}"
            + (f" trades {trades}" if trades else "")
        )
    # The overlays do change the book (so they are reported, not silently assumed away).
    assert not np.allclose(capped, env.curves[0], rtol=1e-6)
    assert not np.allclose(voted, env.curves[0], rtol=1e-6)


def test_drawdown_kill_switch_latches_and_keeps_positions() -> None:
    data = sample(1400)
    slot = make_slot(data, seed=3)
    broker = ReplayBroker(data.slice(0, 1300), start=1200, fee_rate=0.0025, slippage=5e-4)
    guards = RiskSettings(max_drawdown=0.004, max_loss_per_hour=1.0, max_trades_per_hour=10_000)
    ledger = InMemoryLedger()
    trader = Trader(
        ModelBank([slot]), [BookPlan("local/dd", (0,))], broker, ledger,
        TraderConfig(risk=guards),
    )  # fmt: skip
    trader.run()
    book = ledger.book("local/dd")
    assert book.halted_reason is not None and "Kill switch" in book.halted_reason
    snaps = ledger.snapshots("local/dd")
    halted_at = next(s.ts for s in snaps if s.halted_reason)
    assert all(s.halted_reason == book.halted_reason for s in snaps if s.ts >= halted_at)
    assert all(o.decision_ts < halted_at for o in ledger.orders("local/dd"))  # no order after
    assert any(q > 0 for q in book.positions.values())  # positions kept, not liquidated
