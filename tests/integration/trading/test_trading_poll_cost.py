"""A poll's cost grows with the books and their open orders, never with the order history.

Measured on the SQL ledger (SQLite and a real PostgreSQL) with SQLAlchemy events: the SQL
statements one poll sends and the ORM rows it loads are counted for a book whose history holds
5 filled orders and for the same book holding 5,000; they must be equal. A second test counts
how often a poll reads each book (its cash and positions) from the ledger: once, and once more
only after a fill moved it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cappuccino_contracts.risk import RiskSettings
from cappuccino_contracts.tables import Base, FillRow, OrderRow
from sqlalchemy import event, insert

from cappuccino_runtime.persistence import SqlLedger, open_sql_ledger
from cappuccino_runtime.persistence.ledger import Book, OrderStatus
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import make_slot, sample

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
OLD = datetime(2001, 1, 1, tzinfo=UTC)  # long before the replayed bars and any look-back
CONFIG = TraderConfig(dead_band=0.0, risk=RiskSettings(max_drawdown=1.0, max_loss_per_hour=1.0))


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _history(ledger: SqlLedger, pid: str, n: int) -> None:
    """`n` filled buy orders (one fill each) of the book, all long past."""
    orders = [
        {
            "client_order_id": f"{pid}-{i}",
            "portfolio_id": pid,
            "symbol": "BTC/USD",
            "side": "buy",
            "notional": Decimal(10),
            "ref_price": Decimal(100),
            "status": OrderStatus.FILLED.value,
            "filled_qty": Decimal("0.1"),
            "filled_notional": Decimal(10),
            "decision_ts": OLD + timedelta(hours=i),
            "created_at": OLD + timedelta(hours=i),
        }
        for i in range(n)
    ]
    fills = [
        {
            "fill_key": f"{pid}-{i}:0.1",
            "client_order_id": f"{pid}-{i}",
            "portfolio_id": pid,
            "symbol": "BTC/USD",
            "side": "buy",
            "qty": Decimal("0.1"),
            "price": Decimal(100),
            "fee": Decimal(0),
            "ts": OLD + timedelta(hours=i),
        }
        for i in range(n)
    ]
    with ledger.engine.begin() as c:
        c.execute(insert(OrderRow), orders)
        c.execute(insert(FillRow), fills)


@dataclass
class Cost:
    statements: int = 0
    rows: int = 0


@pytest.fixture
def orm_rows() -> Iterator[Cost]:
    """Counts every ORM row the ledger loads while the test runs."""
    cost = Cost()

    def loaded(*_: Any) -> None:
        cost.rows += 1

    event.listen(Base, "load", loaded, propagate=True)
    yield cost
    event.remove(Base, "load", loaded)


def _poll_cost(url: str, n_history: int, counter: Cost) -> Cost:
    data = sample(1300)
    ledger = open_sql_ledger(url)
    pid = f"local/cost-{n_history}"  # one database on PostgreSQL: a book per run
    try:
        ledger.open_portfolio(pid, 10_000.0, OLD)
        _history(ledger, pid, n_history)
        broker = ReplayBroker(data, start=1200, fee_rate=0.0025, slippage=5e-4)
        trader = Trader(
            ModelBank([make_slot(data, seed=4)]), [BookPlan(pid, (0,))], broker, ledger, CONFIG
        )
        trader.start()  # start-up reads the history once (trades_history catch-up)
        trader.step()  # the first decision: open book, no open orders yet
        assert broker.wait_next_poll(0.0)

        def sent(*_: Any) -> None:
            counter.statements += 1

        event.listen(ledger.engine, "before_cursor_execute", sent)
        counter.statements = counter.rows = 0
        trader.step()  # the measured poll: decide, record, submit, fill, report
        event.remove(ledger.engine, "before_cursor_execute", sent)
        assert trader.ledger.fills(pid, since=OLD + timedelta(days=3650)), "it must trade"
        return Cost(counter.statements, counter.rows)
    finally:
        ledger.engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_poll_costs_the_same_with_5_or_5000_filled_orders_in_the_history(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, orm_rows: Cost
) -> None:
    small = _poll_cost(_url(backend, tmp_path / "small", request), 5, orm_rows)
    (tmp_path / "large").mkdir()
    large = _poll_cost(_url(backend, tmp_path / "large", request), 5_000, orm_rows)
    print(f"\n{backend}: one poll = {small} with 5 filled orders, {large} with 5,000")
    assert small.statements > 0 and small.rows > 0
    assert large == small


class CountingLedger(SqlLedger):
    """The SQL ledger, counting the reads of a book (its cash and positions)."""

    reads: int = 0

    def book(self, portfolio_id: str) -> Book:
        self.reads += 1
        return super().book(portfolio_id)


def test_a_poll_reads_each_book_once_and_again_only_after_a_fill(tmp_path: Path) -> None:
    data = sample(1300)
    base = open_sql_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = CountingLedger(base.engine)
    books = [BookPlan(f"local/a/s:{i}", (i,), "s", i) for i in range(3)]
    slots = [make_slot(data, seed=10 + i) for i in range(3)]
    broker = ReplayBroker(data, start=1200, fee_rate=0.0025, slippage=5e-4)
    trader = Trader(ModelBank(slots), books, broker, ledger, CONFIG, arena_id="local/a")
    filled: set[str] = set()
    inner = trader.executor._on_fill

    def on_fill(order: Any, fill: Any) -> None:
        filled.add(order.portfolio_id)
        inner(order, fill)

    trader.executor._on_fill = on_fill
    trader.start()
    seen = []
    try:
        for _ in range(12):
            ledger.reads = 0
            filled.clear()
            trader.step()
            seen.append((ledger.reads, len(filled)))
            assert ledger.reads == len(books) + len(filled), seen
            if not broker.wait_next_poll(0.0):
                break
    finally:
        base.engine.dispose()
    print(f"\n(book reads, books filled) per poll: {seen}")
    assert any(n < len(books) for _, n in seen), "some poll must leave a book unfilled"
