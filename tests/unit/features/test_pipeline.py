"""Feature sets: shapes, names, warmup contract and per-asset independence."""

from __future__ import annotations

import numpy as np
import pytest

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import FEATURE_SETS, compute_features, feature_names, warmup_bars
from cappuccino_runtime.features.pipeline import FEATURES
from tests.unit.data.helpers import random_market_data

MD = random_market_data(400, ("BTC/USD", "ETH/USD", "LTC/USD"), seed=11)


def test_required_sets_and_indicators_exist() -> None:
    assert {"minimal", "standard", "full"} <= set(FEATURE_SETS)
    standard = " ".join(FEATURE_SETS["standard"])
    for indicator in ("macd", "rsi", "cci", "adx", "bb_width", "log_return", "volume_z"):
        assert indicator in standard
    assert set(FEATURE_SETS["minimal"]) < set(FEATURE_SETS["standard"]) < set(FEATURE_SETS["full"])
    for names in FEATURE_SETS.values():
        assert set(names) <= set(FEATURES)


@pytest.mark.parametrize("feature_set", sorted(FEATURE_SETS))
def test_shape_dtype_and_warmup_contract(feature_set: str) -> None:
    x = compute_features(MD, feature_set)
    warm = warmup_bars(feature_set)
    assert x.shape == (MD.n_bars, MD.n_assets, len(feature_names(feature_set)))
    assert x.dtype == np.float32
    assert np.isnan(x[:warm]).all()
    assert np.isfinite(x[warm:]).all()


def test_warmup_is_tight_for_the_slowest_feature() -> None:
    """The row just before the warmup would be NaN even without the explicit mask."""
    from cappuccino_runtime.features.pipeline import _WARMUPS

    for feature_set in FEATURE_SETS:
        slowest = max(feature_names(feature_set), key=_WARMUPS.__getitem__)
        series = FEATURES[slowest](MD)
        assert np.isnan(series.values[warmup_bars(feature_set) - 1]).all()
        assert np.isfinite(series.values[warmup_bars(feature_set)]).all()


def test_assets_are_computed_independently() -> None:
    full = compute_features(MD, "full")
    alone = compute_features(MD.select(["ETH/USD"]), "full")
    np.testing.assert_array_equal(alone[:, 0], full[:, 1])


def test_features_are_scale_free_in_price() -> None:
    """Multiplying all prices by 1000 leaves every feature (almost) unchanged."""
    scaled = type(MD)(
        MD.index,
        MD.symbols,
        MD.timeframe,
        MD.open * 1000,
        MD.high * 1000,
        MD.low * 1000,
        MD.close * 1000,
        MD.volume,
    )
    warm = warmup_bars("full")
    np.testing.assert_allclose(
        compute_features(scaled, "full")[warm:],
        compute_features(MD, "full")[warm:],
        rtol=1e-4,
        atol=1e-4,
    )


def test_unknown_feature_set_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="standard"):
        compute_features(MD, "fancy")


@pytest.mark.parametrize("feature_set", sorted(FEATURE_SETS))
def test_long_flat_zero_volume_stretch_stays_finite(feature_set: str) -> None:
    """An outage longer than the warmup (flat bars, no volume) must not produce NaN or inf."""
    arrays = {n: getattr(MD, n).copy() for n in ("open", "high", "low", "close", "volume")}
    flat = slice(100, 350)
    level = arrays["close"][99]
    for name in ("open", "high", "low", "close"):
        arrays[name][flat] = level
    arrays["volume"][flat] = 0.0
    md = type(MD)(MD.index, MD.symbols, MD.timeframe, **arrays)
    x = compute_features(md, feature_set)
    assert np.isfinite(x[warmup_bars(feature_set) :]).all()
    names = feature_names(feature_set)
    inside = x[340, 0]  # deep inside the flat stretch
    assert inside[names.index("rsi_14")] == 50.0
    assert inside[names.index("log_return_1")] == 0.0


def test_history_shorter_than_the_warmup_is_all_nan_not_an_error() -> None:
    short = MD.slice(0, 30)
    x = compute_features(short, "standard")
    assert x.shape == (30, MD.n_assets, len(feature_names("standard")))
    assert np.isnan(x).all()
