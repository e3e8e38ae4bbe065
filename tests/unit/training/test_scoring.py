"""Sharpe over held-out episodes on hand-computed cases; returns never span two episodes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.training.oos import segment_returns, split_metric


def pooled_sharpe(curves: list[np.ndarray], timeframe: str) -> float:
    """A split's Sharpe (training.oos.split_metric) of back-to-back segments with these curves."""
    bounds = np.cumsum([0] + [len(c) for c in curves])
    segments = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    index = pd.date_range("2024-01-01", periods=int(bounds[-1]), freq="h", tz="UTC")
    groups = list(range(len(curves)))
    parts = segment_returns(0, groups, segments, index, curves, curves)
    return split_metric(parts, timeframe, "sharpe")


def test_one_episode_matches_the_textbook_formula() -> None:
    # returns +10%, -5%, +10%: mean 0.05, sample std sqrt(0.0075) -> daily bars, 365 per year
    equity = np.array([100.0, 110.0, 104.5, 114.95])
    expected = 0.05 / math.sqrt(0.0075) * math.sqrt(365)
    assert pooled_sharpe([equity], "1d") == pytest.approx(expected)


def test_two_episodes_pool_their_returns_not_their_prices() -> None:
    # Episode B starts far below where A ended; stitching the curves would invent a -50% bar.
    a = np.array([100.0, 110.0])  # +10%
    b = np.array([50.0, 47.5, 52.25])  # -5%, +10%
    expected = 0.05 / math.sqrt(0.0075) * math.sqrt(8760)
    assert pooled_sharpe([a, b], "1h") == pytest.approx(expected)
    stitched = np.concatenate([a, b])
    assert pooled_sharpe([stitched], "1h") != pytest.approx(expected)


def test_flat_equity_has_zero_sharpe() -> None:
    assert pooled_sharpe([np.full(5, 100.0)], "1h") == 0.0
