"""CPCV: 6 splits of 4 groups, contiguous test episodes, disjoint and purged train segments."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.training.cpcv import cpcv_splits, group_bounds


def _bars(segments: tuple[tuple[int, int], ...]) -> set[int]:
    return {b for start, stop in segments for b in range(start, stop)}


def test_four_groups_two_held_out_gives_six_splits() -> None:
    splits = cpcv_splits(400, embargo=5)
    assert len(splits) == 6
    assert [s.test_groups for s in splits] == list(itertools.combinations(range(4), 2))
    assert all(len(s.test) == 2 for s in splits)


def test_hand_computed_split() -> None:
    # groups: [0,100) [100,200) [200,300) [300,400); hold out 1 and 3, embargo 5
    split = next(s for s in cpcv_splits(400, embargo=5) if s.test_groups == (1, 3))
    assert split.test == ((100, 200), (300, 400))
    assert split.train == ((0, 95), (205, 295))


def test_neighbouring_held_out_groups_stay_two_episodes() -> None:
    split = next(s for s in cpcv_splits(400, embargo=3) if s.test_groups == (1, 2))
    assert split.test == ((100, 200), (200, 300))
    assert split.train == ((0, 97), (303, 400))


def test_offset_shifts_every_segment() -> None:
    a = cpcv_splits(400, embargo=2)
    b = cpcv_splits(400, embargo=2, offset=50)
    for sa, sb in zip(a, b, strict=True):
        assert [(x + 50, y + 50) for x, y in sa.test] == list(sb.test)
        assert [(x + 50, y + 50) for x, y in sa.train] == list(sb.train)


@settings(max_examples=60, deadline=None)
@given(
    n_bars=st.integers(40, 5000),
    embargo=st.integers(0, 8),
    offset=st.integers(0, 100),
)
def test_properties(n_bars: int, embargo: int, offset: int) -> None:
    splits = cpcv_splits(n_bars, embargo=embargo, offset=offset)
    groups = group_bounds(n_bars, 4, offset)
    assert groups[0][0] == offset and groups[-1][1] == offset + n_bars
    assert all(a[1] == b[0] for a, b in itertools.pairwise(groups))
    every_test_group = [seg for s in splits for seg in s.test]
    # each group is held out equally often: C(3, 1) = 3 times
    assert all(every_test_group.count(g) == 3 for g in groups)
    for s in splits:
        test_bars, train_bars = _bars(s.test), _bars(s.train)
        assert not test_bars & train_bars
        for start, stop in (*s.test, *s.train):
            assert offset <= start < stop <= offset + n_bars
        # purged: no training bar within `embargo` bars of any test bar
        for start, stop in s.test:
            near = set(range(start - embargo, start)) | set(range(stop, stop + embargo))
            assert not near & train_bars
        # nothing else is dropped
        all_bars = set(range(offset, offset + n_bars))
        dropped = all_bars - test_bars - train_bars
        assert len(dropped) <= 2 * embargo * len(s.test)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="n_test_groups"):
        cpcv_splits(100, n_groups=4, n_test_groups=4)
    with pytest.raises(ValueError, match="embargo"):
        cpcv_splits(100, embargo=-1)
    with pytest.raises(ValueError, match="no training bars"):
        cpcv_splits(8, embargo=10)
