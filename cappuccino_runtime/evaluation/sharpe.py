"""Probabilistic and deflated Sharpe ratios (Bailey & López de Prado 2012, 2014).

All Sharpe ratios here are per bar (not annualised): SR = mean(r) / std(r, ddof=1).
- PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)), with g3 the
  skewness and g4 the raw kurtosis (3 for a normal) of the T returns.
- SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))), the expected
  maximum Sharpe of N zero-skill trials whose Sharpes vary with variance V.
- DSR = PSR(SR0): the probability that the selected trial's true Sharpe is above what the best
  of N skill-less trials would show by luck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "EULER_GAMMA",
    "SharpeMoments",
    "deflated_sharpe",
    "expected_max_sharpe",
    "per_bar_sharpe",
    "probabilistic_sharpe",
    "sharpe_moments",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class SharpeMoments:
    """What PSR needs of a return series: per-bar Sharpe, its length, skewness, raw kurtosis."""

    sharpe: float
    n_obs: int
    skew: float
    kurtosis: float


def per_bar_sharpe(returns: ArrayLike) -> float:
    """mean / std(ddof=1) of a return series; 0 for a flat series (no risk, nothing to reward)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"a Sharpe ratio needs a 1-D series of at least 2 returns, got {r.shape}.")
    std = r.std(ddof=1)
    return 0.0 if std <= 1e-12 else float(r.mean() / std)


def sharpe_moments(returns: ArrayLike) -> SharpeMoments:
    """Per-bar Sharpe, count, skewness and raw kurtosis (population moments) of `returns`."""
    r = np.asarray(returns, dtype=np.float64)
    sharpe = per_bar_sharpe(r)
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 1e-24:
        return SharpeMoments(sharpe=0.0, n_obs=int(r.size), skew=0.0, kurtosis=3.0)
    skew = float(np.mean(centred**3) / m2**1.5)
    kurt = float(np.mean(centred**4) / m2**2)
    return SharpeMoments(sharpe=sharpe, n_obs=int(r.size), skew=skew, kurtosis=kurt)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """PSR: probability that the true per-bar Sharpe exceeds `benchmark`, given `n_obs` returns."""
    if n_obs < 2:
        raise ValueError(f"PSR needs at least 2 observations, got n_obs={n_obs}.")
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance <= 0.0:
        raise ValueError(
            f"PSR is undefined for Sharpe {sharpe}, skew {skew}, kurtosis {kurtosis}: the "
            "estimator's variance term 1 - g3*SR + (g4-1)/4*SR^2 is not positive."
        )
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance)
    return float(_NORMAL.cdf(z))


def expected_max_sharpe(variance: float, n_trials: int) -> float:
    """SR0: the expected maximum per-bar Sharpe of `n_trials` zero-skill trials.

    Args:
        variance: cross-sectional variance V of the trials' per-bar Sharpe ratios.
        n_trials: N, every configuration tried. With one trial there is nothing to deflate: 0.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
    if variance < 0:
        raise ValueError(f"variance must be zero or more, got {variance}.")
    if n_trials == 1:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe(
    returns: ArrayLike, trial_sharpes: Sequence[float], n_trials: int | None = None
) -> float:
    """DSR of the selected trial's per-bar `returns`, deflated for the search that found it.

    Args:
        returns: the selected trial's per-bar out-of-sample returns.
        trial_sharpes: per-bar Sharpe ratios of the trials tried (their variance is V).
        n_trials: N; defaults to len(trial_sharpes). Pass more when some configurations were
            tried but left no returns (N counts every one of them).
    """
    sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    n = int(sharpes.size if n_trials is None else n_trials)
    if n < sharpes.size:
        raise ValueError(f"n_trials {n} is below the {sharpes.size} trial Sharpes given.")
    variance = float(sharpes.var(ddof=1)) if sharpes.size >= 2 else 0.0
    m = sharpe_moments(returns)
    sr0 = expected_max_sharpe(variance, max(n, 1))
    return probabilistic_sharpe(m.sharpe, sr0, m.n_obs, m.skew, m.kurtosis)
