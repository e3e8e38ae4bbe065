"""Arena routing on a shared broker account: promotion opens a routed book; no book changes venue.

An Arena on a live broker (`TraderConfig.route="promoted"`) keeps every member's own book
local: it is filled with the env's rule at the broker's prices and ranked (trading/arena.py).
Promotion does not move that book to the broker. Instead it opens a SEPARATE routed book:

- id `<member portfolio_id>/routed` (`routed_portfolio_id`; the `/routed` suffix never occurs in
  a member id `<arena_id>/<study>:<trial>`), venue "broker", its own persisted token (so its
  client_order_ids are its own), starting from `initial_cash` and no positions;
- opened only if the broker account's free cash covers it: the account's cash less what this
  deployment's routed books hold and its open buys still commit (`free_cash`); otherwise a
  warning says so, the book is not opened (the member stays promoted in the ranking) and the
  next ranking tries again;
- while its member is promoted it MIRRORS the member's target weights of the bar (the weights
  the member's model produced for the member's own book in the one batched forward pass; the
  model is never run again with the routed book's holdings); it is decided and executed like
  any routed book (decision.decide, Ledger.record_decision, OrderExecutor with the
  AccountShare caps), so its orders carry idempotent client_order_ids and survive restarts;
- when its member is demoted it WINDS DOWN: its target is all cash, so it only sells what it
  holds (capped at what the account holds for it) and never buys again; it stays a broker book
  (never filled locally) and keeps being marked and reported. Its own risk guards still apply:
  a routed book halted by a guard trades nothing, its wind-down included, while it is halted;
- on re-promotion the same routed book (same id, token, cash and history) mirrors again; it is
  not opened a second time and needs no new cash check (its cash stayed counted as the routed
  books' all along).

A mirroring routed book is decided only at a bar its member has not decided yet (the trader
decides routed books first, so a crash between the two leaves the member to decide next and
the routed book done); a routed book opened at the ranking of a bar therefore starts at the
next bar. A winding-down one needs nothing of its member.

Restart: `ArenaRouter.restore` finds the routed books in the ledger by their deterministic ids;
which of them mirror follows the last stored ranking's promoted set. Routed books are never
ranked: the ranking is over members only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence.ledger import Book, Ledger
from cappuccino_runtime.trading.account import committed_buys
from cappuccino_runtime.trading.brokers.base import Broker

__all__ = [
    "ROUTED_SUFFIX",
    "ArenaRouter",
    "Route",
    "free_cash",
    "routed_portfolio_id",
    "routed_target",
    "to_open",
]

log = logging.getLogger("cappuccino.trader")

ROUTED_SUFFIX = "/routed"


class Route(StrEnum):
    """What a routed book does at a bar."""

    MIRROR = "mirror"  # its member is promoted: the member's target weights
    WIND_DOWN = "wind_down"  # its member is not promoted: all cash, sells only


def routed_portfolio_id(member_id: str) -> str:
    """The routed book of an arena member: `<member portfolio_id>/routed`."""
    if member_id.endswith(ROUTED_SUFFIX):
        raise ValueError(f"{member_id!r} is a routed book, not an arena member.")
    return f"{member_id}{ROUTED_SUFFIX}"


def route_of(member_id: str, promoted: Collection[str]) -> Route:
    """A routed book mirrors while its member is promoted and winds down otherwise."""
    return Route.MIRROR if member_id in promoted else Route.WIND_DOWN


def routed_target(
    route: Route, member_target: Sequence[float] | None, n_assets: int
) -> list[float] | None:
    """The routed book's target weights: its member's (None when the member was not decided
    at this bar, so there is nothing to mirror), or all cash when winding down."""
    if route is Route.WIND_DOWN:
        return [0.0] * n_assets
    return None if member_target is None else [float(w) for w in member_target]


def to_open(
    members: Sequence[str], promoted: Collection[str], opened: Collection[str]
) -> list[str]:
    """Promoted members without a routed book yet, in the members' order."""
    return [m for m in members if m in promoted and m not in opened]


def free_cash(account_cash: float, routed_cash: Iterable[float], committed_buys: float) -> float:
    """Cash of the account no routed book of this deployment holds or has committed."""
    return account_cash - committed_buys - sum(routed_cash)


class ArenaRouter:
    """The routed books of one arena (see the module docstring); decisions above, I/O here.

    Args:
        members: the arena's member book ids (local venue), in the arena's order.
        broker: the shared account.
        ledger: where routed books are opened and found again.
        book: the trader's per-poll read of a book.
        routed: the trader's set of broker-venue book ids (shared with AccountShare): the
            router adds the routed books it opens or restores.
        initial_cash: the cash a new routed book starts with.
    """

    def __init__(
        self,
        members: Sequence[str],
        broker: Broker,
        ledger: Ledger,
        book: Callable[[str], Book],
        routed: set[str],
        initial_cash: float,
    ) -> None:
        self.members = list(members)
        self.broker = broker
        self.ledger = ledger
        self._book = book
        self.routed = routed
        self.initial_cash = initial_cash
        self.books: dict[str, str] = {}  # member id -> its routed book's id, once opened

    def _adopt(self, member_id: str, book: Book) -> tuple[str, Book]:
        self.books[member_id] = book.portfolio_id
        self.routed.add(book.portfolio_id)
        return member_id, book

    def restore(self) -> list[tuple[str, Book]]:
        """(member id, routed book) of those the ledger already holds (start-up)."""
        for routed_id in self.books.values():
            self.routed.discard(routed_id)
        self.books.clear()
        found: list[tuple[str, Book]] = []
        for member_id in self.members:
            try:
                book = self.ledger.book(routed_portfolio_id(member_id))
            except ConfigError:
                continue
            if book.venue not in (None, "broker"):
                raise ConfigError(
                    f"book {book.portfolio_id!r} has venue {book.venue!r}; a routed book always "
                    "routes to the broker. Remove it from the ledger or use another arena id."
                )
            found.append(self._adopt(member_id, book))
        return found

    def open_promoted(self, promoted: Collection[str], now: datetime) -> list[tuple[str, Book]]:
        """Opens a routed book for each promoted member that has none and fits the account;
        returns (member id, routed book) of those opened."""
        opened: list[tuple[str, Book]] = []
        for member_id in to_open(self.members, promoted, self.books):
            available = self.free_cash()
            if available + 1e-9 < self.initial_cash:
                log.warning(
                    "a promoted arena member gets no routed book: the broker account's free "
                    "cash does not cover its initial cash; it stays promoted in the ranking and "
                    "the next ranking tries again (fund the account or lower initial_cash)",
                    extra={
                        "portfolio_id": member_id,
                        "routed_book": routed_portfolio_id(member_id),
                        "free_cash": available,
                        "initial_cash": self.initial_cash,
                    },
                )
                continue
            book = self.ledger.open_portfolio(
                routed_portfolio_id(member_id), self.initial_cash, now, venue="broker"
            )
            log.info(
                "arena member promoted: its routed book sends orders to the broker",
                extra={"portfolio_id": member_id, "routed_book": book.portfolio_id},
            )
            opened.append(self._adopt(member_id, book))
        return opened

    def free_cash(self) -> float:
        """The account's cash not held or committed by this deployment's routed books."""
        if self.broker.fees_inline:
            return float("inf")  # the replay venue is the book's own: nothing is shared
        committed = committed_buys(self.ledger, self.routed)
        return free_cash(self.broker.cash(), (self._book(p).cash for p in self.routed), committed)

    def targets(
        self,
        member_targets: Mapping[str, Sequence[float]],
        promoted: Collection[str],
        pending: Collection[str],
        n_assets: int,
    ) -> dict[str, list[float]]:
        """This bar's target of each undecided routed book (routed id -> weights); a mirroring
        book whose member was already decided at this bar waits for the next one."""
        out: dict[str, list[float]] = {}
        for member_id, routed_id in self.books.items():
            if routed_id not in pending:
                continue
            route = route_of(member_id, promoted)
            target = routed_target(route, member_targets.get(member_id), n_assets)
            if target is None:
                log.debug(  # every poll of that bar would say it again
                    "routed book skips this bar: its member was decided before it was",
                    extra={"routed_book": routed_id},
                )
                continue
            out[routed_id] = target
        return out
