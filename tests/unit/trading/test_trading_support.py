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


def test_positions_state_shape_and_trades_history_appends(tmp_path: Path) -> None:
    entry = book_state(TS, 500.0, 1000.0, ["A/USD", "B/USD"], [2.0, 0.0], [250.0, 9.0], None)
    assert entry == {
        "timestamp": "2024-01-01T05:00:00+00:00",
        "cash": 500.0,
        "total_value": 1000.0,
        "initial_value": 1000.0,
        "halted": False,
        "halt_reason": None,
        "positions": {"A/USD": {"qty": 2.0, "price": 250.0, "value": 500.0, "weight": 0.5}},
    }
    write_positions_state(tmp_path, {"local/x": entry})
    assert json.loads((tmp_path / "positions_state.json").read_text()) == {"local/x": entry}
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
