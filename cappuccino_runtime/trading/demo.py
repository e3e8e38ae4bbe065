"""The trading stage of `cappuccino demo`: replay a held-out period with the arena and the ensemble.

`demo_stage(arena_dir, ensemble_dir, held_out, console)` runs, on the replay broker,
the arena (one book per model) and the ensemble (one book, majority vote) over the same bars,
under the models' frozen execution rule (fee, slippage, no-trade band, minimum order), then
prints them side by side with three baselines: equal-weight buy-and-hold, equal-weight
rebalanced every bar under the same execution rule, and cash. Each row shows turnover, fees
and exposure next to its trades, so churn and cash drag are visible.
Books live in the ledger given (`cappuccino demo` passes a fresh SQL ledger under its home, so
the dashboard shows the replay) or in an in-memory one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from cappuccino_contracts.artifacts import ExecutionSpec
from cappuccino_contracts.naming import LOCAL_NAMESPACE, member_portfolio_id, portfolio_id

from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import buy_and_hold_equity
from cappuccino_runtime.env.execution import execute
from cappuccino_runtime.metrics import (
    alpha_vs_benchmark,
    annualised_sharpe,
    annualised_sortino,
    bars_per_year,
    churn,
    max_drawdown,
    returns_from_equity,
)
from cappuccino_runtime.persistence import InMemoryLedger
from cappuccino_runtime.persistence.ledger import Ledger
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.observation import history_bars
from cappuccino_runtime.trading.runner import load_bank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig

if TYPE_CHECKING:
    from rich.console import Console

    from cappuccino_runtime.data.market import MarketData

__all__ = ["DemoRow", "DemoTradingResult", "demo_stage"]


@dataclass(frozen=True)
class DemoRow:
    """One line of the side-by-side table."""

    name: str
    total_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    alpha: float
    trades: int
    churn: int
    trades_per_hour: float = 0.0
    turnover: float = 0.0
    """traded notional over the period / mean equity (1.0 = the whole book traded once)"""
    fees: float = 0.0
    """fees paid / starting equity"""
    exposure: float = 0.0
    """mean invested fraction of the book (1 - cash weight)"""
    rank: int | None = None
    promoted: bool = False


@dataclass(frozen=True)
class DemoTradingResult:
    """Arena members by rank, then the ensemble, then the baselines."""

    arena: list[DemoRow]
    ensemble: DemoRow
    buy_and_hold: DemoRow
    bars: int
    baselines: list[DemoRow] = field(default_factory=list)
    """buy-and-hold, equal-weight rebalanced, cash"""


def _equal_weight_rebalanced(
    data: MarketData, first: int, rules: ExecutionSpec, initial_cash: float
) -> tuple[np.ndarray, float, float, float, int]:
    """Equal weights targeted every bar under the execution rule: (curve, fees, traded
    notional, mean exposure, trades)."""
    n = data.n_assets
    cash = torch.tensor([initial_cash], dtype=torch.float64)
    holdings = torch.zeros((1, n), dtype=torch.float64)
    target = torch.full((1, n), 1.0 / n, dtype=torch.float64)
    curve, fees, traded, exposure, trades = [initial_cash], 0.0, 0.0, 0.0, 0
    for t in range(first, data.n_bars - 1):
        fill = execute(
            rules, cash, holdings, target, torch.from_numpy(data.open[t + 1 : t + 2].copy())
        )
        cash, holdings = fill.cash, fill.holdings
        marked = float((holdings[0] * torch.from_numpy(data.close[t + 1])).sum())
        curve.append(float(cash[0]) + marked)
        fees += float(fill.fees[0])
        traded += float(fill.buy_notional.sum() + fill.sell_notional.sum())
        exposure += marked / curve[-1]
        trades += int(fill.trades[0])
    return np.array(curve), fees, traded, exposure / max(1, len(curve) - 1), trades


def _row(
    name: str,
    curve: np.ndarray,
    benchmark: np.ndarray,
    timeframe: str,
    ledger: Ledger | None = None,
    portfolio_id: str = "",
    *,
    trades: int | None = None,
    turnover: float | None = None,
    fees: float | None = None,
    exposure: float | None = None,
    rank: int | None = None,
    promoted: bool = False,
) -> DemoRow:
    """One line of metrics, all from the one metrics module. Keyword figures given override
    the ones read from `ledger` (baselines without a ledger pass theirs)."""
    returns = returns_from_equity(curve)
    per_year = bars_per_year(timeframe)
    n_trades, reversals = 0, 0
    extra: dict[str, float] = {}
    if ledger is not None:
        orders = {o.client_order_id: o for o in ledger.orders(portfolio_id)}
        fills = ledger.fills(portfolio_id)
        n_trades = len(fills)
        by_symbol: dict[str, list[str]] = {}
        for fill in fills:
            order = orders[fill.client_order_id]
            by_symbol.setdefault(order.symbol, []).append(order.side)
        reversals = sum(churn(sides) for sides in by_symbol.values())
        snaps = ledger.snapshots(portfolio_id)
        extra = {
            "turnover": sum(f.qty * f.price for f in fills) / float(np.mean(curve)),
            "fees": sum(f.fee for f in fills) / float(curve[0]),
            "exposure": float(np.mean([s.positions_value / s.equity for s in snaps]))
            if snaps
            else 0.0,
        }
    if trades is not None:
        n_trades = trades
    hours = max(1e-9, (len(curve) - 1) * 24 * 365 / per_year)
    return DemoRow(
        name=name,
        total_return=float(curve[-1] / curve[0] - 1.0),
        sharpe=float(annualised_sharpe(returns, per_year)) if len(returns) > 1 else 0.0,
        sortino=float(annualised_sortino(returns, per_year)) if len(returns) > 1 else 0.0,
        max_drawdown=float(max_drawdown(curve)),
        alpha=alpha_vs_benchmark(curve, benchmark),
        trades=n_trades,
        churn=reversals,
        trades_per_hour=n_trades / hours,
        turnover=turnover if turnover is not None else extra.get("turnover", 0.0),
        fees=fees if fees is not None else extra.get("fees", 0.0),
        exposure=exposure if exposure is not None else extra.get("exposure", 0.0),
        rank=rank,
        promoted=promoted,
    )


def demo_stage(
    arena_dir: Path,
    ensemble_dir: Path,
    held_out: MarketData,
    console: Console,
    *,
    start: int | None = None,
    ledger: Ledger | None = None,
) -> DemoTradingResult:
    """Replays `held_out` with the arena and the ensemble and prints the comparison.

    Args:
        arena_dir, ensemble_dir: deploy directories (arena_config.json, ensemble_manifest.json).
        held_out: bars of the held-out period INCLUDING the warm-up history before it.
        console: where the table is printed.
        start: the first decision bar (index into held_out); default: the first bar with a
            full history window (feature warm-up + lookback).
        ledger: where both traders record their books (an empty one: a ledger that already
            decided these bars would not trade them again); default a new in-memory ledger.
    """
    arena_manifest, arena_bank = load_bank(arena_dir, None)
    _, ensemble_bank = load_bank(ensemble_dir, None)
    need = max(history_bars(s.spec) for s in [*arena_bank.slots, *ensemble_bank.slots])
    first = need - 1 if start is None else max(start, need - 1)
    data = held_out.select(arena_bank.symbols)
    rules = arena_bank.slots[0].spec.execution  # the models' frozen execution rule
    config = TraderConfig()
    arena_id = portfolio_id(LOCAL_NAMESPACE, getattr(arena_manifest, "arena_name", "arena"))

    def broker() -> ReplayBroker:
        return ReplayBroker(data, start=first, fee_rate=rules.fee_rate, slippage=rules.slippage)

    arena_books = [
        BookPlan(
            member_portfolio_id(arena_id, s.study_name, s.trial_id), (i,), s.study_name, s.trial_id
        )
        for i, s in enumerate(arena_bank.slots)
    ]
    arena_ledger: Ledger = ledger if ledger is not None else InMemoryLedger()
    arena = Trader(arena_bank, arena_books, broker(), arena_ledger, config, arena_id=arena_id)
    arena.run()
    ensemble_ledger: Ledger = ledger if ledger is not None else InMemoryLedger()
    ensemble = Trader(
        ensemble_bank,
        [BookPlan("local/ensemble", tuple(range(len(ensemble_bank.slots))))],
        broker(),
        ensemble_ledger,
        config,
    )
    ensemble.run()

    tf = arena_bank.timeframe
    env = EnvConfig.from_execution(rules, 1, initial_cash=config.initial_cash)
    bh = buy_and_hold_equity(data.open, data.close, first, data.n_bars, env)
    ranking = {r.portfolio_id: r for r in arena_ledger.latest_ranking(arena_id)}
    arena_rows = sorted(
        (
            _row(
                b.portfolio_id.rsplit("/", 1)[-1],
                np.array([v for _, v in arena.equity_curve(b.portfolio_id)]),
                bh,
                tf,
                arena_ledger,
                b.portfolio_id,
                rank=ranking[b.portfolio_id].rank if b.portfolio_id in ranking else None,
                promoted=bool(ranking.get(b.portfolio_id) and ranking[b.portfolio_id].promoted),
            )
            for b in arena_books
        ),
        key=lambda r: (r.rank is None, r.rank or 0),
    )
    ens_curve = np.array([v for _, v in ensemble.equity_curve("local/ensemble")])
    ensemble_row = _row("ensemble (vote)", ens_curve, bh, tf, ensemble_ledger, "local/ensemble")
    entry_fee = config.initial_cash * rules.fee_rate
    bh_row = _row(
        "buy-and-hold (equal weight)",
        bh,
        bh,
        tf,
        trades=len(data.symbols),  # one buy each
        turnover=1.0,
        fees=entry_fee / config.initial_cash,
        exposure=1.0,
    )
    ew, ew_fees, ew_traded, ew_exposure, ew_trades = _equal_weight_rebalanced(
        data, first, rules, config.initial_cash
    )
    ew_row = _row(
        "equal weight, rebalanced",
        ew,
        bh,
        tf,
        trades=ew_trades,
        turnover=ew_traded / float(np.mean(ew)),
        fees=ew_fees / config.initial_cash,
        exposure=ew_exposure,
    )
    cash_row = _row("cash", np.full(len(bh), config.initial_cash), bh, tf)
    baselines = [bh_row, ew_row, cash_row]
    _print(console, arena_rows, ensemble_row, baselines, data, first)
    return DemoTradingResult(arena_rows, ensemble_row, bh_row, data.n_bars - first, baselines)


def _print(
    console: Console,
    arena: list[DemoRow],
    ensemble: DemoRow,
    baselines: list[DemoRow],
    data: MarketData,
    first: int,
) -> None:
    from rich.table import Table

    table = Table(
        title=(
            f"Held-out replay {data.index[first]:%Y-%m-%d %H:%M} .. {data.index[-1]:%Y-%m-%d %H:%M}"
            f" UTC ({data.n_bars - first} bars, {', '.join(data.symbols)})"
        )
    )
    for col in ("who", "rank", "return", "alpha vs B&H", "Sharpe", "max DD", "trades",
                "trades/h", "turnover", "fees", "exposure", "churn"):  # fmt: skip
        table.add_column(col, justify="left" if col == "who" else "right")
    for row in [*arena, ensemble, *baselines]:
        who = f"arena {row.name}" + (" *" if row.promoted else "") if row.rank else row.name
        table.add_row(
            who,
            str(row.rank or ""),
            f"{row.total_return:+.2%}",
            f"{row.alpha:+.2%}",
            f"{row.sharpe:.2f}",
            f"{row.max_drawdown:.2%}",
            str(row.trades),
            f"{row.trades_per_hour:.2f}",
            f"{row.turnover:.2f}x",
            f"{row.fees:.2%}",
            f"{row.exposure:.0%}",
            str(row.churn),
        )
    console.print(table)
    console.print(
        "* promoted (ranked by 7-day PSR; only after a week of bars, PSR >= 0.95). Every row trades the same held-out bars "
        "(never seen in training) under the models' execution rule. Sharpe is annualised from "
        "per-bar returns; alpha = total return minus buy-and-hold's; turnover = traded notional "
        "/ mean equity (1.00x = the book traded once); fees as a share of the starting book; "
        "exposure = mean invested share; churn = buy/sell reversals per asset. One month is a "
        "small sample: a row beating buy-and-hold here is not evidence of an edge by itself."
    )
