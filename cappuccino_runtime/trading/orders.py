"""Target weights -> orders, with the env's own execution rule (train/serve parity).

`plan_orders` sizes orders with `cappuccino_runtime.env.execution.execute`, the function the
training env and CPCV scoring fill with, under the model's frozen `ExecutionSpec` (fee,
slippage, minimum order, no-trade band, partial rebalancing, per-asset minimum size), against
the price at which market orders fill now (the replay broker's next open, Alpaca's latest
price). A replay broker that fills at that price with the spec's fee and slippage therefore
reproduces the env's book exactly. Sells are listed first (they raise the cash the buys
spend); buys are sized by notional (cash spent, fee included), sells by qty.

The trader has no execution defaults of its own. A broker's own minimums combine with the
model's: `broker_min_notional` and `broker_min_qty` raise the floors where they are stricter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

import torch
from cappuccino_contracts.artifacts import ExecutionSpec
from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.env.execution import execute
from cappuccino_runtime.persistence.ledger import OrderSide

__all__ = ["PlannedOrder", "client_order_id", "plan_orders"]


class PlannedOrder(BaseModel):
    """One market order the trader wants: sells by qty (units), buys by notional (quote)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    side: OrderSide
    qty: float | None = None
    notional: float | None = None
    ref_price: float


def plan_orders(
    *,
    symbols: Sequence[str],
    cash: float,
    holdings: Sequence[float],
    prices: Sequence[float],
    target: Sequence[float],
    execution: ExecutionSpec,
    tradable: Sequence[bool] | None = None,
    broker_min_notional: float = 0.0,
    broker_min_qty: Mapping[str, float] | None = None,
) -> list[PlannedOrder]:
    """Orders that move the book toward `target` weights at `prices` (sells first, then buys).

    Args:
        symbols: asset symbols (BTC/USD form), in the order of holdings, prices and target.
        cash: quote cash of the book.
        holdings: units held per asset.
        prices: the price market orders fill at now, before slippage (> 0).
        target: target asset weights (>= 0, sum <= 1).
        execution: the model's frozen execution rule (ModelSpec.execution).
        tradable: per asset, False where there is no market to fill in (an outage bar).
        broker_min_notional, broker_min_qty: the broker's own minimums (the stricter wins).
    """
    if not (len(symbols) == len(holdings) == len(prices) == len(target)):
        raise ValueError(
            f"symbols ({len(symbols)}), holdings ({len(holdings)}), prices ({len(prices)}) and "
            f"target ({len(target)}) must have one entry per asset."
        )
    rules = execution.model_copy(
        update={"min_order_notional": max(execution.min_order_notional, broker_min_notional)}
    )
    broker_qty = broker_min_qty or {}
    min_qty = [max(execution.min_qty.get(s, 0.0), broker_qty.get(s, 0.0)) for s in symbols]
    result = execute(
        rules,
        torch.tensor([cash], dtype=torch.float64),
        torch.tensor([list(holdings)], dtype=torch.float64),
        torch.tensor([list(target)], dtype=torch.float64),
        torch.tensor([list(prices)], dtype=torch.float64),
        tradable=None if tradable is None else torch.tensor([list(tradable)], dtype=torch.bool),
        min_units=torch.tensor(min_qty, dtype=torch.float64) if any(min_qty) else None,
    )
    orders: list[PlannedOrder] = []
    for i, symbol in enumerate(symbols):
        units = float(result.sell_units[0, i])
        if units > 0:
            orders.append(
                PlannedOrder(symbol=symbol, side=OrderSide.SELL, qty=units, ref_price=prices[i])
            )
    for i, symbol in enumerate(symbols):
        notional = float(result.buy_notional[0, i])
        if notional > 0:
            orders.append(
                PlannedOrder(
                    symbol=symbol, side=OrderSide.BUY, notional=notional, ref_price=prices[i]
                )
            )
    return orders


def client_order_id(portfolio_id: str, decision_ts: datetime, symbol: str, side: OrderSide) -> str:
    """Deterministic id of one decision's order: the same decision always gets the same id.

    `cap-<12 hex of sha256(portfolio_id)>-<decision bar, UTC>-<BTCUSD>-<side>` (under 64 chars,
    Alpaca allows 128). A restarted trader re-deriving a decision it had already sent finds the
    order by this id instead of placing a second one.
    """
    book = hashlib.sha256(portfolio_id.encode()).hexdigest()[:12]
    stamp = decision_ts.strftime("%Y%m%dT%H%M%S")
    return f"cap-{book}-{stamp}-{symbol.replace('/', '')}-{side.value}"
