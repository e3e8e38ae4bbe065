"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2017). Input: a T x N matrix of per-bar out-of-sample
returns, one COLUMN per trial and one ROW per bar, the same bars for every column. Rows are cut
into S contiguous blocks; for each of the C(S, S/2) ways to pick half the blocks as "in sample"
(the rest out of sample), the trial with the best in-sample Sharpe is located among the
out-of-sample Sharpes. PBO is the fraction of combinations where it lands in the bottom half.

The orientation is asserted: the caller says how many trials the matrix holds. (A lineage of
this project averaged the matrix on the wrong axis, which gave all-NaN logits and PBO 0.)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PBOResult", "combination_sharpes", "pbo_cscv"]


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome over every combination of in-sample blocks."""

    pbo: float
    """fraction of combinations whose in-sample best ranks in the out-of-sample bottom half"""
    degradation_slope: float
    """slope of OOS on IS Sharpe of the in-sample best, across combinations (1 = no decay)"""
    prob_oos_loss: float
    """fraction of combinations where the in-sample best has a negative OOS Sharpe"""
    n_combinations: int
    n_blocks: int
    logits: np.ndarray
    """lambda_c = ln(w_c / (1 - w_c)) per combination"""
    is_sharpe: np.ndarray
    """per-bar IS Sharpe of the selected trial, per combination"""
    oos_sharpe: np.ndarray
    """per-bar OOS Sharpe of the selected trial, per combination"""
    selected: np.ndarray
    """column index of the in-sample best trial, per combination"""


def _check_matrix(returns: ArrayLike, n_trials: int, n_blocks: int) -> np.ndarray:
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"CSCV needs a 2-D T x N return matrix, got shape {m.shape}.")
    if m.shape[1] != n_trials:
        hint = " (it looks transposed: rows must be bars)" if m.shape[0] == n_trials else ""
        raise ValueError(
            f"the return matrix has shape {m.shape} but {n_trials} trials were named: it must "
            f"be T bars x N trials, one column per trial{hint}."
        )
    if n_trials < 2:
        raise ValueError(f"PBO compares trials; it needs at least 2, got {n_trials}.")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even number of at least 2, got {n_blocks}.")
    if m.shape[0] < 2 * n_blocks:
        raise ValueError(
            f"{m.shape[0]} bars are too few for {n_blocks} CSCV blocks (need at least "
            f"{2 * n_blocks}); use fewer blocks or more out-of-sample bars."
        )
    if not np.isfinite(m).all():
        raise ValueError("the return matrix holds NaN or infinite returns; drop those bars first.")
    return m


def pbo_cscv(returns: ArrayLike, *, n_trials: int, n_blocks: int = 16) -> PBOResult:
    """PBO, performance degradation and P(OOS < 0) of picking the in-sample best trial.

    Args:
        returns: T x N per-bar returns, rows = the same bars for every trial, columns = trials.
        n_trials: N, asserted against the matrix's columns.
        n_blocks: S, even; C(S, S/2) combinations (16 -> 12,870).
    """
    m = _check_matrix(returns, n_trials, n_blocks)
    column_mean = m.mean(axis=0)
    centred = m - column_mean  # variance is shift-free; centring avoids cancellation
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    sums = np.stack([centred[b].sum(axis=0) for b in blocks])
    squares = np.stack([(centred[b] ** 2).sum(axis=0) for b in blocks])
    counts = np.array([b.size for b in blocks], dtype=np.float64)
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    mask = np.zeros((len(combos), n_blocks))
    for c, chosen in enumerate(combos):
        mask[c, list(chosen)] = 1.0
    is_sr = combination_sharpes(sums, squares, counts, mask, column_mean)
    oos_sr = combination_sharpes(sums, squares, counts, 1.0 - mask, column_mean)
    best = np.argmax(is_sr, axis=1)
    rows = np.arange(len(combos))
    oos_best = oos_sr[rows, best]
    below = (oos_sr < oos_best[:, None]).sum(axis=1)
    ties = (oos_sr == oos_best[:, None]).sum(axis=1)
    rank = below + (ties + 1) / 2.0  # average rank, 1 = worst
    w = rank / (n_trials + 1)
    logits = np.log(w / (1.0 - w))
    is_best = is_sr[rows, best]
    slope = _slope(is_best, oos_best)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        degradation_slope=slope,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
        n_combinations=len(combos),
        n_blocks=n_blocks,
        logits=logits,
        is_sharpe=is_best,
        oos_sharpe=oos_best,
        selected=best,
    )


def combination_sharpes(
    sums: np.ndarray,
    squares: np.ndarray,
    counts: np.ndarray,
    mask: np.ndarray,
    column_mean: np.ndarray,
) -> np.ndarray:
    """Per-bar Sharpe [C, N] of every trial over the blocks each row of `mask` [C, S] takes.

    `sums`/`squares` [S, N] are per-block sums of the centred returns and of their squares,
    `counts` [S] the bars per block; each trial's mean is added back to the centred mean.
    A flat trial (zero deviation) has Sharpe 0.
    """
    n = mask @ counts
    s1 = mask @ sums
    s2 = mask @ squares
    mean_c = s1 / n[:, None]
    var = np.maximum(s2 - n[:, None] * mean_c**2, 0.0) / (n[:, None] - 1)
    std = np.sqrt(var)
    mean = mean_c + column_mean[None, :]
    return np.where(std > 1e-12, mean / np.where(std > 1e-12, std, 1.0), 0.0)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x; NaN when x does not vary."""
    dx = x - x.mean()
    denom = float(np.sum(dx**2))
    if denom <= 1e-24 or not math.isfinite(denom):
        return math.nan
    return float(np.sum(dx * (y - y.mean())) / denom)
