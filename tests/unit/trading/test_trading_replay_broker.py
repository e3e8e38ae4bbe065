"""ReplayBroker: the env's fill convention at the next open, clock, journal across restarts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.persistence.ledger import OrderSide
from cappuccino_runtime.trading.brokers.base import OrderRequest
from cappuccino_runtime.trading.brokers.replay import ReplayBroker


def _data() -> MarketData:
    idx = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    close = np.array([[100.0], [110.0], [120.0], [130.0]])
    opens = np.array([[99.0], [101.0], [111.0], [121.0]])
    return MarketData(
        index=idx,
        symbols=("X/USD",),
        timeframe="1h",
        open=opens,
        high=close + 1,
        low=opens - 1,
        close=close,
        volume=np.ones((4, 1)),
    )


def test_fills_at_next_open_with_slippage_and_fee_in_received_asset(tmp_path: Path) -> None:
    broker = ReplayBroker(_data(), start=0, fee_rate=0.01, slippage=0.001, initial_cash=1000.0)
    assert broker.now() == pd.Timestamp("2024-01-01T01:00Z").to_pydatetime()
    assert broker.history(("X/USD",), "1h", 5).close[:, 0].tolist() == [100.0]
    assert broker.fill_prices(("X/USD",)) == [101.0]
    buy = broker.submit(OrderRequest("b", "X/USD", OrderSide.BUY, notional=202.2, ref_price=101.0))
    assert buy.filled_avg_price == pytest.approx(101.0 * 1.001)
    assert buy.filled_qty == pytest.approx(202.2 / 101.101)
    assert broker.positions()["X/USD"] == pytest.approx(202.2 / 101.101 * 0.99)
    assert broker.cash() == pytest.approx(1000.0 - 202.2)
    assert broker.wait_next_poll(60) is True
    assert broker.fill_prices(("X/USD",)) == [111.0]
    sell = broker.submit(OrderRequest("s", "X/USD", OrderSide.SELL, qty=1.0, ref_price=111.0))
    assert sell.filled_avg_price == pytest.approx(111.0 * 0.999)
    assert broker.cash() == pytest.approx(1000.0 - 202.2 + 111.0 * 0.999 * 0.99)
    assert broker.wait_next_poll(60) is True
    assert broker.wait_next_poll(60) is True and not broker.can_trade()  # last bar: mark only
    assert broker.wait_next_poll(60) is False


def test_same_client_order_id_fills_once_and_journal_survives_restart(tmp_path: Path) -> None:
    journal = tmp_path / "orders.jsonl"
    first = ReplayBroker(_data(), start=0, fee_rate=0.0, slippage=0.0, journal=journal)
    req = OrderRequest("once", "X/USD", OrderSide.BUY, notional=101.0, ref_price=101.0)
    a = first.submit(req)
    assert first.submit(req) == a
    second = ReplayBroker(_data(), start=0, fee_rate=0.0, slippage=0.0, journal=journal)
    assert second.order("once") == a
    assert second.submit(req) == a
    assert second.positions() == {"X/USD": pytest.approx(1.0)}
    assert len(journal.read_text().splitlines()) == 1


def test_a_bar_forward_filled_over_an_outage_is_not_tradable_as_in_the_env() -> None:
    data = _data()
    data.volume[2, 0] = 0.0  # bar 2 was filled in over an outage: no market there
    broker = ReplayBroker(data, start=0, fee_rate=0.0, slippage=0.0)
    assert broker.fill_tradable(("X/USD",)) == [True]
    assert broker.wait_next_poll(60) is True
    assert broker.fill_tradable(("X/USD",)) == [False]
