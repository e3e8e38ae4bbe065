"""Known answers for PBO by CSCV: zero skill ~0.5, planted skill ~0, orientation asserted."""

from __future__ import annotations

import numpy as np
import pytest

from cappuccino_runtime.evaluation import pbo_cscv
from cappuccino_runtime.evaluation.pbo import combination_sharpes
from cappuccino_runtime.evaluation.sharpe import per_bar_sharpe


def _zero_skill(seed: int, t: int = 2000, n: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.01, size=(t, n))


def _planted(seed: int, t: int = 2000, n: int = 50, edge: float = 0.15) -> np.ndarray:
    """Zero-skill trials plus one whose per-bar Sharpe is `edge` (about 14 annualised, hourly)."""
    m = _zero_skill(seed, t, n)
    m[:, 7] += edge * 0.01
    return m


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_zero_skill_trials_overfit_about_half_the_time(seed: int) -> None:
    result = pbo_cscv(_zero_skill(seed), n_trials=50, n_blocks=16)
    assert result.n_combinations == 12_870
    assert 0.3 <= result.pbo <= 0.7, result.pbo
    # picking the in-sample best of noise says nothing about out of sample
    assert abs(float(np.mean(result.oos_sharpe))) < 0.02
    assert 0.3 <= result.prob_oos_loss <= 0.7


def test_zero_skill_pbo_averages_to_one_half() -> None:
    pbos = [pbo_cscv(_zero_skill(s, t=800, n=20), n_trials=20, n_blocks=8).pbo for s in range(20)]
    assert abs(float(np.mean(pbos)) - 0.5) < 0.1, pbos


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_skill_is_not_overfit(seed: int) -> None:
    result = pbo_cscv(_planted(seed), n_trials=50, n_blocks=16)
    assert result.pbo < 0.05, result.pbo
    assert result.prob_oos_loss < 0.05
    assert float(np.mean(result.oos_sharpe)) > 0.1


def test_transposed_matrix_is_refused() -> None:
    m = _zero_skill(0, t=200, n=30)
    with pytest.raises(ValueError, match="transposed"):
        pbo_cscv(m.T, n_trials=30, n_blocks=8)


def test_selection_runs_over_trial_columns() -> None:
    """Orientation: n* is a trial (a column), so the planted column wins every combination.

    Taken over the wrong axis (one Sharpe per bar, as a lineage bug did) the selection would
    not be a trial at all and the logits were NaN, which read as PBO 0. Here every logit is
    finite, and noise lets many different trials win in sample.
    """
    planted = pbo_cscv(_planted(4, t=400, n=20, edge=0.3), n_trials=20, n_blocks=8)
    assert set(planted.selected.tolist()) == {7}
    assert np.isfinite(planted.logits).all()
    noise = pbo_cscv(_zero_skill(4, t=400, n=20), n_trials=20, n_blocks=8)
    assert len(set(noise.selected.tolist())) > 3
    assert np.isfinite(noise.logits).all()


def test_combination_sharpes_match_a_direct_computation() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(0.001, 0.02, size=(64, 3))
    blocks = np.array_split(np.arange(64), 4)
    mean = m.mean(axis=0)
    c = m - mean
    sums = np.stack([c[b].sum(axis=0) for b in blocks])
    squares = np.stack([(c[b] ** 2).sum(axis=0) for b in blocks])
    counts = np.array([b.size for b in blocks], dtype=float)
    mask = np.array([[1.0, 0.0, 1.0, 0.0]])
    got = combination_sharpes(sums, squares, counts, mask, mean)[0]
    rows = np.concatenate([blocks[0], blocks[2]])
    want = [per_bar_sharpe(m[rows, j]) for j in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_degradation_slope_of_pure_noise_is_negative() -> None:
    # IS-best of noise: high IS Sharpe, and IS and OOS halves of a fixed total trade off
    result = pbo_cscv(_zero_skill(11, t=1000, n=30), n_trials=30, n_blocks=10)
    assert result.degradation_slope < 0.0


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((100, 5), {"n_trials": 5, "n_blocks": 7}, "even"),
        ((10, 5), {"n_trials": 5, "n_blocks": 16}, "too few"),
        ((100, 1), {"n_trials": 1, "n_blocks": 4}, "at least 2"),
        ((100,), {"n_trials": 1, "n_blocks": 4}, "2-D"),
    ],
)
def test_bad_input_is_named(shape: tuple[int, ...], kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pbo_cscv(np.zeros(shape), **kwargs)
