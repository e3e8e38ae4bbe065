"""The order executor: intents -> broker (or the local fill rule) -> fills and fees in the ledger.

One job: make the ledger's orders, fills and fees match what the venue did.

- Intents of the current bar are sent once (idempotent client_order_id); a submission whose
  fate is unknown (lost response, lagging look-ups) is stored as `unknown` and looked up again
  on later polls, never called rejected. Older `intent`s the broker never received are
  abandoned (not sent late); older `unknown`s stay open until the broker shows them.
- Sells of a routed book never ask for more units than the broker account holds net of this
  deployment's other routed books: the book cannot sell what the account does not hold for it.
- Fills are recorded per increment: the increment's price is derived from the broker's
  cumulative (filled_qty, filled_avg_price) and what is already recorded, so a partial fill
  at 100 then 110 books 100 and 110, not the running average twice.
- Fees: inline brokers (replay) charge the env's rule at the fill; brokers that post fees later
  (Alpaca CFEE activities) are read with `book_fees`: each activity is matched to one of this
  deployment's fills of that asset within a day whose expected fee (fee_rate x the fill) still
  has room, and booked on that fill's book once; an activity that matches none of our fills is
  another deployment's and is left alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cappuccino_runtime.errors import BrokerError, TemporaryBrokerError
from cappuccino_runtime.persistence.ledger import (
    FeeRecord,
    FillRecord,
    Ledger,
    OrderRecord,
    OrderSide,
    OrderStatus,
)
from cappuccino_runtime.trading.brokers.base import (
    Broker,
    BrokerOrder,
    FeeActivity,
    OrderFateUnknown,
    OrderRequest,
)
from cappuccino_runtime.trading.brokers.replay import simulated_fill

__all__ = ["OrderExecutor", "increment_price"]

log = logging.getLogger("cappuccino.trader")
OnFill = Callable[[OrderRecord, FillRecord], None]
FEE_LOOKBACK = timedelta(days=3)


def increment_price(
    recorded_qty: float, recorded_notional: float, filled_qty: float, avg_price: float
) -> float:
    """Price of the units filled since the last record, from the broker's cumulative average."""
    delta = filled_qty - recorded_qty
    price = (filled_qty * avg_price - recorded_notional) / delta
    if not math.isfinite(price) or price <= 0:
        return avg_price  # rounding in the broker's reported numbers: fall back to its average
    return price


def _request(order: OrderRecord) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        notional=order.notional,
        ref_price=order.ref_price,
    )


@dataclass
class _FeeRoom:
    fill: FillRecord
    portfolio_id: str
    symbol: str
    side: OrderSide
    room: float  # expected fee not matched to an activity yet (asset units or USD)


class OrderExecutor:
    """Executes and reconciles the orders of a deployment's books (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        ledger: Ledger,
        *,
        slippage: float,
        on_fill: OnFill,
        checkpoint: Callable[[str], None],
    ) -> None:
        self.broker = broker
        self.ledger = ledger
        self.slippage = slippage
        self._on_fill = on_fill
        self._checkpoint = checkpoint
        self._seen_activities: set[str] = set()
        self._fee_room_used: dict[str, float] = {}

    # -- orders -----------------------------------------------------------------------------
    def execute(
        self,
        portfolio_id: str,
        bar_end: datetime,
        can_trade: bool,
        *,
        routed: bool,
        sellable: Callable[[str], float] | None = None,
        spendable: Callable[[], float] | None = None,
    ) -> bool:
        """Works the book's open orders (the ledger's status index); True when any filled."""
        executed = False
        for order in self.ledger.open_orders(portfolio_id):
            if order.decision_ts > bar_end:
                continue  # a replay resumed behind this book: its bar comes later
            if not routed:
                if order.status is OrderStatus.INTENT:
                    fill = simulated_fill(_request(order), order.ref_price, self.slippage)
                    executed |= self.record(order, fill)
                continue
            executed |= self._work(
                order, order.decision_ts == bar_end, can_trade, sellable, spendable
            )
        return executed

    def _work(
        self,
        order: OrderRecord,
        current: bool,
        can_trade: bool,
        sellable: Callable[[str], float] | None,
        spendable: Callable[[], float] | None = None,
    ) -> bool:
        cid = order.client_order_id
        known = self.broker.order(cid)
        if known is None and order.status is OrderStatus.UNKNOWN:
            log.warning(
                "an order whose submission had no answer is not visible at the broker yet; "
                "it stays open and is looked up again next poll",
                extra={"client_order_id": cid},
            )
            if not (current and can_trade):
                return False
        if known is None and current and can_trade:
            request = self._capped(_request(order), sellable, spendable)
            request = None if request is None else self.broker.sized(request)
            if request is None:
                self.ledger.update_order(cid, status=OrderStatus.SKIPPED)
                log.info(
                    "order below the asset's minimums (or nothing the account holds to sell), "
                    "not sent",
                    extra={"client_order_id": cid},
                )
                return False
            try:
                known = self.broker.submit(request)
            except OrderFateUnknown as e:
                self.ledger.update_order(cid, status=OrderStatus.UNKNOWN)
                log.warning(
                    "order submission unconfirmed; kept open as unknown",
                    extra={"client_order_id": cid, "reason": str(e)},
                )
                return False
            except TemporaryBrokerError:
                raise
            except BrokerError as e:
                self.ledger.update_order(cid, status=OrderStatus.REJECTED)
                log.error(
                    "the broker rejected an order; the book carries on without it",
                    extra={"client_order_id": cid, "reason": str(e)},
                )
                return False
            self._checkpoint("submitted")
        if known is None:
            if order.status is OrderStatus.INTENT:
                self.ledger.update_order(cid, status=OrderStatus.ABANDONED)
                log.warning(
                    "an old order intent never reached the broker; abandoned, not sent late",
                    extra={"client_order_id": cid},
                )
            return False
        return self.record(order, known)

    @staticmethod
    def _capped(
        request: OrderRequest,
        sellable: Callable[[str], float] | None,
        spendable: Callable[[], float] | None = None,
    ) -> OrderRequest | None:
        """Sells at most the units, buys at most the cash the account holds for the book (a
        USD fee the broker took but has not posted yet is not the book's to spend)."""
        if request.side is OrderSide.BUY and request.notional is not None and spendable:
            available = spendable()
            if not math.isfinite(available):
                return request
            cash = math.floor(available * 100) / 100
            if request.notional <= cash:
                return request
            if cash <= 0:
                return None
            log.info(
                "buy capped at the cash the broker account holds for this book",
                extra={"client_order_id": request.client_order_id, "cash": cash},
            )
            return OrderRequest(**{**request.__dict__, "notional": cash})
        if request.side is not OrderSide.SELL or request.qty is None or sellable is None:
            return request
        available = sellable(request.symbol)
        if request.qty <= available:
            return request
        if available <= 0:
            return None
        log.warning(
            "sell capped at what the broker account holds for this book",
            extra={
                "client_order_id": request.client_order_id,
                "wanted": request.qty,
                "held": available,
            },
        )
        return OrderRequest(**{**request.__dict__, "qty": available})

    def record(self, order: OrderRecord, reported: BrokerOrder) -> bool:
        """Records the increment the broker reports beyond what the ledger has; True if new."""
        stored = self.ledger.get_order(order.client_order_id) or order
        delta = reported.filled_qty - stored.filled_qty
        new = False
        if delta > 1e-15 and reported.filled_avg_price is not None:
            price = increment_price(
                stored.filled_qty,
                stored.filled_notional,
                reported.filled_qty,
                reported.filled_avg_price,
            )
            fee = 0.0
            if self.broker.fees_inline:
                rate = self.broker.fee_rate
                fee = delta * rate * (1.0 if order.side is OrderSide.BUY else price)
            fill = FillRecord(
                fill_key=f"{order.client_order_id}:{reported.filled_qty!r}",
                client_order_id=order.client_order_id,
                qty=delta,
                price=price,
                fee=fee,
                ts=order.decision_ts,
            )
            if self.ledger.record_fill(fill):
                self._on_fill(order, fill)
                new = True
            self._checkpoint("filled")
        self.ledger.update_order(
            order.client_order_id, status=reported.status, broker_order_id=reported.broker_order_id
        )
        return new

    # -- fees -------------------------------------------------------------------------------
    def load_booked_fees(self, portfolio_ids: Iterable[str]) -> None:
        """Remembers the activities and fee room already booked (once, at start-up)."""
        for pid in portfolio_ids:
            for fee in self.ledger.fees(pid):
                activity, _, fill_key = fee.fee_key.partition("|")
                self._seen_activities.add(activity)
                self._fee_room_used[fill_key] = self._fee_room_used.get(fill_key, 0.0) + fee.amount

    def book_fees(self, portfolio_ids: list[str], now: datetime) -> int:
        """Books the broker's newly posted fees on our books (see the module docstring)."""
        if self.broker.fees_inline or not portfolio_ids:
            return 0
        activities = [
            a
            for a in self.broker.fee_activities(after=now - FEE_LOOKBACK)
            if a.activity_id not in self._seen_activities
        ]
        if not activities:
            return 0
        rooms = self._rooms(portfolio_ids, now - FEE_LOOKBACK - timedelta(days=1))
        booked = 0
        # exact matches first (one activity per execution of one of our fills), then activities
        # that fit in the room a fill aggregated over several executions has left
        for exact in (True, False):
            for activity in [a for a in activities if a.activity_id not in self._seen_activities]:
                room = self._match(activity, rooms, exact=exact)
                if room is None:
                    continue
                self._seen_activities.add(activity.activity_id)
                booked += self._book(activity, room, now)
        for activity in activities:
            if activity.activity_id not in self._seen_activities:
                self._seen_activities.add(activity.activity_id)
                log.debug("fee activity not ours", extra={"activity_id": activity.activity_id})
        return booked

    def _book(self, activity: FeeActivity, room: _FeeRoom, now: datetime) -> int:
        room.room -= activity.amount
        used = self._fee_room_used.get(room.fill.fill_key, 0.0) + activity.amount
        self._fee_room_used[room.fill.fill_key] = used
        fee = FeeRecord(
            fee_key=f"{activity.activity_id}|{room.fill.fill_key}",
            portfolio_id=room.portfolio_id,
            symbol=room.symbol,
            asset=activity.asset,
            amount=activity.amount,
            ts=now,
        )
        return int(self.ledger.record_fee(fee))

    def _rooms(self, portfolio_ids: list[str], since: datetime) -> list[_FeeRoom]:
        rate = self.broker.fee_rate
        rooms: list[_FeeRoom] = []
        for pid in portfolio_ids:
            orders: dict[str, OrderRecord] = {}
            for fill in self.ledger.fills(pid, since=since):
                if fill.client_order_id not in orders:
                    stored = self.ledger.get_order(fill.client_order_id)
                    if stored is None:
                        continue
                    orders[fill.client_order_id] = stored
                order = orders[fill.client_order_id]
                expected = fill.qty * rate * (1.0 if order.side is OrderSide.BUY else fill.price)
                room = expected - self._fee_room_used.get(fill.fill_key, 0.0)
                rooms.append(_FeeRoom(fill, pid, order.symbol, order.side, room))
        return rooms

    @staticmethod
    def _match(activity: FeeActivity, rooms: list[_FeeRoom], *, exact: bool) -> _FeeRoom | None:
        day = datetime.fromisoformat(activity.date).date() if activity.date else None
        for room in rooms:
            if activity.asset == "USD":
                if room.side is not OrderSide.SELL:
                    continue
            elif room.side is not OrderSide.BUY or room.symbol != activity.symbol:
                continue
            if day is not None and abs((room.fill.ts.date() - day).days) > 1:
                continue
            tolerance = activity.amount * 1e-6 + 1e-12
            if exact and abs(room.room - activity.amount) <= tolerance:
                return room
            if not exact and room.room >= activity.amount - tolerance:
                return room
        return None
