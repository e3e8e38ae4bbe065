"""The trading stage of `cappuccino demo`: replay a held-out period with the arena and the ensemble.

`demo_stage(arena_dir, ensemble_dir, held_out, console)` runs, on the replay broker,
the arena (one book per model) and the ensemble (one book, majority vote) over the same bars,
then prints the arena ranking, the ensemble's result and equal-weight buy-and-hold side by side.
Books live in an in-memory ledger: a demo can be run again and again without a stale ledger
deciding that its bars were already traded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import buy_and_hold_equity
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
    rank: int | None = None
    promoted: bool = False


@dataclass(frozen=True)
class DemoTradingResult:
    """Arena members by rank, then the ensemble, then buy-and-hold."""

    arena: list[DemoRow]
    ensemble: DemoRow
    buy_and_hold: DemoRow
    bars: int


def _row(
    name: str,
    curve: np.ndarray,
    benchmark: np.ndarray,
    timeframe: str,
    ledger: InMemoryLedger | None = None,
    portfolio_id: str = "",
    *,
    rank: int | None = None,
    promoted: bool = False,
) -> DemoRow:
    """One line of metrics, all from the one metrics module."""
    returns = returns_from_equity(curve)
    per_year = bars_per_year(timeframe)
    trades, reversals = 0, 0
    if ledger is not None:
        orders = {o.client_order_id: o for o in ledger.orders(portfolio_id)}
        fills = ledger.fills(portfolio_id)
        trades = len(fills)
        by_symbol: dict[str, list[str]] = {}
        for fill in fills:
            order = orders[fill.client_order_id]
            by_symbol.setdefault(order.symbol, []).append(order.side)
        reversals = sum(churn(sides) for sides in by_symbol.values())
    return DemoRow(
        name=name,
        total_return=float(curve[-1] / curve[0] - 1.0),
        sharpe=float(annualised_sharpe(returns, per_year)) if len(returns) > 1 else 0.0,
        sortino=float(annualised_sortino(returns, per_year)) if len(returns) > 1 else 0.0,
        max_drawdown=float(max_drawdown(curve)),
        alpha=alpha_vs_benchmark(curve, benchmark),
        trades=trades,
        churn=reversals,
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
) -> DemoTradingResult:
    """Replays `held_out` with the arena and the ensemble and prints the comparison.

    Args:
        arena_dir, ensemble_dir: deploy directories (arena_config.json, ensemble_manifest.json).
        held_out: bars of the held-out period INCLUDING the warm-up history before it.
        console: where the table is printed.
        start: the first decision bar (index into held_out); default: the first bar with a
            full history window (feature warm-up + lookback).
    """
    arena_manifest, arena_bank = load_bank(arena_dir, None)
    _, ensemble_bank = load_bank(ensemble_dir, None)
    need = max(history_bars(s.spec) for s in [*arena_bank.slots, *ensemble_bank.slots])
    first = need - 1 if start is None else max(start, need - 1)
    data = held_out.select(arena_bank.symbols)
    fee = arena_bank.slots[0].spec.fee_rate
    config = TraderConfig()
    arena_id = f"local/{getattr(arena_manifest, 'arena_name', 'arena')}"

    def broker() -> ReplayBroker:
        return ReplayBroker(data, start=first, fee_rate=fee, slippage=config.slippage_bps * 1e-4)

    arena_books = [
        BookPlan(f"{arena_id}/{s.study_name}:{s.trial_id}", (i,), s.study_name, s.trial_id)
        for i, s in enumerate(arena_bank.slots)
    ]
    arena_ledger = InMemoryLedger()
    arena = Trader(arena_bank, arena_books, broker(), arena_ledger, config, arena_id=arena_id)
    arena.run()
    ensemble_ledger = InMemoryLedger()
    ensemble = Trader(
        ensemble_bank,
        [BookPlan("local/ensemble", tuple(range(len(ensemble_bank.slots))))],
        broker(),
        ensemble_ledger,
        config,
    )
    ensemble.run()

    tf = arena_bank.timeframe
    env = EnvConfig(lookback=1, fee_rate=fee, slippage_bps=config.slippage_bps)
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
    bh_row = replace(_row("buy-and-hold", bh, bh, tf), trades=len(data.symbols))  # one buy each
    _print(console, arena_rows, ensemble_row, bh_row, data, first)
    return DemoTradingResult(arena_rows, ensemble_row, bh_row, data.n_bars - first)


def _print(
    console: Console,
    arena: list[DemoRow],
    ensemble: DemoRow,
    bh: DemoRow,
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
    for col in ("who", "rank", "return", "alpha vs B&H", "Sharpe", "Sortino", "max DD", "trades",
                "churn"):  # fmt: skip
        table.add_column(col, justify="left" if col == "who" else "right")
    for row in [*arena, ensemble, bh]:
        who = f"arena {row.name}" + (" *" if row.promoted else "") if row.rank else row.name
        table.add_row(
            who,
            str(row.rank or ""),
            f"{row.total_return:+.2%}",
            f"{row.alpha:+.2%}",
            f"{row.sharpe:.2f}",
            f"{row.sortino:.2f}",
            f"{row.max_drawdown:.2%}",
            str(row.trades),
            str(row.churn),
        )
    console.print(table)
    console.print(
        "* promoted (top 3 by rolling 7-day Sharpe). Sharpe/Sortino annualised from per-bar "
        "returns; alpha = total return minus buy-and-hold's; churn = buy/sell reversals per asset."
    )
