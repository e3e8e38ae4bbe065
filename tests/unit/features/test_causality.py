"""Causality and window locality of every feature set, proven by perturbing bars.

- Causality: changing any bars after t leaves every feature value at rows <= t unchanged
  (bit for bit).
- Locality: the value at t depends only on bars t - warmup .. t, so features computed on a
  window that starts `warmup` bars before t equal the full-history values (train/serve parity).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.features import FEATURE_SETS, compute_features, warmup_bars
from tests.unit.data.helpers import random_market_data

N_BARS = 420
BASE = random_market_data(N_BARS, ("BTC/USD", "ETH/USD"), seed=7)
FULL = {name: compute_features(BASE, name) for name in FEATURE_SETS}


def _perturbed(md: MarketData, lo: int, hi: int, seed: int, scale: float) -> MarketData:
    """Replaces bars lo..hi-1 with different but valid random bars (a random walk from bar lo-1)."""
    rng = np.random.default_rng(seed)
    arrays = {n: getattr(md, n).copy() for n in ("open", "high", "low", "close", "volume")}
    shape = (hi - lo, md.n_assets)
    anchor = arrays["close"][max(lo - 1, 0)]
    close = anchor * np.exp(np.cumsum(rng.normal(0, scale, shape), axis=0))
    open_ = close * np.exp(rng.normal(0, scale, shape))
    arrays["close"][lo:hi] = close
    arrays["open"][lo:hi] = open_
    arrays["high"][lo:hi] = np.maximum(open_, close) * 1.02
    arrays["low"][lo:hi] = np.minimum(open_, close) * 0.98
    arrays["volume"][lo:hi] = rng.choice([0.0, 1.0, 1e6], size=shape)
    return MarketData(md.index, md.symbols, md.timeframe, **arrays)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    feature_set=st.sampled_from(sorted(FEATURE_SETS)),
    cut=st.integers(0, N_BARS - 2),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.001, 0.05, 0.5]),
)
def test_perturbing_the_future_never_changes_the_past(feature_set, cut, seed, scale) -> None:
    changed = compute_features(_perturbed(BASE, cut + 1, N_BARS, seed, scale), feature_set)
    np.testing.assert_array_equal(changed[: cut + 1], FULL[feature_set][: cut + 1])


def test_the_perturbation_does_change_the_future() -> None:
    """Guards the property test: it must perturb something the features see."""
    changed = compute_features(_perturbed(BASE, 301, N_BARS, 1, 0.05), "standard")
    assert not np.array_equal(changed[301:], FULL["standard"][301:], equal_nan=True)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(feature_set=st.sampled_from(sorted(FEATURE_SETS)), start=st.integers(0, 200))
def test_features_depend_only_on_the_warmup_window(feature_set, start) -> None:
    warm = warmup_bars(feature_set)
    window = compute_features(BASE.slice(start, N_BARS), feature_set)
    np.testing.assert_array_equal(window[warm:], FULL[feature_set][start + warm :])


def test_perturbing_bars_older_than_the_window_changes_nothing_after_it() -> None:
    warm = warmup_bars("full")
    out = compute_features(_perturbed(BASE, 0, 100, 3, 0.2), "full")
    # bars 0..99 changed: rows >= 100 + warm must not notice, earlier rows must
    np.testing.assert_array_equal(out[100 + warm :], FULL["full"][100 + warm :])
    assert not np.array_equal(out[: 100 + warm], FULL["full"][: 100 + warm], equal_nan=True)
