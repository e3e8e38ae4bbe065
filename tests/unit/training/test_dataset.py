"""CPCV data prep under a study plan: same test instants for every trial, a hold-out nothing
sees, an embargo that keeps held-out prices out of training features, train-only normaliser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from cappuccino_runtime.training.plan import EvaluationPlan, build_plan, feature_embargo


def _market(n_bars: int, seed: int = 0) -> MarketData:
    rng = np.random.default_rng(seed)
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


def _plan(
    md: MarketData,
    timeframes: tuple[str, ...] = ("1h",),
    sets: tuple[str, ...] = ("minimal",),
    lookback: int = 4,
    holdout: float = 0.15,
) -> EvaluationPlan:
    return build_plan(
        md,
        timeframes=list(timeframes),
        feature_sets=list(sets),
        max_lookback=lookback,
        n_groups=4,
        n_test_groups=2,
        holdout_fraction=holdout,
    )


def test_training_starts_keep_window_and_episode_inside_one_segment() -> None:
    starts = training_starts(((0, 20), (30, 45)), lookback=3, episode_length=10)
    # segment (0, 20): s in 2..9 (s + 10 <= 19); segment (30, 45): s in 32..34
    assert starts.tolist() == [*range(2, 10), 32, 33, 34]
    assert training_starts(((0, 10),), lookback=3, episode_length=10).size == 0


def test_prepare_cuts_the_warmup_and_starts_groups_after_a_complete_window() -> None:
    md = _market(1200)
    data = prepare(md, "minimal", 4, _plan(md))
    warm = warmup_bars("minimal")
    assert data.market.n_bars == 1200 - warm
    assert np.isfinite(data.features).all()
    assert data.market.index[0] == md.index[warm]
    assert data.groups[0][0] >= 3  # lookback - 1: the first window is complete
    assert data.embargo == feature_embargo("minimal", 4) == warm + 5


def test_hold_out_is_in_no_split_and_after_the_refit_training_range() -> None:
    md = _market(2000)
    plan = _plan(md)
    data = prepare(md, "minimal", 4, plan)
    assert data.holdout is not None
    h0, h1 = data.holdout
    assert data.market.index[h0] == pd.Timestamp(plan.holdout[0])
    assert (h1 - h0) / 2000 == pytest.approx(0.15, abs=0.01)
    for split in data.splits:
        for _a, b in (*split.train, *split.test):
            assert b <= h0
    assert data.refit_train[1] <= h0 - 5  # the embargo before the hold-out
    assert data.refit_train[1] == data.groups[-1][1]


@pytest.mark.parametrize(
    ("timeframe", "feature_set", "lookback"),
    [("1h", "minimal", 4), ("1h", "standard", 6), ("4h", "minimal", 5), ("4h", "standard", 4)],
)
def test_every_configuration_is_tested_on_the_same_instants(
    timeframe: str, feature_set: str, lookback: int
) -> None:
    md = _market(6000)
    plan = _plan(md, ("1h", "4h"), ("minimal", "standard"), lookback=6)
    at_tf = md if timeframe == "1h" else md.resample(timeframe)
    data = prepare(at_tf, feature_set, lookback, plan)
    width = pd.Timedelta(timeframe)
    spans = [(data.market.index[a], data.market.index[b - 1] + width) for a, b in data.groups]
    assert spans == [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in plan.groups]
    assert data.holdout is not None
    assert data.market.index[data.holdout[0]] == pd.Timestamp(plan.holdout[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feature_set=st.sampled_from(["minimal", "standard"]),
    lookback=st.integers(2, 6),
    split_index=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_perturbing_held_out_prices_changes_no_training_feature(
    feature_set: str, lookback: int, split_index: int, seed: int
) -> None:
    md = _market(3000)
    plan = _plan(md, sets=(feature_set,), lookback=lookback)
    base = prepare(md, feature_set, lookback, plan)
    split = base.splits[split_index]
    rng = np.random.default_rng(seed)
    factor = np.ones((md.n_bars, 1))
    warm = warmup_bars(feature_set)
    for a, b in split.test:
        factor[warm + a : warm + b] = rng.uniform(0.5, 1.5, (b - a, 1))
    moved = MarketData(
        index=md.index,
        symbols=md.symbols,
        timeframe=md.timeframe,
        open=md.open * factor,
        high=md.high * factor,
        low=md.low * factor,
        close=md.close * factor,
        volume=md.volume * rng.uniform(0.5, 2.0, (md.n_bars, 1)) ** (factor != 1),
    )
    other = prepare(moved, feature_set, lookback, plan)
    assert other.splits[split_index] == split
    changed = np.flatnonzero(np.any(base.features != other.features, axis=(1, 2)))
    assert changed.size > 0  # the perturbation reached the test bars' features
    for a, b in split.train:
        np.testing.assert_array_equal(base.features[a:b], other.features[a:b])
    env = EnvConfig(lookback=lookback, episode_length=32)
    assert (
        split_data(base, split, env).normalizer.to_stats()
        == split_data(other, split, env).normalizer.to_stats()
    )


def test_an_embargo_shorter_than_the_feature_reach_is_refused() -> None:
    md = _market(2000)
    with pytest.raises(ConfigError, match="shorter than the reach"):
        prepare(md, "minimal", 4, _plan(md), embargo=5)


def test_normaliser_is_fitted_on_the_training_bars_only() -> None:
    md = _market(2000)
    data = prepare(md, "minimal", 4, _plan(md))
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
    md = _market(2000)
    plan = _plan(md)
    data = prepare(md, "minimal", 4, plan)
    with pytest.raises(ConfigError, match="episode_length 900"):
        split_data(data, data.splits[0], EnvConfig(lookback=4, episode_length=900))
    with pytest.raises(ConfigError, match="leave"):
        _plan(_market(120))
    assert capacity_problem(md, "minimal", 4, 900, plan)
    assert capacity_problem(md, "minimal", 4, 64, plan) is None
