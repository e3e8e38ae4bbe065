"""One contract suite for every Ledger: in memory, SQL on SQLite, SQL on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence import (
    FillRecord,
    InMemoryLedger,
    Ledger,
    OrderRecord,
    RankingRecord,
    SnapshotRecord,
    SqlLedger,
    open_sql_ledger,
)
from cappuccino_runtime.persistence.ledger import OrderSide, OrderStatus

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
PID = "local/ens"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield InMemoryLedger()
        return
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    sql = open_sql_ledger(url)
    yield sql
    sql.engine.dispose()


def _order(cid: str, side: str = "buy", **kw: object) -> OrderRecord:
    fields: dict[str, object] = {
        "client_order_id": cid,
        "portfolio_id": PID,
        "symbol": "BTC/USD",
        "side": side,
        "ref_price": 20_000.0,
        "decision_ts": T0,
        "created_at": T0,
        "notional": 1_000.0 if side == "buy" else None,
        "qty": None if side == "buy" else 0.01,
    }
    fields.update(kw)
    return OrderRecord(**fields)  # type: ignore[arg-type]


def test_open_portfolio_is_idempotent(ledger: Ledger) -> None:
    book = ledger.open_portfolio(PID, 10_000.0, T0)
    assert (book.cash, book.initial_cash, book.positions) == (10_000.0, 10_000.0, {})
    ledger.set_cash(PID, 5.0)
    assert ledger.open_portfolio(PID, 10_000.0, T0).cash == 5.0
    with pytest.raises(ConfigError, match="not in the ledger"):
        ledger.book("local/other")


def test_intent_then_fills_update_the_book_with_fee_in_received_asset(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 10_000.0, T0)
    stored = ledger.record_intent(_order("c-buy"))
    assert stored.status == "intent" and ledger.open_orders(PID) == [stored]
    # buy 0.05 BTC at 20,000: cash -1000, BTC +0.05 - fee 0.000125
    assert ledger.record_fill(FillRecord("c-buy:1", "c-buy", 0.05, 20_000.0, 0.000125, T0))
    ledger.update_order("c-buy", status="filled", broker_order_id="b-1")
    book = ledger.book(PID)
    assert book.cash == pytest.approx(9_000.0)
    assert book.positions == {"BTC/USD": pytest.approx(0.049875)}
    # sell 0.02 at 21,000: cash +420 - fee 1.05 (quote)
    ledger.record_intent(_order("c-sell", side="sell", qty=0.02))
    assert ledger.record_fill(FillRecord("c-sell:1", "c-sell", 0.02, 21_000.0, 1.05, T0))
    book = ledger.book(PID)
    assert book.cash == pytest.approx(9_000.0 + 420.0 - 1.05)
    assert book.positions["BTC/USD"] == pytest.approx(0.029875)
    order = ledger.get_order("c-buy")
    assert order is not None
    assert (order.status, order.broker_order_id, order.filled_qty) == ("filled", "b-1", 0.05)
    assert [o.client_order_id for o in ledger.open_orders(PID)] == ["c-sell"]
    assert [f.fill_key for f in ledger.fills(PID)] == ["c-buy:1", "c-sell:1"]
    assert ledger.fills(PID, since=T0) == []
    assert len(ledger.fills(PID, since=T0 - timedelta(seconds=1))) == 2


def test_writes_are_idempotent(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 10_000.0, T0)
    first = ledger.record_intent(_order("c-1"))
    again = ledger.record_intent(_order("c-1", notional=5.0))
    assert again == first and len(ledger.orders(PID)) == 1
    fill = FillRecord("c-1:0.05", "c-1", 0.05, 20_000.0, 0.0, T0)
    assert ledger.record_fill(fill) is True
    assert ledger.record_fill(fill) is False
    assert ledger.book(PID).cash == pytest.approx(9_000.0)
    snap = SnapshotRecord(PID, T0, 10_000.0, 9_000.0, 1_000.0)
    assert ledger.add_snapshot(snap) is True
    assert ledger.add_snapshot(SnapshotRecord(PID, T0, 1.0, 1.0, 0.0)) is False
    assert ledger.snapshots(PID) == [snap]


def test_partial_fills_accumulate(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 10_000.0, T0)
    ledger.record_intent(_order("c-p", qty=0.04, notional=None))
    ledger.record_fill(FillRecord("c-p:0.01", "c-p", 0.01, 20_000.0, 0.0, T0))
    ledger.update_order("c-p", status="partially_filled")
    assert [o.client_order_id for o in ledger.open_orders(PID)] == ["c-p"]
    ledger.record_fill(FillRecord("c-p:0.04", "c-p", 0.03, 20_000.0, 0.0, T0))
    ledger.update_order("c-p", status="filled")
    order = ledger.get_order("c-p")
    assert order is not None and order.filled_qty == pytest.approx(0.04)
    assert ledger.open_orders(PID) == []
    assert ledger.book(PID).positions["BTC/USD"] == pytest.approx(0.04)


def test_positions_cash_and_halt_overwrite(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 100.0, T0)
    ledger.set_position(PID, "ETH/USD", 1.5)
    ledger.set_position(PID, "BTC/USD", 0.25)
    ledger.set_position(PID, "ETH/USD", 0.5)
    ledger.set_cash(PID, 42.0)
    ledger.set_halt(PID, "Kill switch: equity fell 40%.")
    book = ledger.book(PID)
    assert book.positions == {"ETH/USD": 0.5, "BTC/USD": 0.25}
    assert (book.cash, book.halted_reason) == (42.0, "Kill switch: equity fell 40%.")
    ledger.set_halt(PID, None)
    assert ledger.book(PID).halted_reason is None


def test_snapshots_in_time_order_since(ledger: Ledger) -> None:
    for i in (2, 0, 1):
        ledger.add_snapshot(SnapshotRecord(PID, T0 + timedelta(hours=i), 100.0 + i, 100.0, i))
    assert [s.equity for s in ledger.snapshots(PID)] == [100.0, 101.0, 102.0]
    assert [s.equity for s in ledger.snapshots(PID, since=T0)] == [101.0, 102.0]
    assert all(s.ts.tzinfo is not None for s in ledger.snapshots(PID))


def test_rankings_newest_ts_wins(ledger: Ledger) -> None:
    def rows(ts: datetime, order: list[str]) -> list[RankingRecord]:
        return [
            RankingRecord(
                "local/arena", ts, f"local/arena/s:{p}", "s", int(p), i + 1, 1.0 - i, i < 1
            )
            for i, p in enumerate(order)
        ]

    ledger.add_ranking(rows(T0, ["1", "2"]))
    ledger.add_ranking(rows(T0 + timedelta(hours=1), ["2", "1"]))
    ledger.add_ranking(rows(T0 + timedelta(hours=1), ["1", "2"]))  # same ts again: ignored
    latest = ledger.latest_ranking("local/arena")
    assert [(r.trial_id, r.rank, r.promoted) for r in latest] == [(2, 1, True), (1, 2, False)]
    assert latest[0].ts == T0 + timedelta(hours=1)
    assert ledger.latest_ranking("local/none") == []


def test_decision_writes_snapshot_and_intents_once(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 10_000.0, T0)
    snap = SnapshotRecord(PID, T0, 10_000.0, 10_000.0, 0.0)
    orders = [_order("d-1"), _order("d-2", symbol="ETH/USD")]
    assert ledger.record_decision(snap, orders) is True
    assert ledger.record_decision(snap, [*orders, _order("d-3")]) is False  # bar already decided
    assert [o.client_order_id for o in ledger.open_orders(PID)] == ["d-1", "d-2"]
    assert ledger.snapshots(PID) == [snap]


def test_side_and_status_are_enums_and_rows_keep_their_strings(ledger: Ledger) -> None:
    ledger.open_portfolio(PID, 10_000.0, T0)
    stored = ledger.record_intent(_order("c-enum", side="sell"))
    assert stored.side is OrderSide.SELL and stored.status is OrderStatus.INTENT
    ledger.update_order("c-enum", status=OrderStatus.FILLED)
    got = ledger.get_order("c-enum")
    assert got is not None and got.status is OrderStatus.FILLED and got.side is OrderSide.SELL
    assert ledger.open_orders(PID) == []
    if isinstance(ledger, SqlLedger):
        with ledger.engine.connect() as c:
            row = c.execute(
                text("SELECT side, status FROM orders WHERE client_order_id = 'c-enum'")
            ).one()
        assert tuple(row) == ("sell", "filled") and all(type(v) is str for v in row)
    with pytest.raises(ValueError, match="'hold' is not a valid OrderSide"):
        _order("c-bad", side="hold")
    with pytest.raises(ValueError, match="'done' is not a valid OrderStatus"):
        _order("c-bad", status="done")
