"""CPCV paths: the N=4, k=2 table of the reference, and path returns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cappuccino_runtime.evaluation import cpcv_paths, path_returns


def test_four_groups_two_held_out_give_the_reference_table() -> None:
    splits = list(itertools.combinations(range(4), 2))
    assert cpcv_paths(splits, 4) == [[0, 0, 1, 2], [1, 3, 3, 4], [2, 4, 5, 5]]


def test_six_groups_two_held_out_give_five_full_paths() -> None:
    splits = list(itertools.combinations(range(6), 2))
    paths = cpcv_paths(splits, 6)
    assert len(paths) == 5
    for path in paths:
        for g, s in enumerate(path):
            assert g in splits[s]
    used = {(s, g) for path in paths for g, s in enumerate(path)}
    assert len(used) == 15 * 2  # every (split, held-out group) is on exactly one path


def test_path_returns_concatenate_in_group_order() -> None:
    splits = list(itertools.combinations(range(4), 2))
    seg = {(s, g): np.full(3, 10 * s + g, dtype=float) for s, gs in enumerate(splits) for g in gs}
    out = path_returns(seg, cpcv_paths(splits, 4))
    assert out.shape == (3, 12)
    np.testing.assert_array_equal(out[0], [0, 0, 0, 1, 1, 1, 12, 12, 12, 23, 23, 23])


def test_uneven_design_is_refused() -> None:
    with pytest.raises(ValueError, match="same number"):
        cpcv_paths([(0, 1), (0, 2)], 3)
