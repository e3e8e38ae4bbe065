"""The trader on AlpacaBroker against the fake server: orders, read-back, faults, restart, guards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence import open_sql_ledger
from cappuccino_runtime.trading.guards import GuardKind
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import Clock, fake_alpaca_broker, make_slot, sample
from tests.support.fake_alpaca import FakeAlpaca, Fault, serve_app

BOOK = BookPlan("local/live", (0, 1, 2))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeAlpaca, Clock, str]]:
    clock = Clock()
    fake = FakeAlpaca(data=sample(1200), clock=lambda: pd.Timestamp(clock.now), cash=10_000.0)
    with serve_app(fake.app()) as url:
        yield fake, clock, url


def _trader(url: str, clock: Clock, ledger_url: str, data, **config: object) -> Trader:  # type: ignore[no-untyped-def]
    broker = fake_alpaca_broker(url, clock, attempts=4)
    slots = [make_slot(data, seed=s) for s in (1, 2, 3)]
    return Trader(
        ModelBank(slots),
        [BOOK],
        broker,
        open_sql_ledger(ledger_url),
        TraderConfig(poll_seconds=3600, read_back_positions=True, dead_band=0.0, **config),  # type: ignore[arg-type]
    )


def test_ensemble_trades_on_alpaca_and_a_restart_duplicates_nothing(
    world, tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    fake, clock, url = world
    data = sample(1200)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fake.faults += [Fault("POST", "/v2/orders", "lost"), Fault("POST", "/v2/orders", "429")]
    first = _trader(url, clock, ledger_url, data, max_polls=6)
    first.run()
    assert fake.faults == []  # the lost response and the 429 both happened
    ledger = first.ledger
    orders = ledger.orders(BOOK.portfolio_id)
    assert orders and len(fake.orders) == len([o for o in orders if o.status == "filled"])
    assert {o.client_order_id for o in orders} >= set(fake.by_client_id)
    # the book equals the broker: fills per increment, fees booked from the CFEE activities
    book = ledger.book(BOOK.portfolio_id)
    for symbol, qty in fake.positions.items():
        assert book.positions[symbol[:3] + "/USD"] == pytest.approx(qty)
    # restart within the same bar: every bar already decided; nothing is sent again. Units
    # that left the account while the trader was down are NOT copied into the book (the
    # account may be shared); the difference is reported and sells are capped at what it holds
    clock.now -= timedelta(hours=1)
    posts = fake.post_requests
    eth = book.positions["ETH/USD"]
    fake.positions["ETHUSD"] = 1.5
    again = _trader(url, clock, ledger_url, data, max_polls=1)
    with caplog.at_level("WARNING", logger="cappuccino.trader"):
        again.run()
    assert fake.post_requests == posts
    assert len(again.ledger.orders(BOOK.portfolio_id)) == len(orders)
    assert again.ledger.book(BOOK.portfolio_id).positions["ETH/USD"] == eth
    assert any("holds less than" in r.getMessage() for r in caplog.records)
    assert again.account.sellable(BOOK.portfolio_id, "ETH/USD") == pytest.approx(1.5)


def test_stale_data_halts_and_says_why(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, clock, url = world
    data = sample(1200)
    trader = _trader(
        url,
        clock,
        f"sqlite:///{tmp_path / 'l.db'}",
        data,
        max_polls=1,
        risk=RiskSettings(stale_data_seconds=10),
    )
    trader.run()  # the newest bar closed 30 s ago: stale for a 10 s limit
    status = trader.guard_status[BOOK.portfolio_id]
    assert status.halted and status.kind is GuardKind.STALE_DATA
    assert "stale" in (status.reason or "")
    assert fake.post_requests == 0
    snap = trader.ledger.snapshots(BOOK.portfolio_id)[-1]
    assert snap.halted_reason == status.reason  # persisted with the snapshot
    assert trader.metrics.halted.labels(BOOK.portfolio_id)._value.get() == 1.0


def test_rejected_orders_are_recorded_and_trading_carries_on(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, clock, url = world
    fake.cash = 5.0  # a fresh 10,000 book does not fit in the account: a clear refusal
    trader = _trader(url, clock, f"sqlite:///{tmp_path / 'r.db'}", sample(1200), max_polls=3)
    with pytest.raises(ConfigError, match=r"has \$5.00 cash, less than the \$10,000.00"):
        trader.start()
    # the account refuses every order (a non-temporary error): each is recorded as rejected
    fake.cash = 10_000.0
    fake.faults += [Fault("POST", "/v2/orders", "404") for _ in range(100)]
    assert trader.run() == 3
    orders = trader.ledger.orders(BOOK.portfolio_id)
    assert orders and {o.status for o in orders} <= {"rejected", "skipped"}
    assert "rejected" in {o.status for o in orders}
    assert fake.orders == {} and trader.ledger.fills(BOOK.portfolio_id) == []
    assert len(trader.ledger.snapshots(BOOK.portfolio_id)) == 3


def test_buys_are_capped_at_the_cash_the_account_holds(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, clock, url = world
    trader = _trader(url, clock, f"sqlite:///{tmp_path / 'c.db'}", sample(1200), max_polls=2)
    trader.start()
    fake.cash = 40.0  # the account's cash went elsewhere after the start
    trader.start = lambda: None  # type: ignore[method-assign]
    trader.run()
    orders = trader.ledger.orders(BOOK.portfolio_id)
    assert "rejected" not in {o.status for o in orders}  # never a 403 insufficient balance
    spent = sum(o["notional"] or 0.0 for o in fake.orders.values() if o["side"] == "buy")
    assert 0.0 < spent <= 40.0 + 1e-9
