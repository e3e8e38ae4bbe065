"""Parity: a replay trader over a held-out period reproduces the env's backtest equity curve."""

from __future__ import annotations

import numpy as np
import torch

from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import evaluate_policy
from cappuccino_runtime.features import warmup_bars
from cappuccino_runtime.persistence import InMemoryLedger
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.guards import GuardConfig
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import (
    FEATURE_SET,
    LOOKBACK,
    make_slot,
    normalised_features,
    sample,
)

NO_GUARDS = GuardConfig(
    max_drawdown=1.0, max_loss_per_hour=1.0, max_trades_per_hour=10_000, max_position_weight=1.0
)


def test_replay_trader_reproduces_env_equity_curve() -> None:
    data = sample(2200)
    slot = make_slot(data, seed=3)
    warm = warmup_bars(FEATURE_SET)
    env_config = EnvConfig(lookback=LOOKBACK, fee_rate=0.0025, slippage_bps=5.0)
    # held-out segment: env bars [1500, 1700) of the warm-cut arrays (never used to fit anything)
    start, stop = 1500, 1700
    feats = normalised_features(data, slot)
    with torch.no_grad():
        [env_curve] = evaluate_policy(
            lambda obs: slot.actor(obs),
            data.open[warm:],
            data.close[warm:],
            feats[warm:],
            env_config,
            [(start, stop)],
            device="cpu",
        )
    broker = ReplayBroker(
        data.slice(0, stop + warm), start=start + warm, fee_rate=0.0025, slippage=5e-4
    )
    trader = Trader(
        ModelBank([slot]),
        [BookPlan("local/parity", (0,))],
        broker,
        InMemoryLedger(),
        TraderConfig(dead_band=0.0, guards=NO_GUARDS, slippage_bps=5.0),
    )
    polls = trader.run()
    curve = np.array([v for _, v in trader.equity_curve("local/parity")])
    assert polls == stop - start
    assert len(curve) == len(env_curve)
    assert len(trader.ledger.fills("local/parity")) > 20  # the policy really traded
    # float32 actions from a batched matmul vs nn.Linear: equal to ~1e-7 relative
    np.testing.assert_allclose(curve, env_curve, rtol=1e-6, atol=0)
    assert abs(curve[-1] / curve[0] - 1) > 1e-3  # and the curve is not flat


def test_drawdown_kill_switch_latches_and_keeps_positions() -> None:
    data = sample(1400)
    slot = make_slot(data, seed=3)
    broker = ReplayBroker(data.slice(0, 1300), start=1200, fee_rate=0.0025, slippage=5e-4)
    guards = GuardConfig(max_drawdown=0.004, max_loss_per_hour=1.0, max_trades_per_hour=10_000)
    ledger = InMemoryLedger()
    trader = Trader(
        ModelBank([slot]), [BookPlan("local/dd", (0,))], broker, ledger,
        TraderConfig(dead_band=0.0, guards=guards),
    )  # fmt: skip
    trader.run()
    book = ledger.book("local/dd")
    assert book.halted_reason is not None and "Kill switch" in book.halted_reason
    snaps = ledger.snapshots("local/dd")
    halted_at = next(s.ts for s in snaps if s.halted_reason)
    assert all(s.halted_reason == book.halted_reason for s in snaps if s.ts >= halted_at)
    assert all(o.decision_ts < halted_at for o in ledger.orders("local/dd"))  # no order after
    assert any(q > 0 for q in book.positions.values())  # positions kept, not liquidated
