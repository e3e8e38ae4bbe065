"""Ensemble, arena, trade-history and performance pages from the trading ledger.

Books are read from `portfolios`/`positions`, curves from `portfolio_snapshots` (the newest
MAX_SNAPSHOTS per book), rankings from `arena_rankings` (the newest MAX_RANKINGS rankings per
arena). Metrics come from cappuccino_runtime.metrics, with returns between consecutive
snapshots annualised by the snapshots' own spacing. A book is an arena member when it appears
in `arena_rankings`; every other book is an ensemble (single) portfolio.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from cappuccino_contracts.tables import ArenaRankingRow, FillRow, PortfolioRow, PortfolioSnapshotRow
from cappuccino_contracts.tables import PositionRow as PositionTable
from sqlalchemy import Engine, func, select

from cappuccino_runtime.dashboard._sql import QueryLog, as_utc_required
from cappuccino_runtime.dashboard.market import Benchmarks
from cappuccino_runtime.dashboard.pages import (
    ArenaMember,
    ArenaPage,
    ArenaView,
    BookView,
    DrawdownStatus,
    EnsemblePage,
    PerformancePage,
    PerformanceRow,
    PositionRow,
    ProcessStatus,
    Series,
    TradeRow,
    TradesPage,
    TradesStatus,
)
from cappuccino_runtime.metrics import (
    alpha_vs_benchmark,
    annualised_sharpe,
    annualised_sortino,
    churn,
    max_drawdown,
    returns_from_equity,
    sharpe_standard_error,
    trades_per_hour,
)

__all__ = [
    "MAX_RANKINGS",
    "MAX_SNAPSHOTS",
    "RECENT_TRADES",
    "TARGETS",
    "LedgerPages",
    "average_cost",
    "build_ledger_pages",
    "drawdown_status",
    "trades_status",
]

MAX_SNAPSHOTS = 20_000
MAX_RANKINGS = 500
RECENT_TRADES = 200
DEFAULT_WINDOW = timedelta(days=7)
TARGETS = {
    "trades per hour": "1-3 (warning above 5: churning)",
    "max drawdown": "< 10 % (warning above 20 %)",
    "alpha": "> 0 (agent return minus buy-and-hold's)",
    "Sharpe": "annualised; the original's > 0.1 / > 0.15 were on its own non-annualised scale",
}
"""The original's operating targets (shared/reference/original-formats.md)."""


def trades_status(per_hour: float | None) -> TradesStatus:
    """The original's target: 1-3 trades per hour, above 5 is churning."""
    if per_hour is None:
        return "n/a"
    if per_hour > 5:
        return "churning"
    if per_hour > 3:
        return "high"
    return "ok" if per_hour >= 1 else "low"


def drawdown_status(drawdown: float | None) -> DrawdownStatus:
    """The original's target: max drawdown below 10 %, a warning above 20 %."""
    if drawdown is None:
        return "n/a"
    if drawdown > 0.20:
        return "warning"
    return "ok" if drawdown < 0.10 else "watch"


def average_cost(fills: Sequence[tuple[str, float, float, float]]) -> float | None:
    """Average cost per unit held after (side, qty, price, fee) fills, oldest first.

    Buys add qty - fee units (fee in the received asset) at a cost of qty x price; sells remove
    units at the running average cost. None when nothing is held.
    """
    units, cost = 0.0, 0.0
    for side, qty, price, fee in fills:
        if side == "buy":
            units += qty - fee
            cost += qty * price
        else:
            avg = cost / units if units > 1e-12 else 0.0
            units -= qty
            cost -= avg * qty
        if units <= 1e-12:
            units, cost = 0.0, 0.0
    return cost / units if units > 1e-12 else None


@dataclass(frozen=True)
class LedgerPages:
    ensemble: EnsemblePage
    arena: ArenaPage
    trades: TradesPage
    performance: PerformancePage


def _f(v: Any) -> float:
    return float(v)


def _periods_per_year(times: Sequence[datetime]) -> float | None:
    if len(times) < 3:
        return None
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    step = statistics.median(gaps)
    return 365 * 86400 / step if step > 0 else None


@dataclass
class _Book:
    row: Any
    positions: dict[str, float]
    times: list[datetime]
    equity: list[float]
    fills: list[Any]


def _load_books(conn: Any, log: QueryLog) -> dict[str, _Book]:
    books = {
        r.portfolio_id: _Book(r, {}, [], [], [])
        for r in log.fetch(conn, select(PortfolioRow.__table__).order_by(PortfolioRow.portfolio_id))
    }
    for r in log.fetch(conn, select(PositionTable.__table__)):
        if r.portfolio_id in books and _f(r.qty) != 0.0:
            books[r.portfolio_id].positions[r.symbol] = _f(r.qty)
    snap = PortfolioSnapshotRow
    for pid, book in books.items():
        rows = log.fetch(
            conn,
            select(snap.ts, snap.equity)
            .where(snap.portfolio_id == pid)
            .order_by(snap.ts.desc())
            .limit(MAX_SNAPSHOTS),
        )
        for r in reversed(rows):
            book.times.append(as_utc_required(r.ts))
            book.equity.append(_f(r.equity))
        book.fills = list(
            log.fetch(
                conn,
                select(FillRow.symbol, FillRow.side, FillRow.qty, FillRow.price, FillRow.fee)
                .where(FillRow.portfolio_id == pid)
                .order_by(FillRow.id),
            )
        )
    return books


def _positions(book: _Book, prices: dict[str, tuple[float, str]]) -> list[PositionRow]:
    out = []
    for symbol, qty in sorted(book.positions.items()):
        mine = [
            (f.side, _f(f.qty), _f(f.price), _f(f.fee)) for f in book.fills if f.symbol == symbol
        ]
        avg = average_cost(mine)
        price, source = prices.get(symbol, (None, "not available"))
        if price is None and mine:
            price, source = mine[-1][2], "last fill"
        out.append(
            PositionRow(
                ticker=symbol,
                quantity=qty,
                avg_entry=avg,
                current_price=price,
                price_source=source,
                position_value=None if price is None else qty * price,
                pnl_pct=None if price is None or not avg else (price / avg - 1.0) * 100.0,
            )
        )
    return out


def _book_view(
    pid: str,
    book: _Book,
    benchmarks: Benchmarks | None,
    trader: ProcessStatus,
) -> BookView:
    symbols = sorted({*book.positions, *(f.symbol for f in book.fills)})
    curves, note, prices = (
        benchmarks.curves(symbols, book.times, _f(book.row.initial_cash))
        if benchmarks is not None
        else ([], "no market data source configured", {})
    )
    return BookView(
        portfolio_id=pid,
        initial_cash=_f(book.row.initial_cash),
        cash=_f(book.row.cash),
        equity=book.equity[-1] if book.equity else None,
        last_update=book.times[-1] if book.times else None,
        halted_reason=book.row.halted_reason,
        positions=_positions(book, prices),
        equity_curve=Series(name=pid, x=book.times, y=book.equity),
        snapshots=len(book.times),
        benchmarks=curves,
        benchmark_note=note,
        trader=trader,
    )


def _performance(pid: str, book: _Book, view: BookView) -> PerformanceRow:
    eq = np.asarray(book.equity, dtype=np.float64)
    ppy = _periods_per_year(book.times)
    returns = returns_from_equity(eq) if len(eq) > 1 else np.array([])
    by_symbol: dict[str, list[str]] = defaultdict(list)
    notional, fees = 0.0, 0.0
    for f in book.fills:
        by_symbol[f.symbol].append(f.side)
        notional += _f(f.qty) * _f(f.price)
        fees += _f(f.fee) * (_f(f.price) if f.side == "buy" else 1.0)  # buy fees are in units
    bh = next((s for s in view.benchmarks if s.name.startswith("buy-and-hold")), None)
    alpha = None
    if bh is not None and len(eq) > 1 and all(v is not None for v in bh.y):
        alpha = alpha_vs_benchmark(eq, np.asarray(bh.y, dtype=np.float64))
    elapsed = (book.times[-1] - book.times[0]).total_seconds() if len(book.times) > 1 else 0.0
    per_hour = trades_per_hour(len(book.fills), elapsed) if elapsed > 0 else None
    dd = float(max_drawdown(eq)) if len(eq) else None
    return PerformanceRow(
        portfolio_id=pid,
        bars=len(eq),
        total_return=float(eq[-1] / eq[0] - 1.0) if len(eq) > 1 else None,
        sharpe=float(annualised_sharpe(returns, ppy)) if ppy and len(returns) > 1 else None,
        sortino=float(annualised_sortino(returns, ppy)) if ppy and len(returns) > 1 else None,
        max_drawdown=dd,
        alpha=alpha,
        trades=len(book.fills),
        trades_per_hour=per_hour,
        churn=sum(churn(s) for s in by_symbol.values()),
        turnover=notional / float(np.mean(eq)) if len(eq) else None,
        fees=fees,
        trades_status=trades_status(per_hour),
        drawdown_status=drawdown_status(dd),
    )


def _arenas(
    conn: Any, log: QueryLog, books: dict[str, _Book], windows: dict[str, float]
) -> tuple[list[ArenaView], set[str]]:
    rk = ArenaRankingRow
    arena_ids = [r.arena_id for r in log.fetch(conn, select(rk.arena_id).distinct())]
    views, members_all = [], set()
    for arena_id in sorted(arena_ids):
        recent = (
            select(rk.ts)
            .where(rk.arena_id == arena_id)
            .distinct()
            .order_by(rk.ts.desc())
            .limit(MAX_RANKINGS)
            .subquery()
        )
        rows = log.fetch(
            conn,
            select(
                rk.ts, rk.portfolio_id, rk.study_name, rk.trial_id, rk.rank, rk.sharpe, rk.promoted
            )
            .where(rk.arena_id == arena_id, rk.ts.in_(select(recent.c.ts)))
            .order_by(rk.ts, rk.rank),
        )
        history: dict[str, tuple[list[datetime], list[float | None]]] = defaultdict(
            lambda: ([], [])
        )
        for r in rows:
            xs, ys = history[r.portfolio_id]
            xs.append(as_utc_required(r.ts))
            ys.append(float(r.rank))
        newest = max((as_utc_required(r.ts) for r in rows), default=None)
        window = timedelta(seconds=windows.get(arena_id, DEFAULT_WINDOW.total_seconds()))
        members = []
        for r in (r for r in rows if as_utc_required(r.ts) == newest):
            members_all.add(r.portfolio_id)
            book = books.get(r.portfolio_id)
            n = 0
            ppy = None
            if book is not None and newest is not None:
                n = max(0, sum(1 for t in book.times if newest - window < t <= newest) - 1)
                ppy = _periods_per_year(book.times)
            se = (
                sharpe_standard_error(r.sharpe, n, ppy)
                if r.sharpe is not None and ppy and n >= 2
                else None
            )
            members.append(
                ArenaMember(
                    portfolio_id=r.portfolio_id,
                    study_name=r.study_name,
                    trial_id=int(r.trial_id),
                    rank=int(r.rank),
                    sharpe=r.sharpe,
                    sharpe_stderr=se,
                    window_returns=n,
                    promoted=bool(r.promoted),
                    equity=book.equity[-1] if book and book.equity else None,
                )
            )
        views.append(
            ArenaView(
                arena_id=arena_id,
                ranked_at=newest,
                members=members,
                rank_history=[
                    Series(name=pid, x=xs, y=ys) for pid, (xs, ys) in sorted(history.items())
                ],
                equity_curves=[
                    Series(
                        name=m.portfolio_id,
                        x=books[m.portfolio_id].times,
                        y=books[m.portfolio_id].equity,
                    )
                    for m in members
                    if m.portfolio_id in books
                ],
                window_seconds=window.total_seconds(),
                note=(
                    "Sharpe over the ranking window, annualised, ± its standard error "
                    "(Lo 2002: sqrt((1 + SR²/2) / n) per bar); members within about two "
                    "standard errors of each other are not distinguishable."
                ),
            )
        )
    return views, members_all


def _trades(conn: Any, log: QueryLog, portfolio_ids: Sequence[str] | None) -> TradesPage:
    query = select(
        FillRow.ts,
        FillRow.portfolio_id,
        FillRow.symbol,
        FillRow.side,
        FillRow.qty,
        FillRow.price,
        FillRow.fee,
        FillRow.client_order_id,
    )
    count = select(func.count(FillRow.id))
    if portfolio_ids is not None:
        query = query.where(FillRow.portfolio_id.in_(portfolio_ids))
        count = count.where(FillRow.portfolio_id.in_(portfolio_ids))
    rows = log.fetch(
        conn, query.order_by(FillRow.ts.desc(), FillRow.id.desc()).limit(RECENT_TRADES)
    )
    total = int(log.fetch(conn, count)[0][0])
    trades = [
        TradeRow(
            time=as_utc_required(r.ts),
            portfolio_id=r.portfolio_id,
            ticker=r.symbol,
            side=r.side,
            quantity=_f(r.qty),
            price=_f(r.price),
            notional=_f(r.qty) * _f(r.price),
            fee=_f(r.fee),
            fee_currency=r.symbol.split("/")[0] if r.side == "buy" else r.symbol.split("/")[-1],
            client_order_id=r.client_order_id,
        )
        for r in rows
    ]
    return TradesPage(trades=trades, total=total)


def build_ledger_pages(
    engine: Engine,
    log: QueryLog,
    *,
    benchmarks: Benchmarks | None,
    trader_status: Callable[[str], ProcessStatus],
    arena_windows: dict[str, float] | None = None,
) -> LedgerPages:
    """The four ledger pages. `trader_status(portfolio_id)` says whether its trader runs."""
    with engine.connect() as conn:
        books = _load_books(conn, log)
        arenas, members = _arenas(conn, log, books, arena_windows or {})
        views = {
            pid: _book_view(pid, b, benchmarks, trader_status(pid)) for pid, b in books.items()
        }
        singles = [pid for pid in books if pid not in members]
        recent = _trades(conn, log, singles)
        trades = _trades(conn, log, None)
    performance = [_performance(pid, b, views[pid]) for pid, b in books.items()]
    return LedgerPages(
        ensemble=EnsemblePage(books=[views[p] for p in singles], recent_trades=recent.trades[:20]),
        arena=ArenaPage(arenas=arenas),
        trades=trades,
        performance=PerformancePage(rows=performance, targets=TARGETS),
    )
