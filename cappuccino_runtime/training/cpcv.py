"""Combinatorial purged cross-validation (López de Prado, 2018, ch. 12) over contiguous bar groups.

The usable bars are cut into `n_groups` contiguous groups of (almost) equal size. Each split
holds out `n_test_groups` of them; with 4 groups and 2 held out there are C(4, 2) = 6 splits.

- Test: every held-out group is its own contiguous segment, evaluated as its own episode. Two
  held-out groups are two episodes even when they are neighbours: an episode never jumps
  between distant chunks, and neighbours are kept apart so each segment has the same length.
- Train: the remaining groups, merged where they touch, minus a purge of `purge` bars before
  every held-out group (training rewards look one bar ahead, so the last training bars must
  not be rewarded with test prices) and an embargo of `embargo` bars after it (training
  features look back: the embargo must cover the feature support plus the lookback, see
  plan.feature_embargo, so no training feature reads a held-out price).

`splits_from_groups` takes group bounds computed elsewhere (a study's calendar plan mapped to
one trial's bars); `cpcv_splits` cuts equal groups by bar count.

Segments are half-open bar ranges (start, stop) into the array the splits were built for.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["CPCVSplit", "Segment", "cpcv_splits", "group_bounds", "splits_from_groups"]

Segment = tuple[int, int]
"""A half-open bar range (start, stop)."""


@dataclass(frozen=True)
class CPCVSplit:
    """One combination: which groups are held out and the resulting bar ranges."""

    index: int
    test_groups: tuple[int, ...]
    train: tuple[Segment, ...]
    test: tuple[Segment, ...]


def group_bounds(n_bars: int, n_groups: int, offset: int = 0) -> list[Segment]:
    """Cuts bars offset..offset+n_bars-1 into n_groups contiguous groups; earlier ones get the remainder."""
    if n_groups < 2:
        raise ValueError(f"CPCV needs at least 2 groups, got n_groups={n_groups}.")
    if n_bars < n_groups:
        raise ValueError(
            f"cannot cut {n_bars} bars into {n_groups} groups; use more data or fewer groups."
        )
    base, extra = divmod(n_bars, n_groups)
    bounds: list[Segment] = []
    start = offset
    for g in range(n_groups):
        stop = start + base + (1 if g < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def cpcv_splits(
    n_bars: int,
    n_groups: int = 4,
    n_test_groups: int = 2,
    embargo: int = 0,
    offset: int = 0,
    purge: int | None = None,
) -> list[CPCVSplit]:
    """All C(n_groups, n_test_groups) splits of bars offset..offset+n_bars-1.

    Args:
        n_bars: number of usable bars (e.g. after the feature warm-up).
        n_groups: contiguous groups (4 in the original system).
        n_test_groups: groups held out per split (2 in the original system).
        embargo: training bars dropped after every held-out group.
        offset: index of the first usable bar, so segments index the full array.
        purge: training bars dropped before every held-out group (None = `embargo`).

    Returns:
        Splits in lexicographic order of their held-out groups.
    """
    return splits_from_groups(
        group_bounds(n_bars, n_groups, offset),
        n_test_groups,
        embargo=embargo,
        purge=embargo if purge is None else purge,
    )


def splits_from_groups(
    groups: list[Segment], n_test_groups: int, *, embargo: int, purge: int
) -> list[CPCVSplit]:
    """All C(len(groups), n_test_groups) splits of contiguous, touching group bounds."""
    n_groups = len(groups)
    if not 1 <= n_test_groups < n_groups:
        raise ValueError(
            f"n_test_groups must be between 1 and n_groups-1={n_groups - 1}, got {n_test_groups}."
        )
    if embargo < 0 or purge < 0:
        raise ValueError(f"embargo and purge must be zero or more bars, got {embargo}, {purge}.")
    if any(b <= a for a, b in groups) or any(
        groups[g][1] != groups[g + 1][0] for g in range(n_groups - 1)
    ):
        raise ValueError(f"CPCV groups must be non-empty and touch: {groups}.")
    splits: list[CPCVSplit] = []
    for index, held_out in enumerate(itertools.combinations(range(n_groups), n_test_groups)):
        test = tuple(groups[g] for g in held_out)
        train = _train_segments(groups, set(held_out), embargo, purge)
        if not train:
            raise ValueError(
                f"split {index} (held-out groups {held_out}) has no training bars left after an "
                f"embargo of {embargo} bars; use more data or a smaller embargo."
            )
        splits.append(CPCVSplit(index=index, test_groups=held_out, train=train, test=test))
    return splits


def _train_segments(
    groups: list[Segment], held_out: set[int], embargo: int, purge: int
) -> tuple[Segment, ...]:
    """Merges touching training groups, then trims `purge` bars before and `embargo` after
    every held-out group."""
    segments: list[Segment] = []
    for g, (start, stop) in enumerate(groups):
        if g in held_out:
            continue
        if segments and segments[-1][1] == start:
            segments[-1] = (segments[-1][0], stop)
        else:
            segments.append((start, stop))
    trimmed: list[Segment] = []
    test_starts = {groups[g][0] for g in held_out}
    test_stops = {groups[g][1] for g in held_out}
    for start, stop in segments:
        new_start = start + embargo if start in test_stops else start
        new_stop = stop - purge if stop in test_starts else stop
        if new_stop > new_start:
            trimmed.append((new_start, new_stop))
    return tuple(trimmed)
