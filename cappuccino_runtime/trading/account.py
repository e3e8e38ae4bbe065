"""What a shared broker account holds for each of this deployment's routed books.

One Alpaca paper account may hold other deployments' units and cash, so the broker's positions
are never copied into a book. Instead a routed book may sell at most the units, and spend at
most the cash, the account holds for it: the broker's, less what this deployment's other routed
books hold (and, for cash, what its open buys still commit), and never more than the book's
own. `reconcile` compares the books with the account and logs a shortfall; it never overwrites.
On a venue that is the book's own (the replay broker, `fees_inline`) there is nothing to share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

from cappuccino_runtime.persistence.ledger import Book, Ledger, OrderSide, OrderStatus
from cappuccino_runtime.trading.brokers.base import Broker

__all__ = ["AccountShare", "committed_buys"]

log = logging.getLogger("cappuccino.trader")


def committed_buys(ledger: Ledger, routed: Collection[str]) -> float:
    """Cash the routed books' submitted, not yet filled buys still commit (an intent the broker
    has not received commits nothing)."""
    return sum(
        max(0.0, (o.notional or 0.0) - o.filled_notional)
        for p in routed
        for o in ledger.open_orders(p)
        if o.side is OrderSide.BUY and o.status is not OrderStatus.INTENT
    )


class AccountShare:
    """The account's share of each routed book (see the module docstring).

    Args:
        broker: the venue.
        ledger: the books' orders (open buys commit cash).
        book: the book as this poll read it (the trader's per-poll read).
        routed: the ids of this deployment's books that route orders to the broker.
    """

    def __init__(
        self,
        broker: Broker,
        ledger: Ledger,
        book: Callable[[str], Book],
        routed: Collection[str],
    ) -> None:
        self.broker = broker
        self.ledger = ledger
        self._book = book
        self.routed = routed

    def spendable(self, portfolio_id: str) -> float:
        """Cash the account holds for this book: the broker's free cash (less what this
        deployment's open buys still commit and its other routed books hold), at most the
        book's own."""
        if self.broker.fees_inline:
            return float("inf")
        committed = committed_buys(self.ledger, self.routed)
        others = sum(self._book(p).cash for p in self.routed if p != portfolio_id)
        own = self._book(portfolio_id).cash
        return max(0.0, min(own, self.broker.cash() - committed - others))

    def sellable(self, portfolio_id: str, symbol: str) -> float:
        """Units of `symbol` the account holds for this book: the broker's (read now: sells
        earlier in this poll moved it), less what this deployment's other routed books hold,
        at most the book's own."""
        if self.broker.fees_inline:
            return float("inf")  # the replay venue is the book's own: no shared account
        others = sum(
            self._book(p).positions.get(symbol, 0.0) for p in self.routed if p != portfolio_id
        )
        own = self._book(portfolio_id).positions.get(symbol, 0.0)
        return max(0.0, min(own, self.broker.positions().get(symbol, 0.0) - others))

    def reconcile(self, symbols: Sequence[str], *, reason: str) -> None:
        """Compares the routed books with the broker's positions; logs, never overwrites."""
        if self.broker.fees_inline or not self.routed:
            return
        positions = self.broker.positions()
        books = [self._book(pid) for pid in self.routed]
        for symbol in symbols:
            ours = sum(b.positions.get(symbol, 0.0) for b in books)
            broker_qty = positions.get(symbol, 0.0)
            pending_fee = ours * self.broker.fee_rate  # fees not posted yet are at most this
            if broker_qty + pending_fee + 1e-9 < ours:
                log.warning(
                    "the broker account holds less than this deployment's books; sells are "
                    "capped at what it holds",
                    extra={
                        "symbol": symbol,
                        "books_qty": ours,
                        "broker_qty": broker_qty,
                        "reason": reason,
                    },
                )
