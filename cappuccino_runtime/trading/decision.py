"""The trader's decision step, pure: state -> target weights -> guard verdict and order intents.

No I/O and no clock: the Trader observes (reads the broker and the ledger once per poll into
`MarketState` and `BookState`), the model bank acts (one batched forward pass), these functions
decide, and the order executor (trading/executor.py) and the reporter (trading/reporter.py)
act on the `Decision`. Every function here is tested with plain values
(tests/unit/trading/test_trading_decision.py).

- `book_target`: one book's target weights from the batched actions: an arena member takes its
  own model's weights, an ensemble votes (majority, or the mean action), then the per-asset cap;
- `available`: the cash and units a new decision may plan with, net of what still-open orders
  of earlier bars have committed;
- `decide`: the guards at this bar, then (when trading is allowed) the orders that move the book
  toward the target with the env's execution rule, each with its deterministic client_order_id,
  and the snapshot recorded with them in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import torch
from cappuccino_contracts.artifacts import ExecutionSpec
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.persistence.ledger import (
    OrderRecord,
    OrderSide,
    SnapshotRecord,
)
from cappuccino_runtime.trading.ensemble import (
    EnsembleRule,
    VoteResult,
    mean_action_target,
    vote_targets,
)
from cappuccino_runtime.trading.guards import GuardStatus, cap_targets, check_guards
from cappuccino_runtime.trading.orders import client_order_id, plan_orders

__all__ = [
    "BookState",
    "Decision",
    "MarketState",
    "available",
    "book_target",
    "decide",
    "held_weights",
    "mark",
    "order_identity",
]


@dataclass(frozen=True)
class MarketState:
    """The market at one decision bar, as the broker reported it this poll."""

    symbols: tuple[str, ...]
    bar_end: datetime  # close time of the newest completed bar
    step: timedelta  # one bar
    now: datetime  # the broker's clock (the replay clock when replaying)
    close: tuple[float, ...]  # the bar's close, what books are marked at
    prices: tuple[float, ...]  # what market orders fill at now (before slippage)
    tradable: tuple[bool, ...]  # per asset, False where there is nothing to fill in
    can_trade: bool


@dataclass(frozen=True)
class BookState:
    """One book as the ledger holds it at this poll, and what its guards look at."""

    portfolio_id: str
    token: str
    cash: float
    holdings: tuple[float, ...]
    initial_cash: float
    halted_reason: str | None
    equity_history: Sequence[tuple[datetime, float]]  # decided bars before this one
    open_orders: Sequence[OrderRecord] = ()
    trade_times: Sequence[datetime] = ()  # the book's fills of the trailing hour


@dataclass(frozen=True)
class Decision:
    """What one book decided at one bar; `halt` is a kill-switch reason to persist (latch)."""

    status: GuardStatus
    snapshot: SnapshotRecord
    orders: tuple[OrderRecord, ...]
    halt: str | None


def mark(cash: float, holdings: Sequence[float], close: Sequence[float]) -> float:
    """The book's equity at `close`."""
    return cash + sum(q * p for q, p in zip(holdings, close, strict=True))


def held_weights(cash: float, holdings: Sequence[float], close: Sequence[float]) -> list[float]:
    """The book's asset weights at `close` (all 0 for a book without equity)."""
    equity = mark(cash, holdings, close)
    return [q * p / equity if equity > 0 else 0.0 for q, p in zip(holdings, close, strict=True)]


def order_identity(portfolio_id: str, token: str) -> str:
    """What client_order_ids derive from: the portfolio id and its persisted random token."""
    return f"{portfolio_id}#{token}" if token else portfolio_id


def book_target(
    slots: Sequence[int],
    actions: torch.Tensor,
    current: torch.Tensor,
    weights: torch.Tensor,
    held: Sequence[float],
    *,
    rule: EnsembleRule,
    vote_dead_band: float,
    max_position_fraction: float,
) -> tuple[list[float], VoteResult | None]:
    """One book's capped target weights, and the vote when an ensemble voted.

    Args:
        slots: the model slots driving the book (1: an arena member, N: an ensemble).
        actions: raw actions [models, assets] of every slot (one batched pass).
        current: each slot's book weights [models, assets] before acting.
        weights: each slot's target weights [models, assets] (env.actions.action_to_weights).
        held: the book's asset weights at the bar's close (the vote's HOLD reference).
    """
    idx = list(slots)
    vote: VoteResult | None = None
    if len(idx) == 1:
        target = [float(w) for w in weights[idx[0]].tolist()]
    elif rule is EnsembleRule.MEAN_ACTION:
        target = mean_action_target(actions[idx], current[idx[0]])
    else:
        vote = vote_targets(weights[idx].numpy(), list(held), vote_dead_band)
        target = vote.target
    return cap_targets(target, max_position_fraction), vote


def available(
    cash: float,
    holdings: Sequence[float],
    open_orders: Sequence[OrderRecord],
    symbols: Sequence[str],
) -> tuple[float, list[float]]:
    """Cash and units a new decision may plan with: the book's, less what still-open orders
    of earlier bars have committed (unfilled buy notional, unfilled sell units)."""
    holdings = list(holdings)
    index = {s: i for i, s in enumerate(symbols)}
    for order in open_orders:
        i = index.get(order.symbol)
        if i is None:
            continue
        if order.side is OrderSide.BUY and order.notional is not None:
            cash -= max(0.0, order.notional - order.filled_notional)
        elif order.side is OrderSide.SELL and order.qty is not None:
            holdings[i] -= max(0.0, order.qty - order.filled_qty)
    return max(0.0, cash), [max(0.0, h) for h in holdings]


def decide(
    book: BookState,
    target: Sequence[float],
    market: MarketState,
    risk: RiskSettings,
    execution: ExecutionSpec,
    *,
    min_order_notional: float,
) -> Decision:
    """The guards at this bar, and when they allow it the orders toward `target`.

    Args:
        book: the book's state (after this poll's fills of older orders).
        target: its capped target weights (`book_target`).
        market: this poll's market.
        risk: the guard limits.
        execution: the model's frozen execution rule (fee, slippage, minimums, band).
        min_order_notional: the broker's minimum order notional (the stricter wins).
    """
    equity = mark(book.cash, book.holdings, market.close)
    status = check_guards(
        risk,
        now=market.now,
        equity=[*book.equity_history, (market.bar_end, equity)],
        latest_bar_end=market.bar_end,
        trade_times=book.trade_times,
        latched_reason=book.halted_reason,
    )
    orders: tuple[OrderRecord, ...] = ()
    if market.can_trade and not status.halted:
        cash, holdings = available(book.cash, book.holdings, book.open_orders, market.symbols)
        planned = plan_orders(
            symbols=market.symbols,
            cash=cash,
            holdings=holdings,
            prices=market.prices,
            target=target,
            execution=execution,
            tradable=market.tradable,
            broker_min_notional=min_order_notional,
        )
        identity = order_identity(book.portfolio_id, book.token)
        decision_ts = market.bar_end - market.step
        orders = tuple(
            OrderRecord(
                client_order_id=client_order_id(identity, decision_ts, o.symbol, o.side),
                portfolio_id=book.portfolio_id,
                symbol=o.symbol,
                side=o.side,
                ref_price=o.ref_price,
                decision_ts=market.bar_end,
                created_at=market.now,
                qty=o.qty,
                notional=o.notional,
            )
            for o in planned
        )
    snapshot = SnapshotRecord(
        book.portfolio_id, market.bar_end, equity, book.cash, equity - book.cash, status.reason
    )
    halt = status.reason if status.latched and book.halted_reason is None else None
    return Decision(status, snapshot, orders, halt)
