"""State files, JSON logs and the retry decorator."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cappuccino_runtime.errors import BrokerError, TemporaryBrokerError
from cappuccino_runtime.trading.logs import JsonFormatter
from cappuccino_runtime.trading.retry import Backoff, retry_temporary
from cappuccino_runtime.trading.state_files import append_trades, book_state, write_positions_state

TS = datetime(2024, 1, 1, 5, tzinfo=UTC)


def test_positions_state_has_the_original_format(tmp_path: Path) -> None:
    entry = book_state(
        TS, 500.0, 1000.0, ["A/USD", "B/USD"], [2.0, 0.0], [250.0, 9.0], None,
        avg_entry=[200.0, None], portfolio_id="local/x",
    )  # fmt: skip
    assert entry == {
        "portfolio_value": 1000.0,
        "cash": 500.0,
        "positions": [
            {
                "ticker": "A/USD",
                "quantity": 2.0,
                "avg_entry": 200.0,
                "current_price": 250.0,
                "position_value": 500.0,
                "pnl_pct": 25.0,
                "weight": 0.5,
            }
        ],
        "timestamp": "2024-01-01T05:00:00+00:00",
        "portfolio_id": "local/x",
        "initial_value": 1000.0,
        "halted": False,
        "halt_reason": None,
    }
    write_positions_state(tmp_path, {"local/x": entry})  # one book: the file IS the portfolio
    assert json.loads((tmp_path / "positions_state.json").read_text()) == entry
    arena = tmp_path / "arena"
    write_positions_state(arena, {"a/1": entry, "a/2": entry})  # one file per book + an index
    assert json.loads((arena / "books" / "a__1" / "positions_state.json").read_text()) == entry
    assert set(json.loads((arena / "positions_state.json").read_text())) == {"a/1", "a/2"}
    append_trades(tmp_path, [{"client_order_id": "a"}])
    append_trades(tmp_path, [{"client_order_id": "b"}])
    history = json.loads((tmp_path / "trades_history.json").read_text())
    assert [t["client_order_id"] for t in history] == ["a", "b"]
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("cappuccino.trader", logging.INFO, "f", 1, "TRADE: %s", ("x",), None)
    record.portfolio_id = "local/x"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "TRADE: x" and line["portfolio_id"] == "local/x"
    assert line["level"] == "INFO" and line["logger"] == "cappuccino.trader"


def test_retry_retries_only_temporary_errors() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    @retry_temporary(Backoff(attempts=4, base=0.5, cap=1.0, sleep=sleeps.append))
    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TemporaryBrokerError("429")
        return "ok"

    assert flaky() == "ok" and sleeps == [0.5, 1.0]

    @retry_temporary(Backoff(attempts=4, sleep=sleeps.append))
    def refused() -> None:
        calls["n"] += 1
        raise BrokerError("insufficient balance")

    calls["n"] = 0
    with pytest.raises(BrokerError):
        refused()
    assert calls["n"] == 1

    @retry_temporary(Backoff(attempts=2, base=0.0, sleep=sleeps.append))
    def down() -> None:
        raise TemporaryBrokerError("503")

    with pytest.raises(TemporaryBrokerError):
        down()


def test_trades_history_is_appended_in_place_and_a_torn_tail_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "trades_history.json"
    append_trades(tmp_path, [{"fill_id": "a"}])
    inode = path.stat().st_ino
    append_trades(tmp_path, [{"fill_id": "b"}, {"fill_id": "c"}])
    assert path.stat().st_ino == inode  # appended to, not replaced by a rewritten copy
    assert [r["fill_id"] for r in json.loads(path.read_text())] == ["a", "b", "c"]
    # a kill in the middle of an append leaves a torn tail: the next append repairs it
    with path.open("rb+") as f:
        f.seek(0, 2)
        f.seek(f.tell() - 3)
        f.truncate()
        f.write(b',\n{"fill_id": "d", "pri')
    append_trades(tmp_path, [{"fill_id": "e"}])
    assert [r["fill_id"] for r in json.loads(path.read_text())] == ["a", "b", "c", "e"]
    from cappuccino_runtime.trading.state_files import recorded_fill_ids

    assert recorded_fill_ids(tmp_path) == {"a", "b", "c", "e"}


def test_reporter_catches_up_fills_the_file_missed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cappuccino_runtime.persistence import InMemoryLedger
    from cappuccino_runtime.persistence.ledger import FillRecord, OrderRecord
    from cappuccino_runtime.trading.ops import TraderMetrics
    from cappuccino_runtime.trading.reporter import Reporter

    ts = datetime(2024, 1, 1, tzinfo=UTC)
    ledger = InMemoryLedger()
    ledger.open_portfolio("p", 1000.0, ts)
    order = OrderRecord("c1", "p", "BTC/USD", "buy", 100.0, ts, ts, notional=100.0)
    ledger.record_intent(order)
    reporter = Reporter(TraderMetrics(), tmp_path, ["BTC/USD"])
    fill = FillRecord("c1:1.0", "c1", 1.0, 100.0, 0.0, ts)
    ledger.record_fill(fill)  # killed before the file append
    assert reporter.catch_up(ledger, ["p"]) == 1
    assert reporter.catch_up(ledger, ["p"]) == 0
    rows = json.loads((tmp_path / "trades_history.json").read_text())
    assert rows[0]["ticker"] == "BTC/USD" and rows[0]["fee_currency"] == "BTC"
    assert reporter.avg_entry("p", "BTC/USD", 1.0) == 100.0  # cost basis rebuilt from fills
