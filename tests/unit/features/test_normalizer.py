"""Normalizer: fitted on the training segment only, per feature pooled over assets, NaN-safe."""

from __future__ import annotations

import numpy as np
import pytest
from cappuccino_contracts.artifacts import ModelSpec, NormalizerStats

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars
from tests.unit.data.helpers import random_market_data


def test_stats_are_per_feature_pooled_over_time_and_assets() -> None:
    x = np.arange(24.0).reshape(4, 3, 2)  # T=4, A=3, F=2
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(norm.mean, [x[..., 0].mean(), x[..., 1].mean()])
    np.testing.assert_allclose(norm.std, [x[..., 0].std(), x[..., 1].std()])


def test_fitted_on_the_training_segment_only() -> None:
    md = random_market_data(600, seed=5)
    features = compute_features(md, "standard")
    split = 400
    train = Normalizer.fit(features[:split])
    # exactly the statistics of the training rows (warmup NaN ignored) ...
    flat = features[:split].reshape(-1, features.shape[-1]).astype(np.float64)
    np.testing.assert_allclose(train.mean, np.nanmean(flat, axis=0), rtol=1e-12)
    # ... so the training segment is standardised, whatever the later bars hold
    z = train.transform(features[:split])
    np.testing.assert_allclose(np.nanmean(z, axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(z, axis=(0, 1)), 1.0, atol=1e-4)
    shocked = features.copy()
    shocked[split:] *= 50.0
    refit = Normalizer.fit(shocked[:split])
    np.testing.assert_array_equal(refit.mean, train.mean)
    np.testing.assert_array_equal(refit.std, train.std)
    assert not np.allclose(Normalizer.fit(shocked).std, train.std)  # fitting on all would differ


def test_nan_rows_are_ignored_and_kept_nan() -> None:
    md = random_market_data(300, seed=6)
    x = compute_features(md, "minimal")
    norm = Normalizer.fit(x)
    assert np.isfinite(norm.mean).all() and np.isfinite(norm.std).all()
    z = norm.transform(x)
    warm = warmup_bars("minimal")
    assert np.isnan(z[:warm]).all() and np.isfinite(z[warm:]).all()


def test_constant_feature_is_centred_not_blown_up() -> None:
    x = np.stack([np.full(10, 3.0), np.arange(10.0)], axis=-1)
    norm = Normalizer.fit(x)
    assert norm.std[0] == 1.0
    np.testing.assert_array_equal(norm.transform(x)[:, 0], 0.0)


def test_all_nan_feature_is_a_config_error() -> None:
    x = np.stack([np.full(5, np.nan), np.arange(5.0)], axis=-1)
    with pytest.raises(ConfigError, match=r"\[0\]"):
        Normalizer.fit(x)


def test_round_trip_through_model_spec() -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 2, 4))
    norm = Normalizer.fit(x)
    stats = norm.to_stats()
    assert isinstance(stats, NormalizerStats) and len(stats.mean) == 4
    spec = ModelSpec(
        symbols=["BTC/USD", "ETH/USD"],
        timeframe="1h",
        lookback=4,
        feature_set="x",
        obs_dim=10,
        action_dim=2,
        net_dimension=8,
        normalizer=stats,
    )
    again = Normalizer.from_stats(ModelSpec.model_validate_json(spec.model_dump_json()).normalizer)
    np.testing.assert_array_equal(again.transform(x), norm.transform(x))


def test_wrong_feature_count_is_a_config_error() -> None:
    norm = Normalizer.fit(np.ones((5, 3)))
    with pytest.raises(ConfigError, match="3 features"):
        norm.transform(np.ones((5, 4)))
    with pytest.raises(ConfigError, match="positive"):
        Normalizer.from_stats(NormalizerStats(mean=[0.0], std=[0.0]))
