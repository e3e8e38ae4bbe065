"""ReplayBroker: history replayed bar by bar, with the env's fill convention, fees and slippage.

Clock: after bar t has closed the replay's "now" is bar t's close time (= bar t+1's open).
`history` returns bars up to t, `fill_prices` is bar t+1's open, and a market order fills at
once at that open with slippage against the trader; the fee is taken in the received asset
(buys pay in units, sells in quote). `wait_next_poll` advances one bar, sleeping
`seconds_per_bar` of wall time first (0 = as fast as possible: the accelerated clock). The
last bar is reached too, for a final mark to market, but `can_trade()` is False there.

Orders are journaled (one JSON line per order) when `journal` is given, so a replay broker
outlives a crashed trader the way Alpaca would: a restarted trader finds its orders again.
The replay account tracks cash and positions from its fills but enforces no balance: in an
arena several local books may route to it.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.errors import BrokerError, ConfigError
from cappuccino_runtime.persistence.ledger import OrderSide, OrderStatus
from cappuccino_runtime.timeframes import timeframe_delta
from cappuccino_runtime.trading.brokers.base import (
    AssetRules,
    BrokerOrder,
    FeeActivity,
    OrderRequest,
)

__all__ = ["ReplayBroker", "simulated_fill"]


def simulated_fill(request: OrderRequest, price: float, slippage: float) -> BrokerOrder:
    """A market order filled in full at `price` with slippage against the trader (the env's rule).

    Buys by notional get notional / (price * (1 + slippage)) units before the fee; sells fill at
    price * (1 - slippage). Used by the replay broker and by arena books that do not route.
    """
    if request.side is OrderSide.BUY:
        fill = price * (1.0 + slippage)
        qty = request.qty if request.qty is not None else (request.notional or 0.0) / fill
    else:
        fill = price * (1.0 - slippage)
        qty = request.qty or 0.0
    if qty <= 0:
        raise BrokerError(
            f"rejected {request.side.value} {request.symbol} order {request.client_order_id}: "
            f"size qty={request.qty} notional={request.notional} at {price} is not positive."
        )
    return BrokerOrder(
        client_order_id=request.client_order_id,
        broker_order_id=str(uuid.uuid5(uuid.NAMESPACE_URL, request.client_order_id)),
        symbol=request.symbol,
        side=request.side,
        status=OrderStatus.FILLED,
        filled_qty=qty,
        filled_avg_price=fill,
        qty=request.qty,
        notional=request.notional,
    )


class ReplayBroker:
    """A Broker over a MarketData, starting after bar `start` has closed."""

    name = "replay"
    fees_inline = True

    def __init__(
        self,
        data: MarketData,
        *,
        start: int,
        fee_rate: float,
        slippage: float,
        initial_cash: float = 10_000.0,
        seconds_per_bar: float = 0.0,
        journal: Path | None = None,
    ) -> None:
        if not 0 <= start < data.n_bars - 1:
            raise ConfigError(
                f"replay start bar {start} must leave a bar to fill at; the data has "
                f"{data.n_bars} bars."
            )
        self.data = data
        self.t = start
        self.fee_rate = fee_rate
        self.slippage = slippage
        self.seconds_per_bar = seconds_per_bar
        self._cash = initial_cash
        self._positions: dict[str, float] = {}
        self._orders: dict[str, BrokerOrder] = {}
        self._journal = journal
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
        if journal is not None and journal.exists():
            for line in journal.read_text().splitlines():
                if line.strip():
                    self._apply(_order_from_json(json.loads(line)))

    def now(self) -> datetime:
        end = self.data.index[self.t] + timeframe_delta(self.data.timeframe)
        return pd.Timestamp(end).to_pydatetime()

    def history(self, symbols: tuple[str, ...], timeframe: str, bars: int) -> MarketData:
        if timeframe_delta(timeframe) != timeframe_delta(self.data.timeframe):
            raise ConfigError(
                f"the replay data is {self.data.timeframe} bars but {timeframe} was asked for."
            )
        return self.data.slice(max(0, self.t - bars + 1), self.t + 1).select(symbols)

    def fill_prices(self, symbols: tuple[str, ...]) -> list[float]:
        return [float(self.data.open[self.t + 1, self._col(s)]) for s in symbols]

    def fill_tradable(self, symbols: tuple[str, ...]) -> list[bool]:
        return [bool(self.data.volume[self.t + 1, self._col(s)] > 0) for s in symbols]

    def asset_rules(self, symbol: str) -> AssetRules:
        self._col(symbol)
        return AssetRules(symbol=symbol, min_notional=0.0)

    def resume_at(self, ts: datetime) -> None:
        ends = self.data.index + timeframe_delta(self.data.timeframe)
        matches = (ends == pd.Timestamp(ts)).nonzero()[0]
        if len(matches) == 0:
            raise ConfigError(
                f"the ledger's last decision at {ts.isoformat()} is not a bar of the replay data; "
                "replay the same data the book was started on."
            )
        self.t = int(matches[0])

    def can_trade(self) -> bool:
        return self.t + 1 < self.data.n_bars

    def sized(self, request: OrderRequest) -> OrderRequest | None:
        """Replay fills any size, like the env: the request unchanged (None if empty)."""
        size = request.qty if request.qty is not None else request.notional
        return request if size is not None and size > 0 else None

    def submit(self, request: OrderRequest) -> BrokerOrder:
        if request.client_order_id in self._orders:
            return self._orders[request.client_order_id]
        if not self.can_trade():
            raise BrokerError(
                f"replay cannot fill {request.side.value} {request.symbol} order "
                f"{request.client_order_id}: the replay has no bar after {self.now().isoformat()}."
            )
        order = simulated_fill(request, self.fill_prices((request.symbol,))[0], self.slippage)
        if self._journal is not None:
            with self._journal.open("a") as f:
                f.write(json.dumps(_order_to_json(order)) + "\n")
        self._apply(order)
        return order

    def order(self, client_order_id: str) -> BrokerOrder | None:
        return self._orders.get(client_order_id)

    def fee_activities(self, after: datetime | None = None) -> list[FeeActivity]:
        return []  # fees are inline: the env's rule at each fill

    def open_orders(self) -> list[BrokerOrder]:
        return [o for o in self._orders.values() if not o.done]

    def positions(self) -> dict[str, float]:
        return {s: q for s, q in self._positions.items() if q != 0.0}

    def cash(self) -> float:
        return self._cash

    def wait_next_poll(self, poll_seconds: float) -> bool:
        if self.t + 1 >= self.data.n_bars:
            return False
        if self.seconds_per_bar > 0:
            time.sleep(self.seconds_per_bar)
        self.t += 1
        return True

    def _apply(self, order: BrokerOrder) -> None:
        self._orders[order.client_order_id] = order
        qty, price = order.filled_qty, order.filled_avg_price or 0.0
        held = self._positions.get(order.symbol, 0.0)
        if order.side is OrderSide.BUY:
            self._positions[order.symbol] = held + qty * (1.0 - self.fee_rate)
            self._cash -= qty * price
        else:
            self._positions[order.symbol] = held - qty
            self._cash += qty * price * (1.0 - self.fee_rate)

    def _col(self, symbol: str) -> int:
        try:
            return self.data.symbols.index(symbol)
        except ValueError:
            raise ConfigError(
                f"symbol {symbol!r} is not in the replay data ({', '.join(self.data.symbols)})."
            ) from None


def _order_to_json(order: BrokerOrder) -> dict[str, object]:
    return {**order.__dict__, "side": order.side.value, "status": order.status.value}


def _order_from_json(raw: dict[str, Any]) -> BrokerOrder:
    return BrokerOrder(
        **{
            **raw,
            "side": OrderSide(str(raw["side"])),
            "status": OrderStatus(str(raw["status"])),
        }
    )
