"""PSR, SR0 and DSR against the worked example of Bailey & López de Prado (2014) and by hand."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from cappuccino_runtime.evaluation import (
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    sharpe_moments,
)


def test_deflated_sharpe_worked_example() -> None:
    """ "The Deflated Sharpe Ratio" (2014), section 6's numerical example.

    N = 100 trials, annualised variance of their Sharpes V = 1/2, best annualised SR 2.5 on
    T = 1250 daily returns (250 a year), skewness -3, kurtosis 10: the paper reports
    E[max SR] = 0.1132 per day and DSR = 0.9004.
    """
    variance = 0.5 / 250
    sr0 = expected_max_sharpe(variance, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    sr = 2.5 / math.sqrt(250)
    dsr = probabilistic_sharpe(sr, sr0, 1250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_psr_by_hand() -> None:
    # PSR(0) of SR 0.1 on 101 normal returns: Phi(0.1 * 10 / sqrt(1 + 2/4 * 0.01))
    expected = NormalDist().cdf(1.0 / math.sqrt(1.005))
    assert probabilistic_sharpe(0.1, 0.0, 101) == pytest.approx(expected, rel=1e-12)
    assert probabilistic_sharpe(0.1, 0.1, 101) == pytest.approx(0.5)


def test_expected_max_sharpe_by_hand() -> None:
    z = NormalDist().inv_cdf
    g = 0.5772156649015329
    want = 0.2 * ((1 - g) * z(1 - 1 / 10) + g * z(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(0.04, 10) == pytest.approx(want, rel=1e-12)
    assert expected_max_sharpe(0.04, 1) == 0.0


def test_moments_of_a_known_sample() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    m = sharpe_moments(r)
    c = r - r.mean()
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert m.skew == pytest.approx(np.mean(c**3) / np.mean(c**2) ** 1.5)
    assert m.kurtosis == pytest.approx(np.mean(c**4) / np.mean(c**2) ** 2)
    assert m.n_obs == 5


def _trials(seed: int, t: int, n: int, edge: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 0.01, size=(t, n))
    m[:, 0] += edge * 0.01
    return m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_skill_best_has_high_psr_but_low_dsr(seed: int) -> None:
    m = _trials(seed, t=2000, n=50, edge=0.0)
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    best = int(np.argmax(sharpes))
    naive = probabilistic_sharpe(*_args(m[:, best]))
    dsr = deflated_sharpe(m[:, best], sharpes)
    assert naive > 0.9  # the best of 50 noise series looks significant on its own
    assert dsr < 0.8, dsr


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_skill_survives_deflation(seed: int) -> None:
    m = _trials(seed, t=2000, n=50, edge=0.15)
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    assert int(np.argmax(sharpes)) == 0
    assert deflated_sharpe(m[:, 0], sharpes) > 0.95


def test_more_trials_deflate_more() -> None:
    m = _trials(0, t=2000, n=50, edge=0.06)
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    assert deflated_sharpe(m[:, 0], sharpes, n_trials=500) < deflated_sharpe(m[:, 0], sharpes)
    with pytest.raises(ValueError, match="below"):
        deflated_sharpe(m[:, 0], sharpes, n_trials=3)


def _args(r: np.ndarray) -> tuple[float, float, int, float, float]:
    m = sharpe_moments(r)
    return m.sharpe, 0.0, m.n_obs, m.skew, m.kurtosis
