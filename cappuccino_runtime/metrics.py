"""The one metrics module: textbook definitions, used by training, evaluation, arena and reports.

Returns are simple per-bar returns r_t = V_t / V_{t-1} - 1 of an equity curve. Annualisation uses
the number of bars per year of the timeframe (crypto trades 24/7: 8760 hourly bars a year).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from cappuccino_runtime.timeframes import timeframe_delta

__all__ = [
    "alpha_vs_benchmark",
    "annualised_sharpe",
    "annualised_sortino",
    "bars_per_year",
    "churn",
    "max_drawdown",
    "returns_from_equity",
    "sharpe_standard_error",
    "trades_per_hour",
]

_YEAR_SECONDS = 365 * 86400


def bars_per_year(timeframe: str) -> float:
    """Bars in a 365-day year of continuous trading: 8760 for '1h', 365 for '1d'.

    `timeframe` follows the one grammar of cappuccino_runtime.timeframes (ConfigError if bad).
    """
    return _YEAR_SECONDS / timeframe_delta(timeframe).total_seconds()


def returns_from_equity(equity: ArrayLike) -> np.ndarray:
    """Simple per-bar returns along the last axis: equity[..., 1:] / equity[..., :-1] - 1."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq[..., 1:] / eq[..., :-1] - 1.0


def annualised_sharpe(
    returns: ArrayLike, periods_per_year: float, risk_free: float = 0.0
) -> np.ndarray | float:
    """mean(r - rf) / std(r, ddof=1) * sqrt(periods_per_year), along the last axis.

    A flat series (zero deviation) has Sharpe 0: no risk taken, no excess return to reward.
    """
    r = np.asarray(returns, dtype=np.float64) - risk_free / periods_per_year
    if r.shape[-1] < 2:
        raise ValueError(f"Sharpe needs at least 2 returns, got {r.shape[-1]}.")
    mean = r.mean(axis=-1)
    std = r.std(axis=-1, ddof=1)
    safe = np.where(std > 1e-12, std, 1.0)
    out = np.where(std > 1e-12, mean / safe * math.sqrt(periods_per_year), 0.0)
    return float(out) if out.ndim == 0 else out


def annualised_sortino(
    returns: ArrayLike, periods_per_year: float, target: float = 0.0
) -> np.ndarray | float:
    """mean(r - target) / downside deviation * sqrt(periods_per_year), along the last axis.

    Downside deviation is sqrt(mean(min(r - target, 0)^2)) over all bars (Sortino & Price, 1994).
    """
    r = np.asarray(returns, dtype=np.float64) - target
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2, axis=-1))
    mean = r.mean(axis=-1)
    safe = np.where(downside > 1e-12, downside, 1.0)
    out = np.where(downside > 1e-12, mean / safe * math.sqrt(periods_per_year), 0.0)
    return float(out) if out.ndim == 0 else out


def max_drawdown(equity: ArrayLike) -> np.ndarray | float:
    """Largest peak-to-trough fall as a positive fraction (0.25 = -25%), along the last axis."""
    eq = np.asarray(equity, dtype=np.float64)
    peaks = np.maximum.accumulate(eq, axis=-1)
    out = np.max(1.0 - eq / peaks, axis=-1)
    return float(out) if out.ndim == 0 else out


def alpha_vs_benchmark(equity: ArrayLike, benchmark_equity: ArrayLike) -> float:
    """Total return of the strategy minus the benchmark's (buy-and-hold) over the same bars."""
    eq = np.asarray(equity, dtype=np.float64)
    bh = np.asarray(benchmark_equity, dtype=np.float64)
    return float(eq[-1] / eq[0] - bh[-1] / bh[0])


def trades_per_hour(trade_count: int, elapsed_seconds: float) -> float:
    """Trades divided by elapsed hours; 0 when no time has elapsed."""
    return 0.0 if elapsed_seconds <= 0 else trade_count / (elapsed_seconds / 3600.0)


def churn(sides: Sequence[str]) -> int:
    """Reversals in one asset's ordered trade sides: each buy followed by a sell (or back) counts 1."""
    normalised = [s.lower() for s in sides]
    return sum(1 for a, b in itertools.pairwise(normalised) if a != b)


def sharpe_standard_error(sharpe: float, n_returns: int, periods_per_year: float) -> float:
    """Standard error of an annualised Sharpe estimated from `n_returns` per-bar returns.

    Lo (2002), iid returns: SE(SR_bar) = sqrt((1 + SR_bar^2 / 2) / n), with SR_bar the per-bar
    Sharpe (sharpe / sqrt(periods_per_year)); annualised back by sqrt(periods_per_year).
    """
    if n_returns < 2:
        raise ValueError(f"a Sharpe standard error needs at least 2 returns, got {n_returns}.")
    per_bar = sharpe / math.sqrt(periods_per_year)
    return math.sqrt((1.0 + per_bar**2 / 2.0) / n_returns) * math.sqrt(periods_per_year)
