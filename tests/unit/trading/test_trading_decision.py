"""The trader's decision step on plain values: no broker, no ledger, no model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import torch
from cappuccino_contracts.artifacts import ExecutionSpec
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.persistence.ledger import OrderRecord, OrderSide, OrderStatus
from cappuccino_runtime.trading.decision import (
    BookState,
    MarketState,
    available,
    book_target,
    decide,
    held_weights,
    mark,
)
from cappuccino_runtime.trading.ensemble import EnsembleRule
from cappuccino_runtime.trading.guards import GuardKind
from cappuccino_runtime.trading.orders import client_order_id

BAR_END = datetime(2024, 5, 1, 13, tzinfo=UTC)
STEP = timedelta(hours=1)
SYMBOLS = ("A/USD", "B/USD")
EXECUTION = ExecutionSpec(fee_rate=0.0, slippage_bps=0.0, min_order_notional=1.0, no_trade_band=0.0)
NO_LIMITS = RiskSettings(max_drawdown=1.0, max_loss_per_hour=1.0)


def _market(**kw: object) -> MarketState:
    fields: dict[str, object] = {
        "symbols": SYMBOLS,
        "bar_end": BAR_END,
        "step": STEP,
        "now": BAR_END,
        "close": (100.0, 50.0),
        "prices": (100.0, 50.0),
        "tradable": (True, True),
        "can_trade": True,
    }
    return MarketState(**(fields | kw))  # type: ignore[arg-type]


def _book(**kw: object) -> BookState:
    fields: dict[str, object] = {
        "portfolio_id": "local/b",
        "token": "tok",
        "cash": 1000.0,
        "holdings": (2.0, 10.0),
        "initial_cash": 1000.0,
        "halted_reason": None,
        "equity_history": [],
    }
    return BookState(**(fields | kw))  # type: ignore[arg-type]


def _open(side: OrderSide, symbol: str = "A/USD", **kw: object) -> OrderRecord:
    return OrderRecord(
        client_order_id=f"o-{side}-{symbol}",
        portfolio_id="local/b",
        symbol=symbol,
        side=side,
        ref_price=100.0,
        decision_ts=BAR_END - STEP,
        created_at=BAR_END - STEP,
        status=OrderStatus.NEW,
        **kw,  # type: ignore[arg-type]
    )


def test_mark_and_held_weights() -> None:
    # 1000 cash + 2 x 100 + 10 x 50 = 1700
    assert mark(1000.0, [2.0, 10.0], [100.0, 50.0]) == 1700.0
    assert held_weights(1000.0, [2.0, 10.0], [100.0, 50.0]) == pytest.approx(
        [200 / 1700, 500 / 1700]
    )
    assert held_weights(0.0, [0.0, 0.0], [100.0, 50.0]) == [0.0, 0.0]


def test_available_nets_out_what_open_orders_committed() -> None:
    orders = [
        _open(OrderSide.BUY, notional=300.0, filled_notional=100.0),
        _open(OrderSide.SELL, qty=1.5, filled_qty=0.5),
        _open(OrderSide.SELL, "Z/USD", qty=9.0),
    ]
    cash, holdings = available(1000.0, [2.0, 10.0], orders, SYMBOLS)
    assert (cash, holdings) == (800.0, [1.0, 10.0])  # a symbol the book does not trade is ignored
    assert available(100.0, [0.5, 0.0], [_open(OrderSide.BUY, notional=500.0)], SYMBOLS) == (
        0.0,
        [0.5, 0.0],
    )


def test_decide_plans_the_envs_orders_with_deterministic_ids() -> None:
    decision = decide(_book(), [0.0, 0.5], _market(), NO_LIMITS, EXECUTION, min_order_notional=1.0)
    assert not decision.status.halted and decision.halt is None
    # equity 1700; target [0, 0.5]: sell the 2 A, buy B for 0.5 x 1700 - 500 = 350
    assert [(o.symbol, o.side) for o in decision.orders] == [
        ("A/USD", OrderSide.SELL),
        ("B/USD", OrderSide.BUY),
    ]
    sell, buy = decision.orders
    assert sell.qty == pytest.approx(2.0) and buy.notional == pytest.approx(350.0)
    assert sell.client_order_id == client_order_id(
        "local/b#tok", BAR_END - STEP, "A/USD", OrderSide.SELL
    )
    assert all(o.status is OrderStatus.INTENT and o.decision_ts == BAR_END for o in decision.orders)
    snap = decision.snapshot
    assert (snap.ts, snap.equity, snap.cash, snap.positions_value) == (
        BAR_END,
        1700.0,
        1000.0,
        700.0,
    )
    # the same state decides the same orders: a restarted trader finds them by id
    again = decide(_book(), [0.0, 0.5], _market(), NO_LIMITS, EXECUTION, min_order_notional=1.0)
    assert again == decision


def test_decide_plans_with_what_open_orders_left_and_not_when_it_cannot_trade() -> None:
    book = _book(open_orders=[_open(OrderSide.SELL, qty=2.0)])
    decision = decide(book, [0.0, 0.5], _market(), NO_LIMITS, EXECUTION, min_order_notional=1.0)
    assert [o.side for o in decision.orders] == [OrderSide.BUY]  # A is already being sold
    closed = decide(
        _book(), [0.0, 0.5], _market(can_trade=False), NO_LIMITS, EXECUTION, min_order_notional=1.0
    )
    assert closed.orders == () and closed.snapshot.equity == 1700.0


def test_a_drawdown_halts_latches_once_and_keeps_the_snapshot() -> None:
    history = [(BAR_END - 2 * STEP, 3000.0)]
    risk = RiskSettings(max_drawdown=0.2, max_loss_per_hour=1.0)
    decision = decide(
        _book(equity_history=history),
        [0.0, 0.5],
        _market(),
        risk,
        EXECUTION,
        min_order_notional=1.0,
    )
    assert decision.status.halted and decision.status.kind is GuardKind.DRAWDOWN
    assert decision.orders == () and decision.halt == decision.status.reason
    assert decision.snapshot.halted_reason == decision.status.reason
    latched = decide(
        _book(equity_history=history, halted_reason="earlier"), [0.0, 0.5], _market(), risk, EXECUTION,
        min_order_notional=1.0,
    )  # fmt: skip
    assert latched.status.halted and latched.halt is None  # already persisted: not written again


def test_book_target_member_ensemble_vote_and_cap() -> None:
    actions = torch.zeros((3, 2), dtype=torch.float64)
    current = torch.zeros((3, 2), dtype=torch.float64)
    weights = torch.tensor([[0.9, 0.1], [0.6, 0.2], [0.7, 0.0]], dtype=torch.float64)
    common = {"rule": EnsembleRule.MAJORITY, "vote_dead_band": 0.01, "max_position_fraction": 1.0}
    member, vote = book_target([1], actions, current, weights, [0.0, 0.0], **common)  # type: ignore[arg-type]
    assert member == pytest.approx([0.6, 0.2]) and vote is None
    capped, _ = book_target(
        [0],
        actions,
        current,
        weights,
        [0.0, 0.0],
        **{**common, "max_position_fraction": 0.5},  # type: ignore[arg-type]
    )
    assert capped == pytest.approx([0.5, 0.1])
    voted, vote = book_target([0, 1, 2], actions, current, weights, [0.0, 0.0], **common)  # type: ignore[arg-type]
    assert vote is not None and voted == vote.target
    # every model moves A up from 0: all three vote buy and the target is their mean
    assert voted[0] == pytest.approx((0.9 + 0.6 + 0.7) / 3)
