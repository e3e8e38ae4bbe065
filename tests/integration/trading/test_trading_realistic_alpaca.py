"""The trader against the realistic fake Alpaca: asynchronous partial fills at bid/ask, CFEE
activities posted hours later, real asset minimums, injected faults; liveness; shared accounts."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from cappuccino_runtime.errors import DataUnavailable
from cappuccino_runtime.persistence import open_sql_ledger
from cappuccino_runtime.persistence.ledger import OrderSide
from cappuccino_runtime.trading.brokers.alpaca import AlpacaBroker
from cappuccino_runtime.trading.brokers.base import OrderFateUnknown, OrderRequest
from cappuccino_runtime.trading.executor import increment_price
from cappuccino_runtime.trading.ops import TraderMetrics, serve_ops
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.retry import Backoff
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import SYMBOLS, Clock, fake_alpaca_broker, make_slot, sample
from tests.support.fake_alpaca import FakeAlpaca, Fault, serve_app


@pytest.fixture
def world() -> Iterator[tuple[FakeAlpaca, Clock, str]]:
    clock = Clock()
    fake = FakeAlpaca.realistic(sample(1200), clock=lambda: pd.Timestamp(clock.now))
    fake.slow_seconds = 1.0
    with serve_app(fake.app()) as url:
        yield fake, clock, url


def _broker(url: str, clock: Clock, timeout_s: float = 0.5) -> AlpacaBroker:
    return fake_alpaca_broker(url, clock, timeout_s=timeout_s)


def _trader(
    url: str, clock: Clock, ledger_url: str, pid: str = "local/ensemble", **config: object
) -> Trader:
    data = sample(1200)
    slots = [make_slot(data, seed=s) for s in (1, 2, 3)]
    return Trader(
        ModelBank(slots),
        [BookPlan(pid, (0, 1, 2))],
        _broker(url, clock),
        open_sql_ledger(ledger_url),
        TraderConfig(poll_seconds=3600, read_back_positions=True, dead_band=0.0, **config),  # type: ignore[arg-type]
    )


def _settle(trader: Trader, clock: Clock, hours: int) -> None:
    """Stops new decisions (a latched halt) and polls on until fills and fees have posted."""
    for plan in trader.books:
        trader.ledger.set_halt(plan.portfolio_id, "test: session over")
    for _ in range(hours):
        clock.advance(3600)
        trader.step()


def test_paper_session_with_async_partial_fills_fees_and_faults_matches_the_broker(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    fake.faults += [
        Fault("POST", "/v2/orders", "lost"),
        Fault("GET", "/v2/orders:by_client_order_id", "hide"),
        Fault("GET", "/v2/orders:by_client_order_id", "hide"),
        Fault("GET", "/v2/orders:by_client_order_id", "hide"),
        Fault("POST", "/v2/orders", "429"),
        Fault("GET", "/v2/account/activities/CFEE", "500"),
        Fault("GET", "/v2/positions", "stall"),
        Fault("GET", "/v1beta3/crypto/us/latest/bars", "503"),
    ]
    trader = _trader(url, clock, f"sqlite:///{tmp_path / 'ledger.db'}", max_polls=10)
    trader.run()
    _settle(trader, clock, hours=6)
    assert fake.faults == []  # every injected fault happened
    pid = "local/ensemble"
    ledger = trader.ledger
    book = ledger.book(pid)
    # the ledger equals the broker: cash and every position (fees included)
    assert book.cash == pytest.approx(fake.cash, rel=1e-9, abs=1e-6)
    for symbol in SYMBOLS:
        broker_qty = fake.positions.get(symbol.replace("/", ""), 0.0)
        assert book.positions.get(symbol, 0.0) == pytest.approx(broker_qty, rel=1e-8, abs=1e-10)
    # 0 duplicate client_order_ids: every broker order is one of ours, once
    orders = {o.client_order_id: o for o in ledger.orders(pid)}
    assert set(fake.by_client_id) <= set(orders)
    assert len(fake.by_client_id) == len(fake.orders)
    # fills were asynchronous and partial, recorded per increment at the broker's prices
    fills = ledger.fills(pid)
    per_order: dict[str, list[float]] = {}
    for f in fills:
        per_order.setdefault(f.client_order_id, []).append(f.qty * f.price)
    assert any(len(v) > 1 for v in per_order.values()), "no order filled in increments"
    for cid, notionals in per_order.items():
        raw = fake.orders[fake.by_client_id[cid]]
        assert sum(notionals) == pytest.approx(raw["filled_qty"] * raw["filled_avg_price"])
    # the lost POST + lagging look-ups left an order unknown for a while, never rejected
    assert "rejected" not in {o.status for o in orders.values()}
    # fees came from the CFEE activities (posted hours after the fills), each booked once
    fees = ledger.fees(pid)
    assert len(fees) == len(fake.activities) > 0
    assert all(f.fee == 0.0 for f in fills)


def test_increment_price_is_per_increment_not_the_running_average() -> None:
    # 1 unit at 100, then 1 more at 110: the broker reports avg 105 for 2 units
    assert increment_price(1.0, 100.0, 2.0, 105.0) == pytest.approx(110.0)
    assert increment_price(0.0, 0.0, 1.0, 100.0) == pytest.approx(100.0)


def test_two_deployments_on_one_account_keep_separate_books(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    fake.fill_parts = 1
    fake.cfee_delay_s = 0.0
    # both folders are named `ensemble`: the same portfolio id, two ledgers, one account
    a = _trader(url, clock, f"sqlite:///{tmp_path / 'a.db'}", initial_cash=5_000.0)
    b = _trader(url, clock, f"sqlite:///{tmp_path / 'b.db'}", initial_cash=5_000.0)
    b.bank = ModelBank([make_slot(sample(1200), seed=s) for s in (7, 8, 9)])
    a.start()
    b.start()
    for _ in range(6):
        a.step()
        b.step()
        clock.advance(3600)
    for t in (a, b):
        _settle(t, clock, hours=0)
    for _ in range(3):
        a.step()
        b.step()
        clock.advance(3600)
    pid = "local/ensemble"
    ids_a = {o.client_order_id for o in a.ledger.orders(pid)}
    ids_b = {o.client_order_id for o in b.ledger.orders(pid)}
    assert ids_a and ids_b and not ids_a & ids_b
    assert set(fake.by_client_id) == ids_a | ids_b - {
        o.client_order_id
        for t in (a, b)
        for o in t.ledger.orders(pid)
        if o.status in ("skipped", "abandoned")
    }
    for t, ids in ((a, ids_a), (b, ids_b)):
        assert {f.client_order_id for f in t.ledger.fills(pid)} <= ids
    # together the two books are the account (each started with half of its cash)
    book_a, book_b = a.ledger.book(pid), b.ledger.book(pid)
    assert book_a.cash + book_b.cash == pytest.approx(fake.cash, abs=1e-6)
    for symbol in SYMBOLS:
        total = book_a.positions.get(symbol, 0.0) + book_b.positions.get(symbol, 0.0)
        held = fake.positions.get(symbol.replace("/", ""), 0.0)
        assert total == pytest.approx(held, rel=1e-8, abs=1e-10)


def test_a_stalled_poll_fails_liveness_and_every_call_times_out(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    fake.slow_seconds = 1.5
    trader = _trader(url, clock, f"sqlite:///{tmp_path / 'l.db'}", max_polls=2)
    trader.broker = _broker(url, clock, timeout_s=10.0)  # long enough to see the stall
    trader.executor.broker = trader.broker
    metrics = TraderMetrics()
    trader.metrics = metrics
    trader.reporter.metrics = metrics
    metrics.stall_after_s = 0.5  # stands for N poll intervals
    fake.faults.append(Fault("GET", "/v1beta3/crypto/us/bars", "stall"))
    server = serve_ops(metrics, 0, host="127.0.0.1")
    port = server.server_address[1]
    try:
        metrics.heartbeat()
        runner = threading.Thread(target=trader.run)
        runner.start()
        time.sleep(1.0)  # the first poll's bar fetch is stalled
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert caught.value.code == 503
        runner.join(timeout=60)
        assert not runner.is_alive()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        server.shutdown()
    # with the default short timeout the same stall is an error, never a hang
    fake.faults.append(Fault("GET", "/v1beta3/crypto/us/bars", "stall"))
    broker = _broker(url, clock, timeout_s=0.3)
    started = time.monotonic()
    broker.backoff = Backoff(attempts=1, base=0.0)
    with pytest.raises(DataUnavailable, match="timed out"):
        broker.history(SYMBOLS, "1h", 10)
    assert time.monotonic() - started < 5


def test_asset_lookup_is_encoded_and_a_raw_slash_is_a_404(
    world: tuple[FakeAlpaca, Clock, str],
) -> None:
    fake, clock, url = world
    assert requests.get(f"{url}/v2/assets/BTC/USD", timeout=5).status_code == 404
    assert requests.get(f"{url}/v2/assets/BTC%2FUSD", timeout=5).status_code == 200
    rules = _broker(url, clock).asset_rules("BTC/USD")
    assert (rules.min_order_size, rules.min_trade_increment) == (0.0001, 0.0001)
    assert ("GET", "/v2/assets/BTCUSD") in fake.requests


def test_duplicate_id_with_lagging_lookups_is_unknown_not_rejected(
    world: tuple[FakeAlpaca, Clock, str],
) -> None:
    fake, clock, url = world
    fake.faults += [Fault("POST", "/v2/orders", "lost")] + [
        Fault("GET", "/v2/orders:by_client_order_id", "hide") for _ in range(2)
    ]
    broker = _broker(url, clock)
    request = OrderRequest("c-1", "BTC/USD", OrderSide.BUY, notional=100.0, ref_price=4000.0)
    with pytest.raises(OrderFateUnknown):
        broker.submit(request)
    order = broker.order("c-1")  # later, the replica has caught up
    assert order is not None and order.status in ("pending_new", "accepted")
    assert order.filled_qty == 0.0
    # a different order under the same id is never adopted
    other = OrderRequest("c-1", "ETH/USD", OrderSide.BUY, notional=100.0, ref_price=300.0)
    with pytest.raises(Exception, match="different order"):
        broker.submit(other)


def test_open_orders_are_read_across_pages(world: tuple[FakeAlpaca, Clock, str]) -> None:
    fake, clock, url = world
    fake.cash = 1e7
    broker = _broker(url, clock)
    for i in range(1203):
        clock.advance(1)
        fake._submit(
            {
                "symbol": "BTC/USD",
                "side": "buy",
                "notional": 5.0,
                "time_in_force": "gtc",
                "client_order_id": f"p-{i}",
            }
        )
    open_ids = {o.client_order_id for o in broker.open_orders()}
    assert len(open_ids) == 1203


def test_an_arena_book_never_changes_venue_when_promoted(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    from cappuccino_runtime.persistence.ledger import RankingRecord

    fake, clock, url = world
    data = sample(1200)
    url_l = f"sqlite:///{tmp_path / 'arena.db'}"
    books = [BookPlan(f"local/arena/s:{i}", (i,), "s", i) for i in range(2)]

    def arena() -> Trader:
        return Trader(
            ModelBank([make_slot(data, seed=s) for s in (1, 2)]),
            books,
            _broker(url, clock),
            open_sql_ledger(url_l),
            TraderConfig(poll_seconds=3600, route="promoted", dead_band=0.0, max_polls=2),
            arena_id="local/arena",
        )

    first = arena()
    first.run()
    assert fake.post_requests == 0  # arena books on a live broker are filled locally
    traded = sum(len(first.ledger.fills(b.portfolio_id)) for b in books)
    assert traded > 0
    # a promotion (here written by hand) does not move a local book to the broker
    first.ledger.add_ranking(
        [
            RankingRecord("local/arena", clock.now, b.portfolio_id, "s", i, i + 1, 1.0, True)
            for i, b in enumerate(books)
        ]
    )
    clock.advance(3600)
    again = arena()
    again.run()
    assert fake.post_requests == 0 and again._routed == set()
    assert {b.venue for b in (again.ledger.book(p.portfolio_id) for p in books)} == {"local"}
