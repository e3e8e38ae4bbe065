"""The same-bar return matrix PBO needs, from each trial's per-(split, group) returns.

Each trial's CPCV paths (paths.py) are averaged bar by bar into one out-of-sample series (the
reference's "mean of the paths"). Trials at different timeframes are brought to the coarsest
one by compounding the finer returns inside each coarse bar (only complete coarse bars), and
the matrix keeps the instants every trial has: rows are bars, columns are trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cappuccino_runtime.evaluation.paths import cpcv_paths, path_returns

__all__ = ["align_trials", "mean_path_series"]

Stamped = tuple[np.ndarray, np.ndarray]
"""(int64 ns timestamps, float64 returns) of equal length."""


def mean_path_series(
    segments: Mapping[tuple[int, int], Stamped],
    split_test_groups: Sequence[Sequence[int]],
    n_groups: int,
) -> Stamped:
    """One trial's mean-of-paths series: (timestamps, returns) in time order.

    Args:
        segments: (split, group) -> that segment's (timestamps, returns).
        split_test_groups: held-out groups of every split of the CPCV design.
        n_groups: groups of the design.
    """
    paths = cpcv_paths(split_test_groups, n_groups)
    stamps = []
    for g in range(n_groups):
        split = paths[0][g]
        stamps.append(segments[(split, g)][0])
        for path in paths[1:]:
            if not np.array_equal(segments[(path[g], g)][0], stamps[-1]):
                raise ValueError(
                    f"splits {split} and {path[g]} were tested on different bars of group {g}; "
                    "the trial was not run under one evaluation plan."
                )
    values = path_returns({k: v[1] for k, v in segments.items()}, paths)
    return np.concatenate(stamps), values.mean(axis=0)


def _to_width(series: Stamped, width_ns: int, native_ns: int) -> Stamped:
    """Compounds returns into coarse bars of width_ns, keeping only complete ones."""
    ts, r = series
    if width_ns == native_ns:
        return ts, r
    if width_ns % native_ns:
        raise ValueError(f"cannot aggregate {native_ns} ns bars into {width_ns} ns bars.")
    need = width_ns // native_ns
    bins = ts // width_ns
    keys, first, counts = np.unique(bins, return_index=True, return_counts=True)
    log = np.log1p(r)
    sums = np.add.reduceat(log, first)
    keep = counts == need
    return keys[keep] * width_ns, np.expm1(sums[keep])


def align_trials(series: Sequence[Stamped], bar_ns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps [T], matrix [T, N]) of the instants every trial has, at the coarsest bar.

    Args:
        series: each trial's (timestamps, returns).
        bar_ns: each trial's bar width in nanoseconds.
    """
    if len(series) != len(bar_ns) or not series:
        raise ValueError("align_trials needs one bar width per series and at least one series.")
    width = max(bar_ns)
    coarse = [_to_width(s, width, w) for s, w in zip(series, bar_ns, strict=True)]
    common = coarse[0][0]
    for ts, _ in coarse[1:]:
        common = np.intersect1d(common, ts)
    columns = []
    for ts, r in coarse:
        idx = np.searchsorted(ts, common)
        columns.append(r[idx])
    return common, np.stack(columns, axis=1) if columns else np.empty((0, 0))
