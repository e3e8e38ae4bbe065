"""CPCV data prep: warm-up cut, training starts inside one segment, normaliser fitted on train only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.env import EnvConfig
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import warmup_bars
from cappuccino_runtime.training.dataset import (
    capacity_problem,
    prepare,
    split_data,
    training_starts,
)


def _market(n_bars: int) -> MarketData:
    rng = np.random.default_rng(0)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_bars, 2)), axis=0))
    return MarketData(
        index=pd.date_range("2020-01-01", periods=n_bars, freq="1h", tz="UTC"),
        symbols=("A/USD", "B/USD"),
        timeframe="1h",
        open=close,
        high=close * 1.01,
        low=close * 0.99,
        close=close,
        volume=rng.uniform(1, 2, (n_bars, 2)),
    )


def test_training_starts_keep_window_and_episode_inside_one_segment() -> None:
    starts = training_starts(((0, 20), (30, 45)), lookback=3, episode_length=10)
    # segment (0, 20): s in 2..9 (s + 10 <= 19); segment (30, 45): s in 32..34
    assert starts.tolist() == [*range(2, 10), 32, 33, 34]
    assert training_starts(((0, 10),), lookback=3, episode_length=10).size == 0


def test_prepare_cuts_the_warmup_and_offsets_groups_by_the_lookback() -> None:
    md = _market(600)
    data = prepare(md, "minimal", 4, n_groups=4, n_test_groups=2, embargo=5)
    warm = warmup_bars("minimal")
    assert data.market.n_bars == 600 - warm
    assert np.isfinite(data.features).all()
    assert data.market.index[0] == md.index[warm]
    first_group_start = min(seg[0] for s in data.splits for seg in s.test)
    assert first_group_start == 3  # lookback - 1: the first window is complete


def test_normaliser_is_fitted_on_the_training_bars_only() -> None:
    data = prepare(_market(800), "minimal", 4, n_groups=4, n_test_groups=2, embargo=5)
    split = data.splits[0]
    sd = split_data(data, split, EnvConfig(lookback=4, episode_length=32))
    train_rows = np.concatenate([data.features[a:b] for a, b in split.train])
    flat = train_rows.reshape(-1, train_rows.shape[-1]).astype(np.float64)
    np.testing.assert_allclose(sd.normalizer.mean, flat.mean(axis=0), rtol=1e-6)
    everything = data.features.reshape(-1, data.features.shape[-1]).astype(np.float64)
    assert not np.allclose(sd.normalizer.mean, everything.mean(axis=0), rtol=1e-6)
    assert sd.features.shape == data.features.shape
    for s in sd.valid_starts:
        assert any(a + 3 <= s and s + 32 < b for a, b in split.train)


def test_too_short_episodes_and_data_are_clear_errors() -> None:
    data = prepare(_market(400), "minimal", 4, n_groups=4, n_test_groups=2, embargo=5)
    with pytest.raises(ConfigError, match="episode_length 500"):
        split_data(data, data.splits[0], EnvConfig(lookback=4, episode_length=500))
    with pytest.raises(ConfigError, match="too few"):
        prepare(_market(30), "standard", 4, n_groups=4, n_test_groups=2, embargo=5)
    assert capacity_problem(400, "minimal", 4, 500, n_groups=4, n_test_groups=2, embargo=5)
    assert capacity_problem(4000, "minimal", 4, 64, n_groups=4, n_test_groups=2, embargo=5) is None
