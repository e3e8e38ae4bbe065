"""Order planning reproduces the env's rebalance arithmetic; ids are deterministic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cappuccino_contracts.artifacts import ExecutionSpec

from cappuccino_runtime.persistence.ledger import OrderSide
from cappuccino_runtime.trading.orders import client_order_id, plan_orders

RULES = {
    "execution": ExecutionSpec(
        fee_rate=0.0025, slippage_bps=10.0, min_order_notional=1.0, no_trade_band=0.0
    )
}


def test_sells_first_then_buys_sized_like_the_env() -> None:
    # value = 1000 + 2*100 + 10*50 = 1700; target [0.0, 0.5] -> sell 2 units of A,
    # buy B: 0.5*1700 - 500 = 350 quote.
    orders = plan_orders(
        symbols=["A/USD", "B/USD"],
        cash=1000.0,
        holdings=[2.0, 10.0],
        prices=[100.0, 50.0],
        target=[0.0, 0.5],
        **RULES,
    )
    assert [(o.symbol, o.side) for o in orders] == [
        ("A/USD", OrderSide.SELL),
        ("B/USD", OrderSide.BUY),
    ]
    assert orders[0].qty == pytest.approx(2.0)
    assert orders[1].notional == pytest.approx(350.0)


def test_buys_are_scaled_to_available_cash() -> None:
    # all cash 100 into two assets at 60% each -> wanted 60 + 60 = 120 > 100 -> 50 + 50
    orders = plan_orders(
        symbols=["A/USD", "B/USD"],
        cash=100.0,
        holdings=[0.0, 0.0],
        prices=[10.0, 20.0],
        target=[0.6, 0.6],
        **RULES,
    )
    assert [o.notional for o in orders] == pytest.approx([50.0, 50.0])


def test_minimum_notional_and_the_models_no_trade_band() -> None:
    kwargs = dict(symbols=["A/USD"], cash=1000.0, holdings=[0.0], prices=[100.0])
    assert plan_orders(target=[0.0009], **kwargs, **RULES) == []  # 0.90 < $1 minimum
    assert len(plan_orders(target=[0.02], **kwargs, **RULES)) == 1  # $20
    banded = ExecutionSpec(no_trade_band=0.025)
    assert plan_orders(target=[0.02], execution=banded, **kwargs) == []  # inside the band
    assert len(plan_orders(target=[0.03], execution=banded, **kwargs)) == 1


def test_partial_rebalance_outage_and_broker_minimums_the_stricter_wins() -> None:
    kwargs = dict(symbols=["A/USD", "B/USD"], cash=1000.0, holdings=[0.0, 0.0], prices=[10.0, 20.0])
    half = ExecutionSpec(no_trade_band=0.0, rebalance_fraction=0.5, slippage_bps=0.0)
    orders = plan_orders(target=[0.4, 0.4], execution=half, **kwargs)
    assert [o.notional for o in orders] == pytest.approx([200.0, 200.0])
    outage = plan_orders(target=[0.4, 0.4], execution=half, tradable=[True, False], **kwargs)
    assert [o.symbol for o in outage] == ["A/USD"]
    # the broker's $250 minimum is stricter than the model's $1: both $200 orders are skipped
    assert plan_orders(target=[0.4, 0.4], execution=half, broker_min_notional=250.0, **kwargs) == []
    # a per-asset minimum size in units (model's or broker's) skips the small order only
    spec = half.model_copy(update={"min_qty": {"B/USD": 20.0}})
    assert [o.symbol for o in plan_orders(target=[0.4, 0.4], execution=spec, **kwargs)] == ["A/USD"]
    assert [
        o.symbol
        for o in plan_orders(
            target=[0.4, 0.4], execution=half, broker_min_qty={"A/USD": 50.0}, **kwargs
        )
    ] == ["B/USD"]


def test_client_order_id_is_deterministic_and_short() -> None:
    ts = datetime(2024, 1, 2, 3, tzinfo=UTC)
    a = client_order_id("local/arena/study-x:42", ts, "BTC/USD", OrderSide.BUY)
    assert a == client_order_id("local/arena/study-x:42", ts, "BTC/USD", OrderSide.BUY)
    assert a.endswith("-20240102T030000-BTCUSD-buy") and len(a) <= 128
    assert a != client_order_id("local/arena/study-x:43", ts, "BTC/USD", OrderSide.BUY)
