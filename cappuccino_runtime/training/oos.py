"""Per-bar out-of-sample returns of a trial: computed per test segment, stored beside trial.json.

What PBO and DSR need (evaluation/): for every split and every held-out group, the agent's and
buy-and-hold's per-bar returns with the open time of the bar each return ends on. A return is
computed inside its segment (equity[k] / equity[k-1] - 1 for k >= 1), never across segments.

The file `oos_returns.npz` holds plain arrays (no pickles; read with allow_pickle=False):
split, group (int16), timestamp (int64 ns since the epoch, UTC), agent, hodl (float64). Its
sha256 is recorded in trial.json's checksums like the weights'.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from cappuccino_contracts.artifacts import RETURNS_FILE

from cappuccino_runtime.errors import ArtifactError
from cappuccino_runtime.metrics import annualised_sharpe, bars_per_year, returns_from_equity
from cappuccino_runtime.training.cpcv import Segment

__all__ = [
    "Objective",
    "SegmentReturns",
    "decode_returns",
    "encode_returns",
    "segment_returns",
    "split_metric",
]

Objective = Literal["excess_sharpe", "sharpe"]
_COLUMNS = ("split", "group", "timestamp", "agent", "hodl")


@dataclass(frozen=True)
class SegmentReturns:
    """One (split, held-out group) test segment's per-bar returns."""

    split: int
    group: int
    timestamp: np.ndarray
    """int64 ns since the epoch (UTC): open time of the bar each return ends on"""
    agent: np.ndarray
    hodl: np.ndarray


def segment_returns(
    split: int,
    groups: Sequence[int],
    segments: Sequence[Segment],
    index: pd.DatetimeIndex,
    agent_curves: Sequence[np.ndarray],
    hodl_curves: Sequence[np.ndarray],
) -> list[SegmentReturns]:
    """Turns each segment's equity curves into per-bar returns stamped with bar times."""
    out = []
    for g, (start, stop), a, h in zip(groups, segments, agent_curves, hodl_curves, strict=True):
        if len(a) != stop - start or len(h) != stop - start:
            raise ValueError(
                f"segment {start}..{stop} has {stop - start} bars but equity curves of "
                f"{len(a)} and {len(h)} points."
            )
        out.append(
            SegmentReturns(
                split=split,
                group=int(g),
                timestamp=index.asi8[start + 1 : stop].copy(),
                agent=returns_from_equity(a),
                hodl=returns_from_equity(h),
            )
        )
    return out


def split_metric(parts: Sequence[SegmentReturns], timeframe: str, objective: Objective) -> float:
    """A split's score: annualised Sharpe of its pooled per-bar (excess) returns."""
    agent = np.concatenate([p.agent for p in parts])
    if objective == "excess_sharpe":
        agent = agent - np.concatenate([p.hodl for p in parts])
    return float(annualised_sharpe(agent, bars_per_year(timeframe)))


def encode_returns(parts: Sequence[SegmentReturns]) -> bytes:
    """The npz bytes of every segment's returns."""
    sizes = [p.agent.size for p in parts]
    buf = io.BytesIO()
    np.savez(
        buf,
        split=np.repeat([p.split for p in parts], sizes).astype(np.int16),
        group=np.repeat([p.group for p in parts], sizes).astype(np.int16),
        timestamp=np.concatenate([p.timestamp for p in parts]).astype(np.int64),
        agent=np.concatenate([p.agent for p in parts]).astype(np.float64),
        hodl=np.concatenate([p.hodl for p in parts]).astype(np.float64),
    )
    return buf.getvalue()


def decode_returns(data: bytes, where: str = RETURNS_FILE) -> list[SegmentReturns]:
    """Parses `encode_returns` bytes back into segments (in stored order)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _COLUMNS}
    except (ValueError, KeyError, OSError) as e:
        raise ArtifactError(f"{where} is not a valid out-of-sample returns file: {e}") from e
    keys = np.stack([arrays["split"], arrays["group"]], axis=1).astype(np.int64)
    out: list[SegmentReturns] = []
    if keys.shape[0] == 0:
        return out
    change = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1
    for lo, hi in zip(np.r_[0, change], np.r_[change, keys.shape[0]], strict=True):
        out.append(
            SegmentReturns(
                split=int(keys[lo, 0]),
                group=int(keys[lo, 1]),
                timestamp=arrays["timestamp"][lo:hi],
                agent=arrays["agent"][lo:hi],
                hodl=arrays["hodl"][lo:hi],
            )
        )
    return out
