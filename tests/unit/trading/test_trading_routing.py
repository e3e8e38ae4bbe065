"""Arena routing (trading/routing.py): routed book ids, targets, openings and the cash check."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import pytest

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence.ledger import (
    InMemoryLedger,
    OrderRecord,
    OrderSide,
    OrderStatus,
)
from cappuccino_runtime.trading.brokers.base import Broker
from cappuccino_runtime.trading.routing import (
    ArenaRouter,
    Route,
    free_cash,
    route_of,
    routed_portfolio_id,
    routed_target,
    to_open,
)

T0 = datetime(2024, 1, 8, tzinfo=UTC)
MEMBERS = ["a/s:1", "a/s:2", "a/s:3"]


@dataclass
class Account:
    """The two things the router reads of a broker: whether fees are inline, and its cash."""

    balance: float
    fees_inline: bool = False

    def cash(self) -> float:
        return self.balance


def _router(ledger: InMemoryLedger, balance: float, routed: set[str] | None = None) -> ArenaRouter:
    broker = cast(Broker, Account(balance))
    return ArenaRouter(
        MEMBERS, broker, ledger, ledger.book, set() if routed is None else routed, 1000.0
    )


def test_a_routed_book_id_is_the_member_id_with_a_routed_suffix() -> None:
    assert routed_portfolio_id("ns/arena/study:7") == "ns/arena/study:7/routed"
    with pytest.raises(ValueError, match="is a routed book"):
        routed_portfolio_id("ns/arena/study:7/routed")


def test_routed_targets_mirror_a_promoted_member_and_go_to_cash_when_demoted() -> None:
    assert route_of("m", {"m"}) is Route.MIRROR
    assert route_of("m", {"x"}) is Route.WIND_DOWN
    assert routed_target(Route.MIRROR, [0.25, 0.5], 2) == [0.25, 0.5]
    assert routed_target(Route.MIRROR, None, 2) is None  # the member was not decided
    assert routed_target(Route.WIND_DOWN, [0.25, 0.5], 2) == [0.0, 0.0]
    assert routed_target(Route.WIND_DOWN, None, 3) == [0.0, 0.0, 0.0]


def test_to_open_lists_promoted_members_without_a_routed_book_in_order() -> None:
    assert to_open(MEMBERS, {"a/s:3", "a/s:1"}, ()) == ["a/s:1", "a/s:3"]
    assert to_open(MEMBERS, {"a/s:3", "a/s:1"}, {"a/s:1": "a/s:1/routed"}) == ["a/s:3"]
    assert to_open(MEMBERS, set(), ()) == []


def test_free_cash_is_the_account_less_routed_books_and_committed_buys() -> None:
    assert free_cash(10_000.0, [2_000.0, 500.0], 300.0) == pytest.approx(7_200.0)
    assert free_cash(100.0, [], 0.0) == 100.0


def test_a_routed_book_opens_only_when_the_free_cash_covers_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = InMemoryLedger()
    routed: set[str] = set()
    router = _router(ledger, 1_500.0, routed)
    with caplog.at_level(logging.WARNING, logger="cappuccino.trader"):
        opened = router.open_promoted({"a/s:1", "a/s:2"}, T0)
    # the first fits (1,500 >= 1,000); the second does not (500 left)
    assert [(m, b.portfolio_id, b.venue, b.cash) for m, b in opened] == [
        ("a/s:1", "a/s:1/routed", "broker", 1000.0)
    ]
    assert routed == {"a/s:1/routed"} and router.books == {"a/s:1": "a/s:1/routed"}
    (warning,) = [r for r in caplog.records if "gets no routed book" in r.getMessage()]
    assert warning.__dict__["portfolio_id"] == "a/s:2"
    assert warning.__dict__["free_cash"] == pytest.approx(500.0)
    with pytest.raises(ConfigError):
        ledger.book("a/s:2/routed")
    # opened once: a later ranking does not open it again
    assert router.open_promoted({"a/s:1"}, T0) == []


def test_open_buys_of_routed_books_commit_cash() -> None:
    ledger = InMemoryLedger()
    router = _router(ledger, 2_500.0)
    router.open_promoted({"a/s:1"}, T0)
    buy = OrderRecord("c1", "a/s:1/routed", "BTC/USD", OrderSide.BUY, 100.0, T0, T0, notional=600.0)
    ledger.record_intent(buy)
    assert router.free_cash() == pytest.approx(1_500.0)  # an intent commits nothing yet
    ledger.update_order("c1", status=OrderStatus.NEW)
    assert router.free_cash() == pytest.approx(900.0)
    assert router.open_promoted({"a/s:2"}, T0) == []


def test_a_venue_of_its_own_needs_no_cash_check() -> None:
    ledger = InMemoryLedger()
    router = ArenaRouter(
        MEMBERS, cast(Broker, Account(0.0, fees_inline=True)), ledger, ledger.book, set(), 1e6
    )
    assert [m for m, _ in router.open_promoted(set(MEMBERS), T0)] == MEMBERS


def test_restore_finds_the_routed_books_the_ledger_holds() -> None:
    ledger = InMemoryLedger()
    _router(ledger, 10_000.0).open_promoted({"a/s:2"}, T0)
    routed: set[str] = {"a/s:9/routed"}  # what a previous start left in the trader's set
    restored = _router(ledger, 0.0, routed)
    ids = [(m, b.portfolio_id) for m, b in restored.restore()]
    assert ids == [("a/s:2", "a/s:2/routed")]
    assert restored.books == {"a/s:2": "a/s:2/routed"}
    assert "a/s:2/routed" in routed
    ledger.open_portfolio("a/s:3/routed", 1.0, T0, venue="local")
    with pytest.raises(ConfigError, match="always routes to the broker"):
        restored.restore()


def test_targets_of_undecided_routed_books_only() -> None:
    ledger = InMemoryLedger()
    router = _router(ledger, 10_000.0)
    router.open_promoted({"a/s:1", "a/s:2", "a/s:3"}, T0)
    members = {"a/s:1": [0.5, 0.5], "a/s:3": [1.0, 0.0]}  # a/s:2 was decided already
    pending = {"a/s:1/routed", "a/s:2/routed"}  # a/s:3's routed book was decided already
    assert router.targets(members, {"a/s:1", "a/s:2", "a/s:3"}, pending, 2) == {
        "a/s:1/routed": [0.5, 0.5]
    }
    # demoted: a/s:2's routed book winds down even though its member gave no target
    assert router.targets(members, {"a/s:1"}, pending, 2) == {
        "a/s:1/routed": [0.5, 0.5],
        "a/s:2/routed": [0.0, 0.0],
    }
