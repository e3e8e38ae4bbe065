"""Arena ranking: members ranked by the probabilistic Sharpe ratio of a rolling window.

Each member's equity is sampled once per poll (one market feed for all). Over the snapshots in
(now - window, now], a member's per-poll returns give:
- `sharpe`: the annualised Sharpe (the one metrics module), and `sharpe_se`, its standard
  error, sqrt((1 - g3 SR + (g4 - 1)/4 SR^2) / (T - 1)) annualised (Lo 2002; Mertens 2002),
  shown next to it so nobody reads a 7-day Sharpe of 4 as skill;
- `psr`: PSR(0), the probability that the true Sharpe is above zero (Bailey & Lopez de Prado
  2012). Members are ranked by PSR, not by the raw Sharpe, so a short or noisy record cannot
  outrank a long steady one by luck.

Promotion is honest:
- a member is *evaluating* until it has `min_returns` returns in the window (the trader passes
  a week of bars) and is never promoted before;
- hysteresis: a promoted member keeps its place while its PSR stays >= `exit_psr` and its rank
  within top_k + `hysteresis_ranks`; a new member is promoted only into a free place and only
  with PSR >= `enter_psr`. So promotions do not flip on every poll.
Equal scores rank by portfolio_id so a ranking is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.evaluation.sharpe import probabilistic_sharpe, sharpe_moments
from cappuccino_runtime.metrics import returns_from_equity

__all__ = ["DEFAULT_WINDOW", "RankingEntry", "rank_members", "sharpe_statistics"]

DEFAULT_WINDOW = timedelta(days=7)


class RankingEntry(BaseModel):
    """One member's place in the arena at one time."""

    model_config = ConfigDict(frozen=True)

    portfolio_id: str
    rank: int
    sharpe: float | None
    promoted: bool
    psr: float | None = None
    sharpe_se: float | None = None
    n_returns: int = 0
    evaluating: bool = True


def sharpe_statistics(returns: ArrayLike, periods_per_year: float) -> tuple[float, float, float]:
    """(annualised Sharpe, its annualised standard error, PSR against 0) of per-poll returns,
    from the one PSR module (evaluation/sharpe.py: per-bar SR, skewness, raw kurtosis)."""
    moments = sharpe_moments(returns)
    sr, n = moments.sharpe, moments.n_obs
    if n < 2 or sr == 0.0:
        return 0.0, 0.0, 0.5
    variance = 1.0 - moments.skew * sr + (moments.kurtosis - 1.0) / 4.0 * sr**2
    variance = max(variance, 1e-12)
    se = math.sqrt(variance / (n - 1))
    try:
        psr = probabilistic_sharpe(sr, 0.0, n, moments.skew, moments.kurtosis)
    except ValueError:  # a degenerate variance term: the clamped one above, same formula
        psr = 0.5 * (1.0 + math.erf(sr / se / math.sqrt(2.0)))
    scale = math.sqrt(periods_per_year)
    return sr * scale, se * scale, psr


def rank_members(
    equity: Mapping[str, Sequence[tuple[datetime, float]]],
    now: datetime,
    periods_per_year: float,
    window: timedelta = DEFAULT_WINDOW,
    top_k: int = 3,
    *,
    min_returns: int = 2,
    promoted_before: Collection[str] = (),
    enter_psr: float = 0.95,
    exit_psr: float = 0.5,
    hysteresis_ranks: int = 1,
) -> list[RankingEntry]:
    """Ranks members (rank 1 = best) by windowed PSR and promotes up to `top_k` of them.

    Args:
        equity: per portfolio_id, its (ts, equity) snapshots in time order.
        now: the end of the window (inclusive).
        periods_per_year: annualisation of per-poll returns (bars_per_year of the timeframe).
        window: length of the rolling window (7 days by default).
        top_k: how many members are promoted at most.
        min_returns: returns a member needs in the window before it can be promoted (>= 2).
        promoted_before: the members promoted in the previous ranking (hysteresis).
        enter_psr / exit_psr / hysteresis_ranks: see the module docstring.
    """
    start = now - window
    need = max(2, min_returns)
    stats: dict[str, tuple[float | None, float | None, float | None, int]] = {}
    for pid, points in equity.items():
        values = [v for ts, v in points if start < ts <= now]
        returns = returns_from_equity(values) if len(values) >= 3 else np.empty(0)
        if len(returns) >= 2:
            sharpe, se, psr = sharpe_statistics(returns, periods_per_year)
            stats[pid] = (sharpe, se, psr, len(returns))
        else:
            stats[pid] = (None, None, None, len(returns))
    order = sorted(
        stats,
        key=lambda pid: (stats[pid][2] is None, -(stats[pid][2] or 0.0), pid),
    )
    rank = {pid: i + 1 for i, pid in enumerate(order)}
    ready = [pid for pid in order if stats[pid][3] >= need]
    keep = [
        pid
        for pid in ready
        if pid in promoted_before
        and (stats[pid][2] or 0.0) >= exit_psr
        and rank[pid] <= top_k + hysteresis_ranks
    ][:top_k]
    promoted = set(keep)
    for pid in ready:
        if len(promoted) >= top_k:
            break
        if pid not in promoted and (stats[pid][2] or 0.0) >= enter_psr:
            promoted.add(pid)
    return [
        RankingEntry(
            portfolio_id=pid,
            rank=rank[pid],
            sharpe=stats[pid][0],
            promoted=pid in promoted,
            psr=stats[pid][2],
            sharpe_se=stats[pid][1],
            n_returns=stats[pid][3],
            evaluating=stats[pid][3] < need,
        )
        for pid in order
    ]
