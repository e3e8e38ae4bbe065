"""SqlLedger: the Ledger interface on SQLAlchemy 2 (SQLite locally, PostgreSQL in a cluster).

Each method runs in its own transaction from the injected sessionmaker; a fill updates the
order, the fill table and the book in one transaction, so a crash never leaves half a fill.
Database errors are translated at the call site: unreachable -> StorageUnavailable (retried by
callers), anything else propagates as a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import ParamSpec, TypeVar

from cappuccino_contracts.tables import (
    ArenaRankingRow,
    FeeRow,
    FillRow,
    OrderRow,
    PortfolioRow,
    PortfolioSnapshotRow,
    PositionRow,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cappuccino_runtime.errors import ConfigError, StorageUnavailable
from cappuccino_runtime.persistence.base import from_decimal, to_decimal
from cappuccino_runtime.persistence.ledger import (
    OPEN_STATUSES,
    Book,
    FeeRecord,
    FillRecord,
    OrderRecord,
    OrderSide,
    OrderStatus,
    RankingRecord,
    SnapshotRecord,
    apply_fee,
    apply_fill,
    new_book_token,
)

__all__ = ["SqlLedger"]

P = ParamSpec("P")
R = TypeVar("R")


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OperationalError as e:
            raise StorageUnavailable(
                f"The trading ledger could not complete {fn.__name__} because the database is "
                f"unreachable or busy: {e.orig}"
            ) from e

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _order(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_order_id=row.client_order_id,
        portfolio_id=row.portfolio_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        ref_price=from_decimal(row.ref_price),
        decision_ts=row.decision_ts,
        created_at=row.created_at,
        qty=None if row.qty is None else from_decimal(row.qty),
        notional=None if row.notional is None else from_decimal(row.notional),
        status=OrderStatus(row.status),
        broker_order_id=row.broker_order_id,
        filled_qty=from_decimal(row.filled_qty),
        filled_notional=from_decimal(row.filled_notional),
    )


def _order_row(order: OrderRecord) -> OrderRow:
    return OrderRow(
        client_order_id=order.client_order_id,
        portfolio_id=order.portfolio_id,
        symbol=order.symbol,
        side=order.side.value,
        qty=None if order.qty is None else to_decimal(order.qty),
        notional=None if order.notional is None else to_decimal(order.notional),
        ref_price=to_decimal(order.ref_price),
        status=order.status.value,
        broker_order_id=order.broker_order_id,
        filled_qty=to_decimal(order.filled_qty),
        filled_notional=to_decimal(order.filled_notional),
        decision_ts=order.decision_ts,
        created_at=order.created_at,
    )


def _snapshot_row(snapshot: SnapshotRecord) -> PortfolioSnapshotRow:
    return PortfolioSnapshotRow(
        portfolio_id=snapshot.portfolio_id,
        ts=snapshot.ts,
        equity=to_decimal(snapshot.equity),
        cash=to_decimal(snapshot.cash),
        positions_value=to_decimal(snapshot.positions_value),
        halted_reason=snapshot.halted_reason,
    )


class SqlLedger:
    """Ledger on a migrated database (call `persistence.migrate.upgrade(engine)` first)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @staticmethod
    def _portfolio(session: Session, portfolio_id: str) -> PortfolioRow:
        row = session.get(PortfolioRow, portfolio_id)
        if row is None:
            raise ConfigError(
                f"portfolio {portfolio_id!r} is not in the ledger; open it with open_portfolio "
                "first."
            )
        return row

    @staticmethod
    def _book(session: Session, row: PortfolioRow) -> Book:
        positions = session.scalars(
            select(PositionRow).where(PositionRow.portfolio_id == row.portfolio_id)
        )
        return Book(
            portfolio_id=row.portfolio_id,
            initial_cash=from_decimal(row.initial_cash),
            cash=from_decimal(row.cash),
            positions={p.symbol: from_decimal(p.qty) for p in positions},
            halted_reason=row.halted_reason,
            token=row.book_token or "",
            venue=row.venue,
        )

    @staticmethod
    def _write_book(session: Session, row: PortfolioRow, book: Book) -> None:
        row.cash = to_decimal(book.cash)
        for symbol, qty in book.positions.items():
            position = session.get(PositionRow, (row.portfolio_id, symbol))
            if position is None:
                session.add(
                    PositionRow(portfolio_id=row.portfolio_id, symbol=symbol, qty=to_decimal(qty))
                )
            else:
                position.qty = to_decimal(qty)

    @_translated
    def open_portfolio(
        self, portfolio_id: str, initial_cash: float, now: datetime, venue: str | None = None
    ) -> Book:
        try:
            with self._tx() as s:
                if s.get(PortfolioRow, portfolio_id) is None:
                    s.add(
                        PortfolioRow(
                            portfolio_id=portfolio_id,
                            initial_cash=to_decimal(initial_cash),
                            cash=to_decimal(initial_cash),
                            book_token=new_book_token(),
                            venue=venue,
                            created_at=now,
                        )
                    )
        except IntegrityError:
            pass  # opened concurrently by another process: the stored book wins
        return self.book(portfolio_id)

    @_translated
    def book(self, portfolio_id: str) -> Book:
        with self._tx() as s:
            return self._book(s, self._portfolio(s, portfolio_id))

    @_translated
    def set_position(self, portfolio_id: str, symbol: str, qty: float) -> None:
        with self._tx() as s:
            row = self._portfolio(s, portfolio_id)
            book = self._book(s, row)
            self._write_book(s, row, Book(**{**book.__dict__, "positions": {symbol: qty}}))

    @_translated
    def set_cash(self, portfolio_id: str, cash: float) -> None:
        with self._tx() as s:
            self._portfolio(s, portfolio_id).cash = to_decimal(cash)

    @_translated
    def set_halt(self, portfolio_id: str, reason: str | None) -> None:
        with self._tx() as s:
            self._portfolio(s, portfolio_id).halted_reason = reason

    @_translated
    def record_intent(self, order: OrderRecord) -> OrderRecord:
        existing = self.get_order(order.client_order_id)
        if existing is not None:
            return existing
        try:
            with self._tx() as s:
                self._portfolio(s, order.portfolio_id)
                s.add(_order_row(order))
        except IntegrityError:
            pass  # the same id was written concurrently; the stored order wins
        stored = self.get_order(order.client_order_id)
        assert stored is not None
        return stored

    @_translated
    def record_decision(self, snapshot: SnapshotRecord, orders: list[OrderRecord]) -> bool:
        return self._insert_snapshot(snapshot, orders, require_portfolio=True)

    @_translated
    def get_order(self, client_order_id: str) -> OrderRecord | None:
        with self._tx() as s:
            row = s.scalar(select(OrderRow).where(OrderRow.client_order_id == client_order_id))
            return None if row is None else _order(row)

    @_translated
    def update_order(
        self, client_order_id: str, *, status: OrderStatus, broker_order_id: str | None = None
    ) -> None:
        with self._tx() as s:
            row = s.scalar(select(OrderRow).where(OrderRow.client_order_id == client_order_id))
            if row is None:
                raise ConfigError(f"order {client_order_id!r} is not in the ledger.")
            row.status = OrderStatus(status).value
            if broker_order_id:
                row.broker_order_id = broker_order_id

    @_translated
    def orders(self, portfolio_id: str) -> list[OrderRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(OrderRow).where(OrderRow.portfolio_id == portfolio_id).order_by(OrderRow.id)
            )
            return [_order(r) for r in rows]

    @_translated
    def open_orders(self, portfolio_id: str) -> list[OrderRecord]:
        """Open orders only, through the (portfolio_id, status) index: the cost of a poll grows
        with the open orders, not with the book's order history."""
        with self._tx() as s:
            rows = s.scalars(
                select(OrderRow)
                .where(
                    OrderRow.portfolio_id == portfolio_id,
                    OrderRow.status.in_(sorted(s.value for s in OPEN_STATUSES)),
                )
                .order_by(OrderRow.id)
            )
            return [_order(r) for r in rows]

    @_translated
    def record_fill(self, fill: FillRecord) -> bool:
        try:
            with self._tx() as s:
                if s.scalar(select(FillRow.id).where(FillRow.fill_key == fill.fill_key)):
                    return False
                order = s.scalar(
                    select(OrderRow).where(OrderRow.client_order_id == fill.client_order_id)
                )
                if order is None:
                    raise ConfigError(
                        f"fill {fill.fill_key!r} names order {fill.client_order_id!r}, which is "
                        "not in the ledger; intents are recorded before submission."
                    )
                row = self._portfolio(s, order.portfolio_id)
                book = apply_fill(
                    self._book(s, row),
                    OrderSide(order.side),
                    order.symbol,
                    fill.qty,
                    fill.price,
                    fill.fee,
                )
                self._write_book(s, row, book)
                order.filled_qty = to_decimal(from_decimal(order.filled_qty) + fill.qty)
                order.filled_notional = to_decimal(
                    from_decimal(order.filled_notional) + fill.qty * fill.price
                )
                s.add(
                    FillRow(
                        fill_key=fill.fill_key,
                        client_order_id=fill.client_order_id,
                        portfolio_id=order.portfolio_id,
                        symbol=order.symbol,
                        side=order.side,
                        qty=to_decimal(fill.qty),
                        price=to_decimal(fill.price),
                        fee=to_decimal(fill.fee),
                        ts=fill.ts,
                    )
                )
            return True
        except IntegrityError:
            return False

    @_translated
    def fills(self, portfolio_id: str, since: datetime | None = None) -> list[FillRecord]:
        query = select(FillRow).where(FillRow.portfolio_id == portfolio_id)
        if since is not None:
            query = query.where(FillRow.ts > since)
        with self._tx() as s:
            rows = s.scalars(query.order_by(FillRow.id))
            return [
                FillRecord(
                    fill_key=r.fill_key,
                    client_order_id=r.client_order_id,
                    qty=from_decimal(r.qty),
                    price=from_decimal(r.price),
                    fee=from_decimal(r.fee),
                    ts=r.ts,
                )
                for r in rows
            ]

    @_translated
    def record_fee(self, fee: FeeRecord) -> bool:
        try:
            with self._tx() as s:
                if s.scalar(select(FeeRow.id).where(FeeRow.fee_key == fee.fee_key)):
                    return False
                row = self._portfolio(s, fee.portfolio_id)
                self._write_book(s, row, apply_fee(self._book(s, row), fee))
                s.add(
                    FeeRow(
                        fee_key=fee.fee_key,
                        portfolio_id=fee.portfolio_id,
                        symbol=fee.symbol,
                        asset=fee.asset,
                        amount=to_decimal(fee.amount),
                        ts=fee.ts,
                    )
                )
            return True
        except IntegrityError:
            return False

    @_translated
    def fees(self, portfolio_id: str) -> list[FeeRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(FeeRow).where(FeeRow.portfolio_id == portfolio_id).order_by(FeeRow.id)
            )
            return [
                FeeRecord(
                    fee_key=r.fee_key,
                    portfolio_id=r.portfolio_id,
                    symbol=r.symbol,
                    asset=r.asset,
                    amount=from_decimal(r.amount),
                    ts=r.ts,
                )
                for r in rows
            ]

    @_translated
    def add_snapshot(self, snapshot: SnapshotRecord) -> bool:
        return self._insert_snapshot(snapshot, [], require_portfolio=False)

    def _insert_snapshot(
        self, snapshot: SnapshotRecord, orders: list[OrderRecord], *, require_portfolio: bool
    ) -> bool:
        """Writes a snapshot (and its order intents) in one transaction, once per (book, ts):
        False when that bar was already recorded, so a replayed decision is a no-op."""
        try:
            with self._tx() as s:
                if require_portfolio:
                    self._portfolio(s, snapshot.portfolio_id)
                exists = s.scalar(
                    select(PortfolioSnapshotRow.id).where(
                        PortfolioSnapshotRow.portfolio_id == snapshot.portfolio_id,
                        PortfolioSnapshotRow.ts == snapshot.ts,
                    )
                )
                if exists:
                    return False
                s.add(_snapshot_row(snapshot))
                s.add_all(_order_row(o) for o in orders)
            return True
        except IntegrityError:
            return False

    @_translated
    def snapshots(self, portfolio_id: str, since: datetime | None = None) -> list[SnapshotRecord]:
        query = select(PortfolioSnapshotRow).where(
            PortfolioSnapshotRow.portfolio_id == portfolio_id
        )
        if since is not None:
            query = query.where(PortfolioSnapshotRow.ts > since)
        with self._tx() as s:
            return [
                SnapshotRecord(
                    portfolio_id=r.portfolio_id,
                    ts=r.ts,
                    equity=from_decimal(r.equity),
                    cash=from_decimal(r.cash),
                    positions_value=from_decimal(r.positions_value),
                    halted_reason=r.halted_reason,
                )
                for r in s.scalars(query.order_by(PortfolioSnapshotRow.ts))
            ]

    @_translated
    def add_ranking(self, rows: list[RankingRecord]) -> None:
        if not rows:
            return
        try:
            with self._tx() as s:
                exists = s.scalar(
                    select(func.count(ArenaRankingRow.id)).where(
                        ArenaRankingRow.arena_id == rows[0].arena_id,
                        ArenaRankingRow.ts == rows[0].ts,
                    )
                )
                if exists:
                    return
                s.add_all(ArenaRankingRow(**r.__dict__) for r in rows)
        except IntegrityError:
            return

    @_translated
    def latest_ranking(self, arena_id: str) -> list[RankingRecord]:
        with self._tx() as s:
            newest = s.scalar(
                select(func.max(ArenaRankingRow.ts)).where(ArenaRankingRow.arena_id == arena_id)
            )
            if newest is None:
                return []
            rows = s.scalars(
                select(ArenaRankingRow)
                .where(ArenaRankingRow.arena_id == arena_id, ArenaRankingRow.ts == newest)
                .order_by(ArenaRankingRow.rank)
            )
            return [
                RankingRecord(
                    arena_id=r.arena_id,
                    ts=r.ts,
                    portfolio_id=r.portfolio_id,
                    study_name=r.study_name,
                    trial_id=r.trial_id,
                    rank=r.rank,
                    sharpe=r.sharpe,
                    promoted=r.promoted,
                    psr=r.psr,
                    sharpe_se=r.sharpe_se,
                    n_returns=r.n_returns,
                )
                for r in rows
            ]
