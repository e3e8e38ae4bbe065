"""The same-bar matrix: mean of CPCV paths per trial, trials aligned at the coarsest bar."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cappuccino_runtime.evaluation.matrix import align_trials, mean_path_series

HOUR = 3_600_000_000_000


def _segments(values: dict[tuple[int, int], float], per_group: int = 4) -> dict:
    out = {}
    for (split, group), v in values.items():
        ts = (group * per_group + np.arange(per_group)) * HOUR
        out[(split, group)] = (ts, np.full(per_group, v))
    return out


def test_mean_path_series_averages_the_splits_holding_each_group_out() -> None:
    design = list(itertools.combinations(range(4), 2))
    values = {(s, g): float(10 * s + g) for s, gs in enumerate(design) for g in gs}
    ts, r = mean_path_series(_segments(values), design, 4)
    assert ts.tolist() == [i * HOUR for i in range(16)]
    # group 0 is held out by splits 0, 1, 2: mean of 0, 10, 20
    assert r[:4].tolist() == [10.0] * 4
    # group 3 by splits 2, 4, 5: mean of 23, 43, 53
    assert r[12:].tolist() == pytest.approx([(23 + 43 + 53) / 3] * 4)


def test_splits_tested_on_different_bars_are_refused() -> None:
    design = list(itertools.combinations(range(4), 2))
    segs = _segments({(s, g): 0.0 for s, gs in enumerate(design) for g in gs})
    ts, r = segs[(1, 0)]
    segs[(1, 0)] = (ts + HOUR, r)
    with pytest.raises(ValueError, match="different bars of group 0"):
        mean_path_series(segs, design, 4)


def test_align_compounds_fine_bars_into_complete_coarse_bars() -> None:
    hourly = (np.arange(1, 12) * HOUR, np.full(11, 0.01))  # 01:00..11:00, first 4h bar incomplete
    four_hourly = (np.array([0, 4, 8]) * HOUR, np.array([0.02, -0.01, 0.03]))
    ts, m = align_trials([hourly, four_hourly], [HOUR, 4 * HOUR])
    assert ts.tolist() == [4 * HOUR, 8 * HOUR]
    assert m.shape == (2, 2)  # rows bars, columns trials
    np.testing.assert_allclose(m[:, 0], [1.01**4 - 1] * 2)
    np.testing.assert_allclose(m[:, 1], [-0.01, 0.03])
