"""Arena routing on the fake Alpaca (the real alpaca-py client): promotion opens a routed book.

A member's own book stays local; promotion opens `<member>/routed` on the broker, which mirrors
the member's targets; demotion winds it down to cash; sells never exceed what the account holds
for it; a restart continues it without duplicate orders; a book that does not fit is not opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from cappuccino_runtime.persistence import open_sql_ledger
from cappuccino_runtime.persistence.ledger import Ledger, OrderSide
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.routing import routed_portfolio_id
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import Clock, fake_alpaca_broker, make_slot, sample
from tests.support.fake_alpaca import FakeAlpaca, serve_app

ARENA = "local/arena"
MEMBERS = [BookPlan(f"{ARENA}/s:{seed}", (i,), "s", seed) for i, seed in enumerate((3, 7))]
MEMBER_IDS = {m.portfolio_id for m in MEMBERS}
DATA = sample(1500)  # bars up to 12 days after T0
# promotion after 2 hourly returns; the best member enters (PSR >= 0) and, with 2 members and
# top_k 1, keeps its place (rank <= top_k + 1, PSR >= 0): exactly one member is promoted
PROMOTE = {"min_eval_hours": 3.0, "enter_psr": 0.0, "exit_psr": 0.0, "top_k": 1}
DEMOTE = {**PROMOTE, "top_k": 0}


@pytest.fixture
def world() -> Iterator[tuple[FakeAlpaca, Clock, str]]:
    clock = Clock()
    fake = FakeAlpaca(data=DATA, clock=lambda: pd.Timestamp(clock.now), cash=10_000.0)
    with serve_app(fake.app()) as url:
        yield fake, clock, url


def _arena(
    url: str, clock: Clock, ledger_url: str, state_dir: Path | None = None, **config: object
) -> Trader:
    broker = fake_alpaca_broker(url, clock)
    return Trader(
        ModelBank([make_slot(DATA, seed=m.trial_id) for m in MEMBERS]),
        MEMBERS,
        broker,
        open_sql_ledger(ledger_url),
        TraderConfig(poll_seconds=3600, route="promoted", dead_band=0.0, **config),  # type: ignore[arg-type]
        arena_id=ARENA,
        state_dir=state_dir,
    )


def _promoted(ledger: Ledger) -> set[str]:
    return {r.portfolio_id for r in ledger.latest_ranking(ARENA) if r.promoted}


def _sent(fake: FakeAlpaca) -> set[str]:
    return set(fake.by_client_id)


def _weights(ledger: Ledger, pid: str, fake: FakeAlpaca) -> list[float]:
    book = ledger.book(pid)
    values = [book.positions.get(s, 0.0) * fake.price(s) for s in ("BTC/USD", "ETH/USD")]
    return [v / (book.cash + sum(values)) for v in values]


def test_promotion_opens_a_routed_book_whose_orders_reach_the_account(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    trader = _arena(url, clock, f"sqlite:///{tmp_path / 'a.db'}", tmp_path, max_polls=8, **PROMOTE)
    trader.run()
    ledger = trader.ledger
    (member,) = _promoted(ledger)
    routed = routed_portfolio_id(member)
    assert trader._routed == {routed}
    assert ledger.book(routed).venue == "broker"
    assert {ledger.book(m).venue for m in MEMBER_IDS} == {"local"}
    # every order the account received is the routed book's; the members never sent one
    routed_ids = {o.client_order_id for o in ledger.orders(routed)}
    assert _sent(fake) and _sent(fake) <= routed_ids
    for m in MEMBER_IDS:
        assert ledger.fills(m)  # the members trade, locally
        assert not {o.client_order_id for o in ledger.orders(m)} & _sent(fake)
    # the routed book is the account's only holder: its units are the account's
    book = ledger.book(routed)
    for symbol, qty in fake.positions.items():
        assert book.positions[symbol[:3] + "/USD"] == pytest.approx(qty)
    assert book.initial_cash == 10_000.0
    # opened at the ranking that promoted the member, it trades from the next bar on and holds
    # what its member holds (the member's target weights of every bar since)
    assert len(ledger.snapshots(member)) > len(ledger.snapshots(routed)) >= 2
    first = ledger.snapshots(routed)[0].ts
    assert all(o.decision_ts >= first for o in ledger.orders(routed))
    assert _weights(ledger, routed, fake) == pytest.approx(_weights(ledger, member, fake), abs=0.02)
    # the ranking ranks members only; routed books are reported like the others
    assert {r.portfolio_id for r in ledger.latest_ranking(ARENA)} == MEMBER_IDS
    state = json.loads((tmp_path / "positions_state.json").read_text())
    assert set(state) >= MEMBER_IDS | {routed}
    assert trader.metrics.equity.labels(routed)._value.get() > 0
    history = json.loads((tmp_path / "trades_history.json").read_text())
    assert {t["client_order_id"] for t in history if t["portfolio_id"] == routed} == {
        o.client_order_id for o in ledger.orders(routed) if o.filled_qty > 0
    }


def _hold(trader: Trader, fake: FakeAlpaca, clock: Clock, polls: int = 40) -> str:
    """Polls until a routed book holds more than $1,000 of assets; returns its id."""
    trader.start()
    for _ in range(polls):
        trader.step()
        for routed in trader._routed:
            book = trader.ledger.book(routed)
            if sum(q * fake.price(s) for s, q in book.positions.items()) > 1_000:
                return routed
        clock.advance(3600)
    pytest.fail("no routed book came to hold assets")


def _value(ledger: Ledger, pid: str, fake: FakeAlpaca) -> float:
    return sum(q * fake.price(s) for s, q in ledger.book(pid).positions.items())


def test_demotion_winds_the_routed_book_down_and_no_buy_follows(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    ledger_url = f"sqlite:///{tmp_path / 'b.db'}"
    routed = _hold(_arena(url, clock, ledger_url, **PROMOTE), fake, clock)
    ledger = open_sql_ledger(ledger_url)
    last = ledger.snapshots(routed)[-1].ts
    # the arena is changed to promote nobody: the member is demoted by the ranking of the next
    # bar (which its routed book still mirrors); from the bar after, the routed book only sells
    clock.advance(3600)
    second = _arena(url, clock, ledger_url, max_polls=4, **DEMOTE)
    second.run()
    assert _promoted(ledger) == set()
    assert second._routed == {routed}  # still a broker book, winding down
    after = [o for o in ledger.orders(routed) if o.decision_ts > last + timedelta(hours=1)]
    assert after and all(o.side is OrderSide.SELL for o in after)
    assert any(o.filled_qty > 0 for o in after)
    assert _value(ledger, routed, fake) < 2.0  # flat (at most dust below the $1 minimum)
    assert sum(q * fake.price(s[:3] + "/USD") for s, q in fake.positions.items()) < 2.0
    # the members' books never changed venue and never sent an order
    assert {ledger.book(m).venue for m in MEMBER_IDS} == {"local"}
    for m in MEMBER_IDS:
        assert not {o.client_order_id for o in ledger.orders(m)} & _sent(fake)
    # it keeps being marked and reported, and never trades again
    snaps, posts = len(ledger.snapshots(routed)), fake.post_requests
    clock.advance(3600)
    _arena(url, clock, ledger_url, max_polls=3, **DEMOTE).run()
    assert len(ledger.snapshots(routed)) == snaps + 3
    assert fake.post_requests == posts


def test_sells_never_exceed_what_the_account_holds_for_the_routed_book(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    ledger_url = f"sqlite:///{tmp_path / 'c.db'}"
    foreign = {"BTCUSD": 0.5, "ETHUSD": 7.0}  # another deployment's units in the same account
    fake.positions.update(foreign)
    routed = _hold(_arena(url, clock, ledger_url, **PROMOTE), fake, clock)
    ledger = open_sql_ledger(ledger_url)
    held = ledger.book(routed).positions
    for key, units in foreign.items():
        assert fake.positions[key] == pytest.approx(units + held.get(key[:3] + "/USD", 0.0))
    # the routed book winds down: it sells its own units, never the other deployment's
    clock.advance(3600)
    _arena(url, clock, ledger_url, max_polls=4, **DEMOTE).run()
    assert _value(ledger, routed, fake) < 2.0
    for key, units in foreign.items():
        assert fake.positions[key] == pytest.approx(units, abs=1e-6)
    assert "rejected" not in {o.status for o in ledger.orders(routed)}


def test_sells_are_capped_when_the_account_holds_less_than_the_routed_book(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, clock, url = world
    ledger_url = f"sqlite:///{tmp_path / 'c2.db'}"
    routed = _hold(_arena(url, clock, ledger_url, **PROMOTE), fake, clock)
    ledger = open_sql_ledger(ledger_url)
    symbol, units = max(
        ledger.book(routed).positions.items(), key=lambda kv: kv[1] * fake.price(kv[0])
    )
    key = symbol.replace("/", "")
    fake.positions[key] = units / 2  # someone else sold half of the book's units
    sold_before = {o.client_order_id for o in ledger.orders(routed)}
    clock.advance(3600)
    with caplog.at_level("WARNING", logger="cappuccino.trader"):
        _arena(url, clock, ledger_url, max_polls=4, **DEMOTE).run()
    sells = [
        o
        for o in ledger.orders(routed)
        if o.client_order_id not in sold_before and o.symbol == symbol and o.side is OrderSide.SELL
    ]
    assert sells and "rejected" not in {o.status for o in ledger.orders(routed)}
    # it sold what the account held for it (to the asset's 1e-6 increment), never more
    assert units / 2 - 1e-6 <= sum(o.filled_qty for o in sells) <= units / 2
    assert 0.0 <= fake.positions.get(key, 0.0) < 1e-6
    assert any("sell capped" in r.getMessage() for r in caplog.records)


def test_a_restarted_trader_continues_the_routed_book_without_duplicates(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path
) -> None:
    fake, clock, url = world
    ledger_url = f"sqlite:///{tmp_path / 'd.db'}"
    routed = _hold(_arena(url, clock, ledger_url, **PROMOTE), fake, clock)
    ledger = open_sql_ledger(ledger_url)
    (member,) = _promoted(ledger)
    assert routed == routed_portfolio_id(member)
    token = ledger.book(routed).token
    orders = ledger.orders(routed)
    posts, sent = fake.post_requests, _sent(fake)
    # a restart within the same bar: everything is decided; nothing is sent again
    again = _arena(url, clock, ledger_url, max_polls=1, **PROMOTE)
    again.run()
    assert fake.post_requests == posts and _sent(fake) == sent
    assert again._routed == {routed} and ledger.orders(routed) == orders
    # the next bars continue the same routed book with new, unique orders
    clock.advance(3600)
    snaps = len(ledger.snapshots(routed))
    later = _arena(url, clock, ledger_url, max_polls=20, **PROMOTE)
    later.run()
    assert len(ledger.snapshots(routed)) == snaps + 20
    assert _promoted(ledger) == {member}
    assert ledger.book(routed).token == token
    new = ledger.orders(routed)[len(orders) :]
    assert new and {o.status for o in new} <= {"filled", "skipped"}
    assert len({o.client_order_id for o in ledger.orders(routed)}) == len(ledger.orders(routed))
    assert len(fake.by_client_id) == len(fake.orders) == fake.post_requests
    book = ledger.book(routed)
    for symbol, qty in fake.positions.items():
        assert book.positions[symbol[:3] + "/USD"] == pytest.approx(qty)


def test_a_routed_book_that_does_not_fit_the_account_is_not_opened(
    world: tuple[FakeAlpaca, Clock, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, clock, url = world
    fake.cash = 6_000.0  # less than the routed book's 10,000
    ledger_url = f"sqlite:///{tmp_path / 'e.db'}"
    trader = _arena(url, clock, ledger_url, max_polls=6, **PROMOTE)
    with caplog.at_level("WARNING", logger="cappuccino.trader"):
        trader.run()
    (member,) = _promoted(trader.ledger)  # promoted in the ranking all the same
    assert trader._routed == set() and fake.post_requests == 0
    warned = [r for r in caplog.records if "gets no routed book" in r.getMessage()]
    assert warned and warned[0].__dict__["free_cash"] == pytest.approx(6_000.0)
    with pytest.raises(Exception, match="not in the ledger"):
        trader.ledger.book(routed_portfolio_id(member))
    # once the account is funded, the next ranking opens it
    fake.cash = 10_000.0
    clock.advance(3600)
    funded = _arena(url, clock, ledger_url, max_polls=3, **PROMOTE)
    funded.run()
    assert funded._routed == {routed_portfolio_id(member)} and fake.post_requests > 0


def test_the_arena_cli_on_alpaca_locks_the_routed_books_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cappuccino arena --broker alpaca` locks `<member>/routed` with the members: a routed
    book another process trades is refused before anything is read or sent."""
    from cappuccino_runtime.cli.main import main
    from cappuccino_runtime.persistence import PortfolioLock, make_engine, upgrade
    from tests.integration.trading.deployment import deploy_study

    (tmp_path / "deploy").mkdir()
    arena_config, _ = deploy_study(tmp_path / "deploy", sample(1200))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    upgrade(engine)
    fake = FakeAlpaca(data=sample(1200))
    argv = ["arena", "--config", str(arena_config), "--broker", "alpaca", "--ledger-url", url,
            "--max-polls", "1"]  # fmt: skip
    with serve_app(fake.app()) as base:
        monkeypatch.setenv("ALPACA_TRADING_URL", base)
        monkeypatch.setenv("ALPACA_DATA_URL", base)
        monkeypatch.setenv("ALPACA_API_KEY_ID", "k")
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", "s")
        with PortfolioLock(engine, routed_portfolio_id("local/arena/demo:3")):
            with pytest.raises(SystemExit) as refused:
                main(argv)
            assert refused.value.code == 1  # another process trades that routed book
        assert fake.requests == []
        with pytest.raises(SystemExit) as ran:
            main(argv)
        assert ran.value.code in (0, None)
    assert fake.post_requests == 0  # the fake's bars are stale: a halt, no order
    engine.dispose()
