"""The trader loop: poll, build states, decide in one batched pass, guard, order, persist.

One Trader drives one or more books (one ensemble book, or N arena books) from one market poll:

1. history = broker.history(...) ends at the newest completed bar t (bar_end = its close time);
2. every book is marked to market at t's close, and risk guards are checked;
3. every model's state is built with the env's state builder, and all models act in one
   batched forward pass (ModelBank); an ensemble votes, an arena member uses its own model;
4. target weights -> orders with the env's rebalance arithmetic at the broker's fill price,
   minus a cost-aware dead band; the snapshot at t and all order intents are written in ONE
   transaction (`Ledger.record_decision`) before anything is sent;
5. intents are executed: routed books through the broker (idempotent client_order_id), other
   arena books filled locally with the env's rule; fills are recorded, then (Alpaca, one
   routed book) positions are read back from the broker, as its fee is in the received asset;
6. arena ranking, positions_state.json / trades_history.json, `TRADE:` lines, metrics.

Restart safety: a bar whose snapshot exists was already decided and is never decided again;
open intents of the current bar are executed (the broker adopts an id it already knows),
older open orders are looked up and recorded, and old intents the broker never received are
abandoned (live) rather than sent late. A replay resumes its clock at the oldest book's last
decision (`Broker.resume_at`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from cappuccino_runtime.data.timeframes import timeframe_delta
from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.errors import (
    BrokerError,
    DataUnavailable,
    StorageUnavailable,
    TemporaryBrokerError,
)
from cappuccino_runtime.metrics import bars_per_year
from cappuccino_runtime.persistence.ledger import (
    FillRecord,
    Ledger,
    OrderRecord,
    RankingRecord,
    SnapshotRecord,
)
from cappuccino_runtime.trading.arena import rank_members
from cappuccino_runtime.trading.brokers.base import Broker, BrokerOrder, OrderRequest
from cappuccino_runtime.trading.brokers.replay import simulated_fill
from cappuccino_runtime.trading.ensemble import EnsembleRule, mean_action_target, vote_targets
from cappuccino_runtime.trading.guards import (
    GuardConfig,
    GuardKind,
    GuardStatus,
    cap_targets,
    check_guards,
)
from cappuccino_runtime.trading.observation import MarketWindow, history_bars
from cappuccino_runtime.trading.ops import TraderMetrics
from cappuccino_runtime.trading.orders import OrderSide, client_order_id, plan_orders
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.state_files import append_trades, book_state, write_positions_state

__all__ = ["BookPlan", "Trader", "TraderConfig"]

log = logging.getLogger("cappuccino.trader")
Checkpoint = Callable[[str], None]


class TraderConfig(BaseModel):
    """How the trader decides and executes. Every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    poll_seconds: float = Field(default=60.0, gt=0, description="seconds between live polls")
    rule: EnsembleRule = Field(default=EnsembleRule.MAJORITY, description="ensemble rule")
    vote_dead_band: float = Field(default=0.01, ge=0, description="HOLD band of a vote")
    dead_band: float | None = Field(
        default=None,
        ge=0,
        description="skip assets whose weight moves less than this; None = the fee rate",
    )
    slippage_bps: float = Field(default=5.0, ge=0, description="as EnvConfig.slippage_bps")
    min_order_notional: float = Field(default=1.0, ge=0, description="as the env and Alpaca")
    initial_cash: float = Field(default=10_000.0, gt=0, description="cash of a new book")
    guards: GuardConfig = Field(default_factory=GuardConfig)
    ranking_window_hours: float = Field(default=7 * 24, gt=0, description="arena Sharpe window")
    top_k: int = Field(default=3, ge=0, description="arena members promoted")
    route: Literal["all", "promoted"] = Field(
        default="all", description="which books send orders to the broker"
    )
    read_back_positions: bool = Field(
        default=False, description="overwrite the routed book's positions with the broker's"
    )
    max_polls: int | None = Field(default=None, ge=1, description="stop after N polls")


@dataclass(frozen=True)
class BookPlan:
    """One book and the model slots that drive it (1 for an arena member, N for an ensemble)."""

    portfolio_id: str
    slots: tuple[int, ...]
    study_name: str = ""
    trial_id: int = 0


@dataclass
class _BookView:
    plan: BookPlan
    cash: float
    holdings: list[float]
    initial_cash: float
    equity: float
    halted_reason: str | None
    decided: bool


class Trader:
    """Drives the books of one deployment; see the module docstring."""

    def __init__(
        self,
        bank: ModelBank,
        books: Sequence[BookPlan],
        broker: Broker,
        ledger: Ledger,
        config: TraderConfig | None = None,
        *,
        arena_id: str | None = None,
        state_dir: Path | None = None,
        metrics: TraderMetrics | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.bank = bank
        self.books = list(books)
        self.broker = broker
        self.ledger = ledger
        self.config = config or TraderConfig()
        self.arena_id = arena_id
        self.state_dir = state_dir
        self.metrics = metrics or TraderMetrics()
        self._checkpoint = checkpoint or (lambda _label: None)
        self.symbols = bank.symbols
        self.step_delta = timeframe_delta(bank.timeframe).to_pytimedelta()
        self.n_history = max(history_bars(s.spec) for s in bank.slots)
        self.fee_rate = broker.fee_rate
        self.slippage = bank.slots[0].spec.execution.slippage  # the model's, never the trader's
        self.dead_band = self.fee_rate if self.config.dead_band is None else self.config.dead_band
        self._equity: dict[str, list[tuple[datetime, float]]] = {}
        self._routed: set[str] = {b.portfolio_id for b in self.books}
        self.guard_status: dict[str, GuardStatus] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Opens the books, loads their equity history and resumes a replay's clock."""
        now = self.broker.now()
        lasts: list[datetime] = []
        for plan in self.books:
            self.ledger.open_portfolio(plan.portfolio_id, self.config.initial_cash, now)
            history = [(s.ts, s.equity) for s in self.ledger.snapshots(plan.portfolio_id)]
            self._equity[plan.portfolio_id] = history
            if history:
                lasts.append(history[-1][0])
        if lasts and len(lasts) == len(self.books):
            self.broker.resume_at(min(lasts))
        elif lasts:
            log.info("some books have no decision yet; the replay starts where configured")
        if self.arena_id and self.config.route == "promoted":
            ranking = self.ledger.latest_ranking(self.arena_id)
            self._routed = {r.portfolio_id for r in ranking if r.promoted}
        if self.config.read_back_positions:
            self._read_back(reason="start-up reconciliation")
        foreign = [
            o.client_order_id
            for o in self.broker.open_orders()
            if self.ledger.get_order(o.client_order_id) is None
        ]
        if foreign:
            log.warning("broker has open orders this ledger does not know", extra={"ids": foreign})

    def run(self) -> int:
        """Polls until the broker has no more bars (replay), max_polls, or forever (live)."""
        self.start()
        polls = 0
        while True:
            try:
                self.step()
            except (TemporaryBrokerError, StorageUnavailable, DataUnavailable) as e:
                self._poll_failed(e)
            polls += 1
            self.metrics.ready.set()
            if self.config.max_polls is not None and polls >= self.config.max_polls:
                return polls
            if not self.broker.wait_next_poll(self.config.poll_seconds):
                return polls

    def _poll_failed(self, error: Exception) -> None:
        """A poll that could not read the market, the broker or the ledger trades nothing.

        Every book counts as halted by the stale-data guard until a poll succeeds; its state is
        untouched, and the next poll retries (live) or the run ends (replay has no such errors).
        """
        reason = (
            f"Market data or broker unavailable at {self.broker.now().isoformat()}: {error} "
            "Not trading on stale data; retrying at the next poll."
        )
        for plan in self.books:
            self.guard_status[plan.portfolio_id] = GuardStatus(
                halted=True, kind=GuardKind.STALE_DATA, reason=reason
            )
            self.metrics.halted.labels(plan.portfolio_id).set(1.0)
        log.warning("poll failed; no book trades this poll", extra={"reason": reason})

    # -- one poll ------------------------------------------------------------------------------
    def step(self) -> None:
        """One poll: mark, resume open orders, decide undecided books, execute, rank, report."""
        history = self.broker.history(self.symbols, self.bank.timeframe, self.n_history)
        bar_end = pd.Timestamp(history.index[-1]).to_pydatetime() + self.step_delta
        close = [float(c) for c in history.close[-1]]
        can_trade = self.broker.can_trade()
        prices = self.broker.fill_prices(self.symbols) if can_trade else close
        for plan in self.books:
            self._resume_orders(plan, bar_end, can_trade)
        views = [self._view(plan, close, bar_end) for plan in self.books]
        pending = [v for v in views if not v.decided]
        if pending:
            targets = self._targets(views, MarketWindow(history), pending)
            for view in pending:
                self._decide(
                    view, targets[view.plan.portfolio_id], close, prices, bar_end, can_trade
                )
        if self.arena_id:
            self._rank(bar_end)
        self._report(bar_end, close)

    # -- internals -----------------------------------------------------------------------------
    def _view(self, plan: BookPlan, close: list[float], bar_end: datetime) -> _BookView:
        book = self.ledger.book(plan.portfolio_id)
        holdings = [book.positions.get(s, 0.0) for s in self.symbols]
        equity = book.cash + sum(q * p for q, p in zip(holdings, close, strict=True))
        history = self._equity.get(plan.portfolio_id, [])
        decided = bool(history) and history[-1][0] >= bar_end
        return _BookView(
            plan, book.cash, holdings, book.initial_cash, equity, book.halted_reason, decided
        )

    def _targets(
        self, views: list[_BookView], window: MarketWindow, pending: list[_BookView]
    ) -> dict[str, list[float]]:
        """One batched forward pass over every slot, then each pending book's target weights."""
        owner: dict[int, _BookView] = {i: v for v in views for i in v.plan.slots}
        observations = [
            window.observe(slot.spec, owner[i].cash, owner[i].holdings, owner[i].initial_cash)
            for i, slot in enumerate(self.bank.slots)
        ]
        actions = self.bank.actions(observations)
        current = torch.stack(
            [window.weights(owner[i].cash, owner[i].holdings) for i in range(len(observations))]
        )
        weights = action_to_weights(actions, current)
        out: dict[str, list[float]] = {}
        for view in pending:
            idx = list(view.plan.slots)
            if len(idx) == 1:
                target = weights[idx[0]].tolist()
            elif self.config.rule is EnsembleRule.MEAN_ACTION:
                target = mean_action_target(actions[idx], current[idx[0]])
            else:
                current = [
                    q * p / view.equity if view.equity > 0 else 0.0
                    for q, p in zip(view.holdings, window.history.close[-1], strict=True)
                ]
                result = vote_targets(weights[idx].numpy(), current, self.config.vote_dead_band)
                log.info(
                    "ensemble vote",
                    extra={
                        "portfolio_id": view.plan.portfolio_id,
                        "sides": [s.value for s in result.sides],
                        "target": result.target,
                    },
                )
                target = result.target
            out[view.plan.portfolio_id] = cap_targets(
                target, self.config.guards.max_position_weight
            )
        return out

    def _decide(
        self,
        view: _BookView,
        target: list[float],
        close: list[float],
        prices: list[float],
        bar_end: datetime,
        can_trade: bool,
    ) -> None:
        pid = view.plan.portfolio_id
        history = [*self._equity.get(pid, []), (bar_end, view.equity)]
        status = check_guards(
            self.config.guards,
            now=self.broker.now(),
            equity=history,
            latest_bar_end=bar_end,
            trade_times=[f.ts for f in self.ledger.fills(pid, since=bar_end - timedelta(hours=1))],
            latched_reason=view.halted_reason,
        )
        self.guard_status[pid] = status
        if status.latched and view.halted_reason is None:
            self.ledger.set_halt(pid, status.reason)
        if status.halted:
            log.warning(
                "book halted by a risk guard; not trading",
                extra={"portfolio_id": pid, "guard": status.kind, "reason": status.reason},
            )
        orders: list[OrderRecord] = []
        if can_trade and not status.halted:
            planned = plan_orders(
                symbols=self.symbols,
                cash=view.cash,
                holdings=view.holdings,
                prices=prices,
                target=target,
                execution=self.bank.slots[view.plan.slots[0]].spec.execution,
                broker_min_notional=self.config.min_order_notional,
            )
            decision_ts = bar_end - self.step_delta
            orders = [
                OrderRecord(
                    client_order_id=client_order_id(pid, decision_ts, o.symbol, o.side),
                    portfolio_id=pid,
                    symbol=o.symbol,
                    side=o.side.value,
                    ref_price=o.ref_price,
                    decision_ts=bar_end,
                    created_at=self.broker.now(),
                    qty=o.qty,
                    notional=o.notional,
                )
                for o in planned
            ]
        positions_value = view.equity - view.cash
        snapshot = SnapshotRecord(
            pid, bar_end, view.equity, view.cash, positions_value, status.reason
        )
        if self.ledger.record_decision(snapshot, orders):
            self._equity.setdefault(pid, []).append((bar_end, view.equity))
        self._checkpoint("decided")
        self._resume_orders(view.plan, bar_end, can_trade)

    def _resume_orders(self, plan: BookPlan, bar_end: datetime, can_trade: bool) -> None:
        """Executes this bar's open intents; looks up (or abandons) older open orders."""
        pid = plan.portfolio_id
        routed = pid in self._routed
        executed = False
        for order in self.ledger.open_orders(pid):
            if order.decision_ts > bar_end:
                continue  # a replay resumed behind this book: its bar comes later
            current = order.decision_ts == bar_end
            if not routed:
                if order.status == "intent":
                    self._record(
                        order, simulated_fill(_request(order), order.ref_price, self.slippage)
                    )
                    executed = True
                continue
            known = self.broker.order(order.client_order_id)
            if known is None and current and can_trade:
                request = self.broker.sized(_request(order))
                if request is None:
                    self.ledger.update_order(order.client_order_id, status="skipped")
                    log.info(
                        "order below the asset's minimums, not sent",
                        extra={"client_order_id": order.client_order_id},
                    )
                    continue
                try:
                    known = self.broker.submit(request)
                except TemporaryBrokerError:
                    raise  # the intent stays; this bar's next poll (or the restart) retries it
                except BrokerError as e:
                    self.ledger.update_order(order.client_order_id, status="rejected")
                    log.error(
                        "the broker rejected an order; the book carries on without it",
                        extra={"client_order_id": order.client_order_id, "reason": str(e)},
                    )
                    continue
                self._checkpoint("submitted")
            if known is None:
                self.ledger.update_order(order.client_order_id, status="abandoned")
                log.warning(
                    "an old order intent never reached the broker; abandoned, not sent late",
                    extra={"client_order_id": order.client_order_id},
                )
                continue
            self._record(order, known)
            executed = True
        if executed and routed and self.config.read_back_positions:
            self._read_back(reason="after fills", only=pid)

    def _read_back(self, *, reason: str, only: str | None = None) -> None:
        """Positions of the routed book(s) := the broker's (its fee is taken in the asset)."""
        positions = self.broker.positions()
        for plan in self.books:
            pid = plan.portfolio_id
            if pid not in self._routed or (only is not None and pid != only):
                continue
            book = self.ledger.book(pid)
            for symbol in self.symbols:
                broker_qty = positions.get(symbol, 0.0)
                ledger_qty = book.positions.get(symbol, 0.0)
                if broker_qty != ledger_qty:
                    self.ledger.set_position(pid, symbol, broker_qty)
                    if abs(broker_qty - ledger_qty) > 1e-9 * max(1.0, abs(ledger_qty)):
                        log.warning(
                            "ledger position differs from the broker's; the broker's is kept",
                            extra={
                                "portfolio_id": pid,
                                "symbol": symbol,
                                "ledger_qty": ledger_qty,
                                "broker_qty": broker_qty,
                                "reason": reason,
                            },
                        )

    def _record(self, order: OrderRecord, reported: BrokerOrder) -> None:
        stored = self.ledger.get_order(order.client_order_id) or order
        delta = reported.filled_qty - stored.filled_qty
        if delta > 1e-15 and reported.filled_avg_price is not None:
            price = reported.filled_avg_price
            fee = delta * self.fee_rate * (1.0 if order.side == "buy" else price)
            fill = FillRecord(
                fill_key=f"{order.client_order_id}:{reported.filled_qty!r}",
                client_order_id=order.client_order_id,
                qty=delta,
                price=price,
                fee=fee,
                ts=order.decision_ts,
            )
            if self.ledger.record_fill(fill):
                self._trade(order, fill)
            self._checkpoint("filled")
        self.ledger.update_order(
            order.client_order_id, status=reported.status, broker_order_id=reported.broker_order_id
        )

    def _trade(self, order: OrderRecord, fill: FillRecord) -> None:
        log.info(
            f"TRADE: {order.side.upper()} {fill.qty:.8f} {order.symbol} @ {fill.price:.2f} "
            f"fee {fill.fee:.8f} book {order.portfolio_id} id {order.client_order_id}",
            extra={"portfolio_id": order.portfolio_id, "client_order_id": order.client_order_id},
        )
        self.metrics.trades.labels(order.portfolio_id).inc()
        if self.state_dir is not None:
            append_trades(
                self.state_dir,
                [
                    {
                        "timestamp": fill.ts.isoformat(),
                        "portfolio_id": order.portfolio_id,
                        "symbol": order.symbol,
                        "side": order.side,
                        "qty": fill.qty,
                        "price": fill.price,
                        "notional": fill.qty * fill.price,
                        "fee": fill.fee,
                        "client_order_id": order.client_order_id,
                    }
                ],
            )

    def _rank(self, bar_end: datetime) -> None:
        assert self.arena_id is not None
        ranking = rank_members(
            {p.portfolio_id: self._equity.get(p.portfolio_id, []) for p in self.books},
            bar_end,
            bars_per_year(self.bank.timeframe),
            timedelta(hours=self.config.ranking_window_hours),
            self.config.top_k,
        )
        plans = {p.portfolio_id: p for p in self.books}
        self.ledger.add_ranking(
            [
                RankingRecord(
                    arena_id=self.arena_id,
                    ts=bar_end,
                    portfolio_id=r.portfolio_id,
                    study_name=plans[r.portfolio_id].study_name,
                    trial_id=plans[r.portfolio_id].trial_id,
                    rank=r.rank,
                    sharpe=r.sharpe,
                    promoted=r.promoted,
                )
                for r in ranking
            ]
        )
        for r in ranking:
            self.metrics.rank.labels(r.portfolio_id).set(r.rank)
        if self.config.route == "promoted":
            self._routed = {r.portfolio_id for r in ranking if r.promoted}

    def _report(self, bar_end: datetime, close: list[float]) -> None:
        books: dict[str, dict[str, Any]] = {}
        for plan in self.books:
            book = self.ledger.book(plan.portfolio_id)
            holdings = [book.positions.get(s, 0.0) for s in self.symbols]
            equity = book.cash + sum(q * p for q, p in zip(holdings, close, strict=True))
            peak = max([equity, *(v for _, v in self._equity.get(plan.portfolio_id, []))])
            pid = plan.portfolio_id
            self.metrics.equity.labels(pid).set(equity)
            self.metrics.returns.labels(pid).set(equity / book.initial_cash - 1.0)
            self.metrics.drawdown.labels(pid).set(1.0 - equity / peak if peak > 0 else 0.0)
            status = self.guard_status.get(pid)
            halted = book.halted_reason or (status.reason if status and status.halted else None)
            self.metrics.halted.labels(pid).set(1.0 if halted else 0.0)
            books[pid] = book_state(
                bar_end, book.cash, book.initial_cash, self.symbols, holdings, close, halted
            )
        self.metrics.last_poll.set(bar_end.timestamp())
        if self.state_dir is not None:
            write_positions_state(self.state_dir, books)

    def equity_curve(self, portfolio_id: str) -> list[tuple[datetime, float]]:
        """The book's (decision bar close, equity) series so far."""
        return list(self._equity.get(portfolio_id, []))


def _request(order: OrderRecord) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=OrderSide(order.side),
        qty=order.qty,
        notional=order.notional,
        ref_price=order.ref_price,
    )
