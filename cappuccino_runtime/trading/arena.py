"""Arena ranking: members ranked by annualised Sharpe over a rolling window, the top K promoted.

Each member's equity is sampled once per poll (one market feed for all). The Sharpe of a member
is computed with the one metrics module over the per-poll returns of the snapshots whose time
lies in (now - window, now]. A member with fewer than 3 snapshots in the window (2 returns, the
minimum for a standard deviation) has no Sharpe yet: it ranks after every member that has one
and is never promoted. Equal Sharpes rank by portfolio_id so a ranking is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.metrics import annualised_sharpe, returns_from_equity

__all__ = ["DEFAULT_WINDOW", "RankingEntry", "rank_members"]

DEFAULT_WINDOW = timedelta(days=7)


class RankingEntry(BaseModel):
    """One member's place in the arena at one time."""

    model_config = ConfigDict(frozen=True)

    portfolio_id: str
    rank: int
    sharpe: float | None
    promoted: bool


def rank_members(
    equity: Mapping[str, Sequence[tuple[datetime, float]]],
    now: datetime,
    periods_per_year: float,
    window: timedelta = DEFAULT_WINDOW,
    top_k: int = 3,
) -> list[RankingEntry]:
    """Ranks members (rank 1 = best) by rolling-window Sharpe; the best `top_k` with one are promoted.

    Args:
        equity: per portfolio_id, its (ts, equity) snapshots in time order.
        now: the end of the window (inclusive).
        periods_per_year: annualisation of per-poll returns (bars_per_year of the poll timeframe).
        window: length of the rolling window (7 days by default).
        top_k: how many members are promoted.
    """
    start = now - window
    scored: list[tuple[str, float | None]] = []
    for pid, points in equity.items():
        values = [v for ts, v in points if start < ts <= now]
        sharpe = (
            float(annualised_sharpe(returns_from_equity(values), periods_per_year))
            if len(values) >= 3
            else None
        )
        scored.append((pid, sharpe))
    scored.sort(key=lambda item: (item[1] is None, -(item[1] or 0.0), item[0]))
    return [
        RankingEntry(
            portfolio_id=pid, rank=i + 1, sharpe=sharpe, promoted=sharpe is not None and i < top_k
        )
        for i, (pid, sharpe) in enumerate(scored)
    ]
