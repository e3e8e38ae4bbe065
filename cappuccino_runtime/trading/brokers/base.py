"""The Broker interface every trader talks to, and the value types that cross it.

Symbols cross this interface in data form (`BTC/USD`); adapters convert at their edge (Alpaca
positions use `BTCUSD`). Quantities and prices are float64 like the env's accounting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.errors import TemporaryBrokerError
from cappuccino_runtime.persistence.ledger import OrderSide, OrderStatus

__all__ = [
    "AssetRules",
    "Broker",
    "BrokerOrder",
    "FeeActivity",
    "OrderFateUnknown",
    "OrderRequest",
]


class OrderFateUnknown(TemporaryBrokerError):
    """The broker may or may not hold the order (lost response, lagging look-ups). The order
    stays open in the ledger (status `unknown`) and is looked up again on later polls."""


@dataclass(frozen=True)
class FeeActivity:
    """A fee the broker posted (Alpaca: a CFEE account activity), in the asset it was taken in.

    `asset` is "USD" (cash) or the base asset of `symbol` (units of `symbol`, e.g. BTC for
    BTC/USD); `amount` is positive; `date` is the activity's YYYY-MM-DD.
    """

    activity_id: str
    date: str
    symbol: str | None
    asset: str
    amount: float


@dataclass(frozen=True)
class OrderRequest:
    """A market order: sells by qty (units), buys by notional (quote) or qty."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: float | None = None
    notional: float | None = None
    ref_price: float = 0.0


_DONE = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.DONE_FOR_DAY,
    }
)


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it; filled_qty is gross units (before a buy's fee)."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    status: OrderStatus
    filled_qty: float
    filled_avg_price: float | None
    qty: float | None = None
    notional: float | None = None

    @property
    def done(self) -> bool:
        """True when the order can no longer fill (filled, canceled, expired, rejected)."""
        return self.status in _DONE


@dataclass(frozen=True)
class AssetRules:
    """Order-size rules of one asset: qty is rounded down to min_trade_increment."""

    symbol: str
    min_order_size: float = 0.0
    min_trade_increment: float = 0.0
    min_notional: float = 1.0


@runtime_checkable
class Broker(Protocol):
    """Market data, orders and account of one brokerage (or of a replay of history)."""

    name: str
    fee_rate: float
    fees_inline: bool
    """True when a fill's fee is known at fill time (replay: the env's rule); False when the
    broker posts fees later as activities (Alpaca's CFEE), read with `fee_activities`."""

    def now(self) -> datetime:
        """The broker's clock (the replay clock when replaying)."""
        ...

    def history(self, symbols: tuple[str, ...], timeframe: str, bars: int) -> MarketData:
        """The last `bars` completed bars (fewer if history is shorter), oldest first."""
        ...

    def fill_prices(self, symbols: tuple[str, ...]) -> list[float]:
        """The prices market orders would fill at now, before slippage."""
        ...

    def fill_tradable(self, symbols: tuple[str, ...]) -> list[bool]:
        """Per symbol, whether there is a market to fill in now: False on a replayed bar that
        was forward-filled over an outage (volume 0), exactly where the env does not trade."""
        ...

    def resume_at(self, ts: datetime) -> None:
        """Positions a replay's clock at the bar that ended at `ts` (a restart); live: no-op."""
        ...

    def can_trade(self) -> bool:
        """False when orders cannot fill now (a replay at its last bar)."""
        ...

    def asset_rules(self, symbol: str) -> AssetRules: ...

    def sized(self, request: OrderRequest) -> OrderRequest | None:
        """The request rounded to the asset's rules, or None when it must not be sent."""
        ...

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Places the order exactly once: a repeated client_order_id returns the existing order."""
        ...

    def order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client_order_id, or None if the broker never received it."""
        ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def fee_activities(self, after: datetime | None = None) -> list[FeeActivity]:
        """Fees posted after `after`, oldest first (empty where fees are inline)."""
        ...

    def positions(self) -> dict[str, float]:
        """Units held per symbol (BTC/USD form), read from the broker."""
        ...

    def cash(self) -> float: ...

    def wait_next_poll(self, poll_seconds: float) -> bool:
        """Blocks until the next poll (replay: advances its clock); False when nothing is left."""
        ...
