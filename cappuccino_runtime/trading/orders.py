"""Target weights -> orders, with the env's own execution arithmetic (train/serve parity).

`plan_orders` sizes orders with `cappuccino_runtime.env.execution.rebalance`, the function the
training env fills with, against the price at which market orders fill now (the replay broker's
next open, Alpaca's latest price). A replay broker that fills at that price with the env's fee
and slippage therefore reproduces the env's book exactly. Sells are listed first (they raise
the cash the buys spend); buys are sized by notional (cash spent, fee included), sells by qty.

Two trader-side filters come first, both pure:
- a cost-aware dead band: an asset whose target is within `dead_band` of its current weight is
  left alone (a rebalance that small costs more in fees than it can change the book);
- the minimum trade size `min_order_notional` (brokers reject below $1), as in the env.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import torch
from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.env.execution import rebalance

__all__ = ["OrderSide", "PlannedOrder", "client_order_id", "plan_orders"]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


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
    fee_rate: float,
    slippage: float,
    min_order_notional: float,
    dead_band: float = 0.0,
) -> list[PlannedOrder]:
    """Orders that move the book toward `target` weights at `prices` (sells first, then buys).

    Args:
        symbols: asset symbols (BTC/USD form), in the order of holdings, prices and target.
        cash: quote cash of the book.
        holdings: units held per asset.
        prices: the price market orders fill at now, before slippage (> 0).
        target: target asset weights (>= 0, sum <= 1).
        fee_rate, slippage, min_order_notional: the env's execution rules (EnvConfig).
        dead_band: weight distance below which an asset is not traded (0 = the env's behaviour).
    """
    if not (len(symbols) == len(holdings) == len(prices) == len(target)):
        raise ValueError(
            f"symbols ({len(symbols)}), holdings ({len(holdings)}), prices ({len(prices)}) and "
            f"target ({len(target)}) must have one entry per asset."
        )
    h = torch.tensor([list(holdings)], dtype=torch.float64)
    p = torch.tensor([list(prices)], dtype=torch.float64)
    w = torch.tensor([list(target)], dtype=torch.float64)
    c = torch.tensor([cash], dtype=torch.float64)
    if dead_band > 0:
        value = c + (h * p).sum(dim=1)
        current = h * p / value.clamp_min(1e-12).unsqueeze(1)
        w = torch.where((w - current).abs() <= dead_band, current, w)
    result = rebalance(c, h, w, p, fee_rate, slippage, min_order_notional)
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
