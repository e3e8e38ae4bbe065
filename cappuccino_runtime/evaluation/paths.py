"""CPCV backtest paths (López de Prado 2018, ch. 12.4) built from the splits' held-out groups.

With N groups and k held out per split there are C(N, k) splits; each group is held out by
C(N-1, k-1) of them, so there are phi = C(N-1, k-1) paths. Path j takes, for every group g, the
j-th split (in the splits' order) that holds g out. A path's returns are the per-bar returns of
those (split, group) test segments concatenated in group order: every bar traded by an agent
that never trained on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["cpcv_paths", "path_returns"]


def cpcv_paths(split_test_groups: Sequence[Sequence[int]], n_groups: int) -> list[list[int]]:
    """For each path, the split index that supplies each group (path[j][g] = split index).

    Args:
        split_test_groups: the held-out groups of every split, in split order.
        n_groups: the number of CPCV groups.

    Raises:
        ValueError: when groups are not held out equally often (not a full CPCV design).
    """
    holders: list[list[int]] = [[] for _ in range(n_groups)]
    for index, groups in enumerate(split_test_groups):
        for g in groups:
            if not 0 <= g < n_groups:
                raise ValueError(f"split {index} holds out group {g}, outside 0..{n_groups - 1}.")
            holders[g].append(index)
    counts = {len(h) for h in holders}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(
            "every group must be held out by the same number of splits to form CPCV paths; "
            f"got counts {[len(h) for h in holders]}."
        )
    n_paths = counts.pop()
    return [[holders[g][j] for g in range(n_groups)] for j in range(n_paths)]


def path_returns(
    segment_returns: Mapping[tuple[int, int], np.ndarray], paths: Sequence[Sequence[int]]
) -> np.ndarray:
    """Per-bar returns of every path: [n_paths, T], T the bars of all groups together.

    Args:
        segment_returns: (split index, group) -> that split's per-bar returns on that group.
        paths: from `cpcv_paths`.

    Raises:
        ValueError: a (split, group) is missing, or paths would have different lengths.
    """
    rows = []
    for j, path in enumerate(paths):
        parts = []
        for g, split in enumerate(path):
            if (split, g) not in segment_returns:
                raise ValueError(f"path {j} needs the returns of split {split} on group {g}.")
            parts.append(np.asarray(segment_returns[(split, g)], dtype=np.float64))
        rows.append(np.concatenate(parts))
    lengths = {r.size for r in rows}
    if len(lengths) != 1:
        raise ValueError(
            f"CPCV paths have different lengths {sorted(lengths)}: the splits were tested on "
            "different bars of the same group."
        )
    return np.stack(rows)
