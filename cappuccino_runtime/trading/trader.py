"""The trader loop: it observes, and sequences the three parts that decide and act.

Three parts, each testable alone: the decision step (trading/decision.py: book state and
market -> target weights -> guard verdict, snapshot and order intents; pure), the order
executor (trading/executor.py: intents, submission, reconciliation of fills and fees) and the
reporter (trading/reporter.py: TRADE: lines, metrics, liveness, state files). The Trader reads
the broker and the ledger (observe), runs the models' batched forward pass, and hands the
results on; what a shared broker account holds for each routed book is trading/account.py.
A poll reads each book once (again only after a fill or fee moved it) and the open orders
through the ledger's status index: its cost grows with the books and their open orders, never
with the order history (tests/integration/trading/test_trading_poll_cost.py).

One Trader drives one or more books (one ensemble book, or N arena member books and the routed
books of promoted members) from one market poll:

1. history = broker.history(...) ends at the newest completed bar t (bar_end = its close time);
2. every book is marked to market at t's close, and risk guards are checked;
3. every model's state is built with the env's state builder, and all models act in one
   batched forward pass (ModelBank); an ensemble votes, an arena member uses its own model;
4. target weights -> orders with the env's rebalance arithmetic at the broker's fill price,
   minus a cost-aware dead band; the snapshot at t and all order intents are written in ONE
   transaction (`Ledger.record_decision`) before anything is sent; an arena's routed books
   (below) are decided first, with their member's target weights of this bar or all cash;
5. intents are executed: routed books through the broker (idempotent client_order_id derived
   from the book's persisted random token), local books (arena members on a live broker)
   filled with the env's rule; fills are recorded per increment; fees the broker posts later
   (Alpaca CFEE) are booked when they appear; the broker's positions are compared with the
   routed books (never copied into them: an account may hold other deployments' units) and
   sells are capped at what the account holds for the book;
6. arena ranking (members only), positions_state.json / trades_history.json, `TRADE:` lines,
   metrics (every book, routed books included).

Arena on a live broker (`route="promoted"`, trading/routing.py): no book ever changes venue.
Member books are local and ranked; a promoted member gets a separate routed book
`<member>/routed` (opened at that ranking if the account's free cash covers `initial_cash`,
else a warning), which mirrors the member's target weights while it is promoted and winds down
to cash, selling only what the account holds for it, once it is demoted. Routed books are found
again in the ledger at start-up; the last ranking says which of them mirror.

Start-up: a routed book that starts fresh must fit in the broker account's cash (else a clear
refusal); it starts from its own initial cash and no positions, never from the account's, so
there is no false drawdown on a used account.

Restart safety: a bar whose snapshot exists was already decided and is never decided again;
open intents of the current bar are executed (the broker adopts an id it already knows),
older open orders are looked up and recorded, and old intents the broker never received are
abandoned (live) rather than sent late. A replay resumes its clock at the oldest book's last
decision (`Broker.resume_at`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from cappuccino_contracts.risk import RiskSettings
from pydantic import BaseModel, ConfigDict, Field

from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.errors import (
    ConfigError,
    DataUnavailable,
    StorageUnavailable,
    TemporaryBrokerError,
)
from cappuccino_runtime.metrics import bars_per_year
from cappuccino_runtime.persistence.ledger import (
    Book,
    FillRecord,
    Ledger,
    OrderRecord,
    RankingRecord,
)
from cappuccino_runtime.timeframes import timeframe_delta
from cappuccino_runtime.trading.account import AccountShare
from cappuccino_runtime.trading.arena import rank_members
from cappuccino_runtime.trading.brokers.base import Broker
from cappuccino_runtime.trading.decision import (
    BookState,
    MarketState,
    book_target,
    decide,
    held_weights,
)
from cappuccino_runtime.trading.ensemble import EnsembleRule
from cappuccino_runtime.trading.executor import OrderExecutor
from cappuccino_runtime.trading.guards import GuardKind, GuardStatus
from cappuccino_runtime.trading.observation import MarketWindow, history_bars
from cappuccino_runtime.trading.ops import TraderMetrics
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.reporter import Reporter
from cappuccino_runtime.trading.routing import ArenaRouter

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
    initial_cash: float = Field(
        default=10_000.0, gt=0, allow_inf_nan=False, description="cash of a new book"
    )
    risk: RiskSettings = Field(default_factory=RiskSettings, description="risk guard limits")
    ranking_window_hours: float = Field(default=7 * 24, gt=0, description="arena Sharpe window")
    top_k: int = Field(default=3, ge=0, description="arena members promoted")
    route: Literal["all", "promoted"] = Field(
        default="all",
        description=(
            "all: new books send orders to the broker; promoted (arena on a live broker): member "
            "books are filled locally at the broker's prices, and a promoted member gets a "
            "separate routed book `<member>/routed` that mirrors its target weights through the "
            "broker and winds down to cash when the member is demoted (trading/routing.py). A "
            "book's venue is fixed when it is opened and never changes."
        ),
    )
    min_eval_hours: float = Field(
        default=7 * 24, ge=0, description="arena: evaluation period before any promotion"
    )
    enter_psr: float = Field(default=0.95, ge=0, le=1, description="arena: PSR to be promoted")
    exit_psr: float = Field(default=0.5, ge=0, le=1, description="arena: PSR to stay promoted")
    read_back_positions: bool = Field(
        default=False, description="overwrite the routed book's positions with the broker's"
    )
    max_polls: int | None = Field(default=None, ge=1, description="stop after N polls")
    liveness_polls: float = Field(
        default=3.0, gt=0, description="/healthz fails when no poll finished for N intervals"
    )


@dataclass(frozen=True)
class BookPlan:
    """One book and the model slots that drive it (1 for an arena member, N for an ensemble)."""

    portfolio_id: str
    slots: tuple[int, ...]
    study_name: str = ""
    trial_id: int = 0


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
        self.metrics.stall_after_s = self.config.liveness_polls * self.config.poll_seconds
        self._checkpoint = checkpoint or (lambda _label: None)
        self.symbols = bank.symbols
        self.step_delta = timeframe_delta(bank.timeframe).to_pytimedelta()
        self.n_history = max(history_bars(s.spec) for s in bank.slots)
        self.fee_rate = broker.fee_rate
        self.slippage = bank.slots[0].spec.execution.slippage  # the model's, never the trader's
        self.dead_band = self.fee_rate if self.config.dead_band is None else self.config.dead_band
        self._equity: dict[str, list[tuple[datetime, float]]] = {}
        self._routed: set[str] = {b.portfolio_id for b in self.books}
        self._tokens: dict[str, str] = {}
        self._promoted: set[str] = set()
        self._routed_plans: dict[str, BookPlan] = {}  # member id -> its routed book (arena)
        self.guard_status: dict[str, GuardStatus] = {}
        self._books: dict[str, Book] = {}  # this poll's reads (trader.step)
        self.reporter = Reporter(self.metrics, state_dir, self.symbols)
        self.executor = OrderExecutor(
            broker,
            ledger,
            slippage=self.slippage,
            on_fill=self._filled,
            checkpoint=self._checkpoint,
        )
        self.account = AccountShare(broker, ledger, self._book, self._routed)
        self.router = (
            ArenaRouter(
                [p.portfolio_id for p in self.books],
                broker,
                ledger,
                self._book,
                self._routed,
                self.config.initial_cash,
            )
            if arena_id is not None and self.config.route == "promoted"
            else None
        )

    def plans(self) -> list[BookPlan]:
        """Every book this trader drives: the members (or the ensemble), then routed books."""
        return [*self.books, *self._routed_plans.values()]

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Opens the books, checks the start state, loads equity history, resumes a replay."""
        now = self.broker.now()
        lasts: list[datetime] = []
        fresh: list[str] = []
        venue = "broker" if self.config.route == "all" else "local"
        self._routed.clear()  # the set AccountShare holds
        for plan in self.books:
            book = self.ledger.open_portfolio(
                plan.portfolio_id, self.config.initial_cash, now, venue=venue
            )
            self._tokens[plan.portfolio_id] = book.token
            if (book.venue or venue) == "broker":
                self._routed.add(plan.portfolio_id)
            history = [(s.ts, s.equity) for s in self.ledger.snapshots(plan.portfolio_id)]
            self._equity[plan.portfolio_id] = history
            if history:
                lasts.append(history[-1][0])
            elif not self.ledger.open_orders(plan.portfolio_id):
                fresh.append(plan.portfolio_id)
        if lasts and len(lasts) == len(self.books):
            self.broker.resume_at(min(lasts))
        elif lasts:
            log.info("some books have no decision yet; the replay starts where configured")
        if self.arena_id:
            ranking = self.ledger.latest_ranking(self.arena_id)
            self._promoted = {r.portfolio_id for r in ranking if r.promoted}
        self._restore_routed()
        if not self.broker.fees_inline:
            self._check_start_state(fresh)
        self.executor.load_booked_fees(p.portfolio_id for p in self.plans())
        self.reporter.catch_up(self.ledger, [p.portfolio_id for p in self.plans()])
        known = {
            o.client_order_id for p in self.plans() for o in self.ledger.open_orders(p.portfolio_id)
        }
        foreign = [
            o.client_order_id for o in self.broker.open_orders() if o.client_order_id not in known
        ]
        if foreign:
            log.info(
                "the broker account has open orders this deployment did not create; they are "
                "left alone",
                extra={"ids": foreign[:20], "count": len(foreign)},
            )

    def _restore_routed(self) -> None:
        """The arena's routed books the ledger holds (trading/routing.py), with their history."""
        self._routed_plans.clear()
        if self.router is not None:
            for member, book in self.router.restore():
                self._adopt_routed(member, book)

    def _adopt_routed(self, member: str, book: Book) -> None:
        plan = next(p for p in self.books if p.portfolio_id == member)
        self._routed_plans[member] = replace(plan, portfolio_id=book.portfolio_id)
        self._tokens[book.portfolio_id] = book.token
        snapshots = self.ledger.snapshots(book.portfolio_id)
        self._equity[book.portfolio_id] = [(s.ts, s.equity) for s in snapshots]

    def _check_start_state(self, fresh: list[str]) -> None:
        """A fresh routed book must fit in the account's cash; it never takes over positions."""
        routed_fresh = [pid for pid in fresh if pid in self._routed]
        if not routed_fresh:
            if self.config.read_back_positions:
                self.account.reconcile(self.symbols, reason="start-up")
            return
        need = sum(self.ledger.book(pid).cash for pid in routed_fresh)
        cash = self.broker.cash()
        if cash + 1e-9 < need:
            raise ConfigError(
                f"the broker account has ${cash:,.2f} cash, less than the ${need:,.2f} the new "
                f"book(s) {', '.join(routed_fresh)} start with. Lower initial_cash in the "
                "manifest to at most the account's free cash, or use a funded (or fresh) paper "
                "account; the trader does not take over positions it did not buy."
            )
        held = {s: q for s, q in self.broker.positions().items() if abs(q) > 0}
        if held:
            log.warning(
                "the broker account already holds positions; the new book starts from its own "
                "initial cash and no positions and never sells units it did not buy",
                extra={"positions": held, "books": routed_fresh},
            )

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
            self.metrics.heartbeat()
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
        for plan in self.plans():
            self.guard_status[plan.portfolio_id] = GuardStatus(
                halted=True, kind=GuardKind.STALE_DATA, reason=reason
            )
            self.metrics.halted.labels(plan.portfolio_id).set(1.0)
        log.warning("poll failed; no book trades this poll", extra={"reason": reason})

    # -- one poll ------------------------------------------------------------------------------
    def step(self) -> None:
        """One poll: observe, work open orders, decide undecided books, execute, rank, report.

        Each book is read from the ledger once per poll (`_book`), again only after a fill or
        a fee changed it; open orders come from the ledger's status index. The cost of a poll
        grows with the books and their open orders, never with the order history.
        """
        self._books.clear()
        history = self.broker.history(self.symbols, self.bank.timeframe, self.n_history)
        market = self._observe(history)
        for plan in self.plans():
            self._execute(plan, market.bar_end, market.can_trade)
        pending = [p for p in self.books if not self._decided(p.portfolio_id, market.bar_end)]
        targets = self._targets(MarketWindow(history), pending, market.close) if pending else {}
        self._decide_routed(targets, market)  # before their members (see trading/routing.py)
        for plan in pending:
            self._decide(plan, targets[plan.portfolio_id], market)
        self._book_fees()
        if self.config.read_back_positions:
            self.account.reconcile(self.symbols, reason="after the poll")
        if self.arena_id:
            self._rank(market.bar_end)
        self._report(market.bar_end, list(market.close))

    def _observe(self, history: MarketData) -> MarketState:
        """The market part of this poll, read from the broker once."""
        n = len(self.symbols)
        can_trade = self.broker.can_trade()
        close = tuple(float(c) for c in history.close[-1])
        return MarketState(
            symbols=self.symbols,
            bar_end=pd.Timestamp(history.index[-1]).to_pydatetime() + self.step_delta,
            step=self.step_delta,
            now=self.broker.now(),
            close=close,
            prices=tuple(self.broker.fill_prices(self.symbols)) if can_trade else close,
            tradable=tuple(self.broker.fill_tradable(self.symbols)) if can_trade else (False,) * n,
            can_trade=can_trade,
        )

    def _book(self, portfolio_id: str) -> Book:
        """The book as the ledger holds it, read once per poll (until a fill or fee moves it)."""
        book = self._books.get(portfolio_id)
        if book is None:
            book = self._books[portfolio_id] = self.ledger.book(portfolio_id)
        return book

    def _filled(self, order: OrderRecord, fill: FillRecord) -> None:
        self._books.pop(order.portfolio_id, None)
        self.reporter.fill(order, fill)

    def _decided(self, portfolio_id: str, bar_end: datetime) -> bool:
        history = self._equity.get(portfolio_id, [])
        return bool(history) and history[-1][0] >= bar_end

    # -- decision (trading/decision.py) --------------------------------------------------------
    def _targets(
        self, window: MarketWindow, pending: list[BookPlan], close: Sequence[float]
    ) -> dict[str, list[float]]:
        """One batched forward pass over every slot, then each pending book's target weights."""
        owner = {i: self._book(p.portfolio_id) for p in self.books for i in p.slots}
        holdings = {i: [b.positions.get(s, 0.0) for s in self.symbols] for i, b in owner.items()}
        observations = [
            window.observe(slot.spec, owner[i].cash, holdings[i], owner[i].initial_cash)
            for i, slot in enumerate(self.bank.slots)
        ]
        actions = self.bank.actions(observations)
        current = torch.stack(
            [window.weights(owner[i].cash, holdings[i]) for i in range(len(observations))]
        )
        weights = action_to_weights(actions, current)
        out: dict[str, list[float]] = {}
        for plan in pending:
            first = plan.slots[0]
            target, vote = book_target(
                plan.slots,
                actions,
                current,
                weights,
                held_weights(owner[first].cash, holdings[first], close),
                rule=self.config.rule,
                vote_dead_band=self.config.vote_dead_band,
                max_position_fraction=self.config.risk.max_position_fraction,
            )
            if vote is not None:
                log.info(
                    "ensemble vote",
                    extra={
                        "portfolio_id": plan.portfolio_id,
                        "sides": [s.value for s in vote.sides],
                        "target": vote.target,
                    },
                )
            out[plan.portfolio_id] = target
        return out

    def _decide_routed(self, targets: dict[str, list[float]], market: MarketState) -> None:
        """Routed books mirror their promoted member's targets of this bar, or wind down."""
        if self.router is None or not self._routed_plans:
            return
        plans = {p.portfolio_id: p for p in self._routed_plans.values()}
        pending = [pid for pid in plans if not self._decided(pid, market.bar_end)]
        routed = self.router.targets(targets, self._promoted, pending, len(self.symbols))
        for pid, target in routed.items():
            self._decide(plans[pid], target, market)

    def _state(self, plan: BookPlan, market: MarketState) -> BookState:
        """What the decision needs of one book: its row, open orders and last hour's fills."""
        pid = plan.portfolio_id
        book = self._book(pid)
        since = market.bar_end - timedelta(hours=1)
        return BookState(
            portfolio_id=pid,
            token=self._tokens.get(pid, ""),
            cash=book.cash,
            holdings=tuple(book.positions.get(s, 0.0) for s in self.symbols),
            initial_cash=book.initial_cash,
            halted_reason=book.halted_reason,
            equity_history=self._equity.get(pid, []),
            open_orders=self.ledger.open_orders(pid) if market.can_trade else (),
            trade_times=[f.ts for f in self.ledger.fills(pid, since=since)],
        )

    def _decide(self, plan: BookPlan, target: list[float], market: MarketState) -> None:
        """Decides one book (pure), records the decision in one transaction, executes it."""
        pid = plan.portfolio_id
        decision = decide(
            self._state(plan, market),
            target,
            market,
            self.config.risk,
            self.bank.slots[plan.slots[0]].spec.execution,
            min_order_notional=self.config.min_order_notional,
        )
        status = decision.status
        self.guard_status[pid] = status
        if decision.halt is not None:
            self.ledger.set_halt(pid, decision.halt)
            self._books.pop(pid, None)
        if status.halted:
            log.warning(
                "book halted by a risk guard; not trading",
                extra={"portfolio_id": pid, "guard": status.kind, "reason": status.reason},
            )
        if self.ledger.record_decision(decision.snapshot, list(decision.orders)):
            self._equity.setdefault(pid, []).append((market.bar_end, decision.snapshot.equity))
        self._checkpoint("decided")
        self._execute(plan, market.bar_end, market.can_trade)

    # -- execution (trading/executor.py) --------------------------------------------------------
    def _execute(self, plan: BookPlan, bar_end: datetime, can_trade: bool) -> None:
        pid = plan.portfolio_id
        routed = pid in self._routed
        self.executor.execute(
            pid,
            bar_end,
            can_trade,
            routed=routed,
            sellable=(lambda symbol: self.account.sellable(pid, symbol)) if routed else None,
            spendable=(lambda: self.account.spendable(pid)) if routed else None,
        )

    def _book_fees(self) -> None:
        routed = [p.portfolio_id for p in self.plans() if p.portfolio_id in self._routed]
        if self.executor.book_fees(routed, self.broker.now()):
            self._books.clear()  # a posted fee moved a book's cash or units

    def _rank(self, bar_end: datetime) -> None:
        """Ranks the arena's members (PSR, evaluation period, hysteresis; routed books are not
        ranked) and opens a routed book for each newly promoted member; never changes a book's
        venue."""
        assert self.arena_id is not None
        step_hours = self.step_delta.total_seconds() / 3600.0
        ranking = rank_members(
            {p.portfolio_id: self._equity.get(p.portfolio_id, []) for p in self.books},
            bar_end,
            bars_per_year(self.bank.timeframe),
            timedelta(hours=self.config.ranking_window_hours),
            self.config.top_k,
            # a week of bars = that many snapshots = one return fewer
            min_returns=max(2, math.ceil(self.config.min_eval_hours / step_hours) - 1),
            promoted_before=self._promoted,
            enter_psr=self.config.enter_psr,
            exit_psr=self.config.exit_psr,
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
                    psr=r.psr,
                    sharpe_se=r.sharpe_se,
                    n_returns=r.n_returns,
                )
                for r in ranking
            ]
        )
        for r in ranking:
            self.metrics.rank.labels(r.portfolio_id).set(r.rank)
        self._promoted = {r.portfolio_id for r in ranking if r.promoted}
        if self.router is not None:
            for member, book in self.router.open_promoted(self._promoted, self.broker.now()):
                self._adopt_routed(member, book)

    def _report(self, bar_end: datetime, close: list[float]) -> None:
        rows = []
        for plan in self.plans():
            pid = plan.portfolio_id
            book = self._book(pid)
            peak = max([0.0, *(v for _, v in self._equity.get(pid, []))])
            status = self.guard_status.get(pid)
            halted = book.halted_reason or (status.reason if status and status.halted else None)
            rows.append((book, peak, halted))
        self.reporter.poll(bar_end, close, rows)

    def equity_curve(self, portfolio_id: str) -> list[tuple[datetime, float]]:
        """The book's (decision bar close, equity) series so far."""
        return list(self._equity.get(portfolio_id, []))
