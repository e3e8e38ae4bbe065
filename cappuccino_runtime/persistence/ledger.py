"""The ledger interface shared by backtest, replay and live trading, and its in-memory version.

A ledger holds books (cash and positions per portfolio), orders (intent first, then status),
fills, snapshots and arena rankings. The trader receives one injected; `InMemoryLedger` and
`SqlLedger` pass the same contract test suite (tests/unit/trading/test_trading_ledger_contract.py).

Accounting runs in float64 like the env (so a replay reproduces a backtest); the SQL ledger
stores exact decimals of those floats in Numeric columns.

Fill arithmetic (the env's convention, fee in the received asset):
- buy  of `qty` units at `price` with fee `fee` (units): positions += qty - fee; cash -= qty*price
- sell of `qty` units at `price` with fee `fee` (quote): positions -= qty; cash += qty*price - fee
A fee the broker posts later (Alpaca's CFEE activities) is booked with `record_fee`: a fee in
the asset lowers the position, a USD fee the cash.

Book identity: each book gets a random `token` when first opened (persisted); its orders'
client_order_ids derive from it, so no other deployment can ever produce the same ids.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cappuccino_runtime.errors import ConfigError

__all__ = [
    "OPEN_STATUSES",
    "Book",
    "FeeRecord",
    "FillRecord",
    "InMemoryLedger",
    "Ledger",
    "OrderRecord",
    "OrderSide",
    "OrderStatus",
    "RankingRecord",
    "SnapshotRecord",
    "apply_fee",
    "apply_fill",
    "new_book_token",
]


class OrderSide(StrEnum):
    """Side of an order; stored as its value ("buy", "sell")."""

    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """Status of an order; stored as its value. Ours: `intent` (written, not yet sent),
    `unknown` (sent, no answer yet: looked up later), `skipped` (below the minimums, never
    sent), `abandoned` (an old intent never sent late); the rest are Alpaca's order statuses
    (the replay broker uses `filled` and `rejected`)."""

    INTENT = "intent"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"
    NEW = "new"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    PENDING_REVIEW = "pending_review"
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"
    STOPPED = "stopped"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"


OPEN_STATUSES = frozenset(
    {
        OrderStatus.INTENT,
        OrderStatus.UNKNOWN,
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
        OrderStatus.PENDING_NEW,
        OrderStatus.PARTIALLY_FILLED,
    }
)
"""Order statuses that may still fill; `intent` means written but not yet acknowledged,
`unknown` that a submission was attempted and its fate is not known yet (looked up later)."""


def new_book_token() -> str:
    """A fresh random book identity (12 hex characters)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Book:
    """A portfolio's cash and positions (units per BTC/USD-form symbol)."""

    portfolio_id: str
    initial_cash: float
    cash: float
    positions: dict[str, float] = field(default_factory=dict)
    halted_reason: str | None = None
    token: str = ""
    venue: str | None = None


@dataclass(frozen=True)
class OrderRecord:
    """One order. Sells carry qty (units), buys notional (quote) or qty."""

    client_order_id: str
    portfolio_id: str
    symbol: str
    side: OrderSide
    ref_price: float
    decision_ts: datetime
    created_at: datetime
    qty: float | None = None
    notional: float | None = None
    status: OrderStatus = OrderStatus.INTENT
    broker_order_id: str | None = None
    filled_qty: float = 0.0
    filled_notional: float = 0.0

    def __post_init__(self) -> None:
        # a plain "buy"/"filled" (a ledger row, a test) becomes its enum; anything else fails
        object.__setattr__(self, "side", OrderSide(self.side))
        object.__setattr__(self, "status", OrderStatus(self.status))


@dataclass(frozen=True)
class FeeRecord:
    """A fee posted by the broker after the fill: `amount` of `asset` ("USD" or the base asset
    of `symbol`), booked to one book; fee_key is unique (`<activity id>:<portfolio_id>`)."""

    fee_key: str
    portfolio_id: str
    symbol: str | None
    asset: str
    amount: float
    ts: datetime


@dataclass(frozen=True)
class FillRecord:
    """One execution; fill_key is unique (e.g. `<client_order_id>:<cumulative filled qty>`)."""

    fill_key: str
    client_order_id: str
    qty: float
    price: float
    fee: float
    ts: datetime


@dataclass(frozen=True)
class SnapshotRecord:
    """The book marked to market at ts."""

    portfolio_id: str
    ts: datetime
    equity: float
    cash: float
    positions_value: float
    halted_reason: str | None = None


@dataclass(frozen=True)
class RankingRecord:
    """One member's row of an arena ranking."""

    arena_id: str
    ts: datetime
    portfolio_id: str
    study_name: str
    trial_id: int
    rank: int
    sharpe: float | None
    promoted: bool
    psr: float | None = None
    sharpe_se: float | None = None
    n_returns: int | None = None


@runtime_checkable
class Ledger(Protocol):
    """Persistence of books, orders, fills, snapshots and rankings. Every write is idempotent."""

    def open_portfolio(
        self, portfolio_id: str, initial_cash: float, now: datetime, venue: str | None = None
    ) -> Book:
        """Creates the book with `initial_cash` (and its venue, fixed from then on: "broker" or
        "local") if it does not exist; returns the stored book."""
        ...

    def book(self, portfolio_id: str) -> Book:
        """The current book; ConfigError when the portfolio was never opened."""
        ...

    def set_position(self, portfolio_id: str, symbol: str, qty: float) -> None:
        """Overwrites one position (reconciliation with the broker's positions)."""
        ...

    def set_cash(self, portfolio_id: str, cash: float) -> None:
        """Overwrites the cash (reconciliation with the broker's account)."""
        ...

    def set_halt(self, portfolio_id: str, reason: str | None) -> None:
        """Persists a latched guard halt (None clears it)."""
        ...

    def record_intent(self, order: OrderRecord) -> OrderRecord:
        """Writes the order before submission; an existing client_order_id returns the stored one."""
        ...

    def record_decision(self, snapshot: SnapshotRecord, orders: list[OrderRecord]) -> bool:
        """Writes a decision atomically: the book's snapshot at the decision bar and every
        order intent it implies. False (and nothing written) if the snapshot already exists,
        so a restarted trader never decides the same bar twice."""
        ...

    def get_order(self, client_order_id: str) -> OrderRecord | None: ...

    def update_order(
        self, client_order_id: str, *, status: OrderStatus, broker_order_id: str | None = None
    ) -> None: ...

    def orders(self, portfolio_id: str) -> list[OrderRecord]:
        """All orders of the book in creation order."""
        ...

    def open_orders(self, portfolio_id: str) -> list[OrderRecord]: ...

    def record_fill(self, fill: FillRecord) -> bool:
        """Applies a fill to its order and book atomically; False if fill_key was already seen."""
        ...

    def fills(self, portfolio_id: str, since: datetime | None = None) -> list[FillRecord]:
        """Fills of the book in recording order, those with ts > since when given."""
        ...

    def record_fee(self, fee: FeeRecord) -> bool:
        """Books a broker-posted fee on its book atomically; False if fee_key was already seen."""
        ...

    def fees(self, portfolio_id: str) -> list[FeeRecord]:
        """Fees booked on the book, in recording order."""
        ...

    def add_snapshot(self, snapshot: SnapshotRecord) -> bool:
        """Stores the snapshot unless one exists for (portfolio_id, ts); True if stored."""
        ...

    def snapshots(self, portfolio_id: str, since: datetime | None = None) -> list[SnapshotRecord]:
        """Snapshots in time order, those with ts > since when given."""
        ...

    def add_ranking(self, rows: list[RankingRecord]) -> None:
        """Stores one ranking (rows share arena_id and ts); a repeated ts is ignored."""
        ...

    def latest_ranking(self, arena_id: str) -> list[RankingRecord]:
        """Rows of the newest ts for the arena, by rank."""
        ...


def apply_fill(
    book: Book, side: OrderSide, symbol: str, qty: float, price: float, fee: float
) -> Book:
    """The book after one fill (pure; see the module docstring for the arithmetic)."""
    positions = dict(book.positions)
    held = positions.get(symbol, 0.0)
    if side == OrderSide.BUY:
        positions[symbol] = held + (qty - fee)
        cash = book.cash - qty * price
    elif side == OrderSide.SELL:
        positions[symbol] = held - qty
        cash = book.cash + qty * price - fee
    else:
        raise ValueError(f"fill side must be 'buy' or 'sell', got {side!r}.")
    return replace(book, cash=cash, positions=positions)


def apply_fee(book: Book, fee: FeeRecord) -> Book:
    """The book after a broker-posted fee (pure): USD lowers cash, an asset its position."""
    if fee.asset == "USD":
        return replace(book, cash=book.cash - fee.amount)
    if fee.symbol is None:
        raise ValueError(f"fee {fee.fee_key!r} in {fee.asset} names no symbol.")
    positions = dict(book.positions)
    positions[fee.symbol] = positions.get(fee.symbol, 0.0) - fee.amount
    return replace(book, positions=positions)


def _unknown(portfolio_id: str) -> ConfigError:
    return ConfigError(
        f"portfolio {portfolio_id!r} is not in the ledger; open it with open_portfolio first."
    )


class InMemoryLedger:
    """A ledger in process memory: backtests, tests and the demo's arena books."""

    def __init__(self) -> None:
        self._books: dict[str, Book] = {}
        self._orders: dict[str, OrderRecord] = {}
        self._open: dict[str, dict[str, None]] = {}  # portfolio -> open order ids, in order
        self._fills: dict[str, FillRecord] = {}
        self._snapshots: dict[str, dict[datetime, SnapshotRecord]] = {}
        self._rankings: dict[str, dict[datetime, list[RankingRecord]]] = {}
        self._fees: dict[str, FeeRecord] = {}

    def open_portfolio(
        self, portfolio_id: str, initial_cash: float, now: datetime, venue: str | None = None
    ) -> Book:
        if portfolio_id not in self._books:
            self._books[portfolio_id] = Book(
                portfolio_id, initial_cash, initial_cash, token=new_book_token(), venue=venue
            )
        return self.book(portfolio_id)

    def book(self, portfolio_id: str) -> Book:
        if portfolio_id not in self._books:
            raise _unknown(portfolio_id)
        return copy.deepcopy(self._books[portfolio_id])

    def set_position(self, portfolio_id: str, symbol: str, qty: float) -> None:
        book = self.book(portfolio_id)
        self._books[portfolio_id] = replace(book, positions={**book.positions, symbol: qty})

    def set_cash(self, portfolio_id: str, cash: float) -> None:
        self._books[portfolio_id] = replace(self.book(portfolio_id), cash=cash)

    def set_halt(self, portfolio_id: str, reason: str | None) -> None:
        self._books[portfolio_id] = replace(self.book(portfolio_id), halted_reason=reason)

    def record_intent(self, order: OrderRecord) -> OrderRecord:
        self.book(order.portfolio_id)
        if order.client_order_id not in self._orders:
            self._orders[order.client_order_id] = order
            self._index(order)
        return self._orders[order.client_order_id]

    def _index(self, order: OrderRecord) -> None:
        open_ids = self._open.setdefault(order.portfolio_id, {})
        if order.status in OPEN_STATUSES:
            open_ids[order.client_order_id] = None
        else:
            open_ids.pop(order.client_order_id, None)

    def record_decision(self, snapshot: SnapshotRecord, orders: list[OrderRecord]) -> bool:
        self.book(snapshot.portfolio_id)
        if snapshot.ts in self._snapshots.get(snapshot.portfolio_id, {}):
            return False
        for order in orders:
            self.book(order.portfolio_id)
        self.add_snapshot(snapshot)
        for order in orders:
            self.record_intent(order)
        return True

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        return self._orders.get(client_order_id)

    def update_order(
        self, client_order_id: str, *, status: OrderStatus, broker_order_id: str | None = None
    ) -> None:
        order = self._orders[client_order_id]
        self._orders[client_order_id] = replace(
            order,
            status=OrderStatus(status),
            broker_order_id=broker_order_id or order.broker_order_id,
        )
        self._index(self._orders[client_order_id])

    def orders(self, portfolio_id: str) -> list[OrderRecord]:
        return [o for o in self._orders.values() if o.portfolio_id == portfolio_id]

    def open_orders(self, portfolio_id: str) -> list[OrderRecord]:
        """From an index of the open ones, as the SQL ledger's status index: never a scan of
        the order history."""
        return [self._orders[cid] for cid in self._open.get(portfolio_id, {})]

    def record_fill(self, fill: FillRecord) -> bool:
        if fill.fill_key in self._fills:
            return False
        order = self._orders[fill.client_order_id]
        book = self.book(order.portfolio_id)
        self._books[order.portfolio_id] = apply_fill(
            book, order.side, order.symbol, fill.qty, fill.price, fill.fee
        )
        self._orders[order.client_order_id] = replace(
            order,
            filled_qty=order.filled_qty + fill.qty,
            filled_notional=order.filled_notional + fill.qty * fill.price,
        )
        self._fills[fill.fill_key] = fill
        return True

    def record_fee(self, fee: FeeRecord) -> bool:
        if fee.fee_key in self._fees:
            return False
        self._books[fee.portfolio_id] = apply_fee(self.book(fee.portfolio_id), fee)
        self._fees[fee.fee_key] = fee
        return True

    def fees(self, portfolio_id: str) -> list[FeeRecord]:
        return [f for f in self._fees.values() if f.portfolio_id == portfolio_id]

    def fills(self, portfolio_id: str, since: datetime | None = None) -> list[FillRecord]:
        return [
            f
            for f in self._fills.values()
            if self._orders[f.client_order_id].portfolio_id == portfolio_id
            and (since is None or f.ts > since)
        ]

    def add_snapshot(self, snapshot: SnapshotRecord) -> bool:
        per_book = self._snapshots.setdefault(snapshot.portfolio_id, {})
        if snapshot.ts in per_book:
            return False
        per_book[snapshot.ts] = snapshot
        return True

    def snapshots(self, portfolio_id: str, since: datetime | None = None) -> list[SnapshotRecord]:
        rows = sorted(self._snapshots.get(portfolio_id, {}).values(), key=lambda s: s.ts)
        return [s for s in rows if since is None or s.ts > since]

    def add_ranking(self, rows: list[RankingRecord]) -> None:
        if not rows:
            return
        per_arena = self._rankings.setdefault(rows[0].arena_id, {})
        per_arena.setdefault(rows[0].ts, sorted(rows, key=lambda r: r.rank))

    def latest_ranking(self, arena_id: str) -> list[RankingRecord]:
        per_arena = self._rankings.get(arena_id, {})
        return list(per_arena[max(per_arena)]) if per_arena else []
