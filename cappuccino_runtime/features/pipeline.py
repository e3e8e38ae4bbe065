"""Feature sets: which indicators make up the state, computed for all assets at once.

`compute_features(md, feature_set)` is the ONE feature function: the training environment and
the live trader both call it, so they see identical values (train/serve parity). Every feature
has finite support (see `indicators`), so the value at bar t depends only on bars
t - warmup_bars(feature_set) .. t: never on later bars, and not on how much history precedes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import indicators as ind

__all__ = ["FEATURES", "FEATURE_SETS", "compute_features", "feature_names", "warmup_bars"]

Compute = Callable[[MarketData], ind.Series]

FEATURES: dict[str, Compute] = {
    "log_return_1": lambda md: ind.log_return(md.close, 1),
    "log_return_4": lambda md: ind.log_return(md.close, 4),
    "log_return_24": lambda md: ind.log_return(md.close, 24),
    "rsi_14": lambda md: ind.rsi(md.close, 14),
    "macd": lambda md: ind.macd(md.close)["macd"],
    "macd_signal": lambda md: ind.macd(md.close)["macd_signal"],
    "macd_hist": lambda md: ind.macd(md.close)["macd_hist"],
    "cci_20": lambda md: ind.cci(md.high, md.low, md.close, 20),
    "adx_14": lambda md: ind.adx(md.high, md.low, md.close, 14)["adx"],
    "plus_di_14": lambda md: ind.adx(md.high, md.low, md.close, 14)["plus_di"],
    "minus_di_14": lambda md: ind.adx(md.high, md.low, md.close, 14)["minus_di"],
    "bb_width_20": lambda md: ind.bollinger_width(md.close, 20),
    "volume_z_20": lambda md: ind.volume_zscore(md.volume, 20),
    "atr_14": lambda md: ind.atr(md.high, md.low, md.close, 14),
    "stoch_k_14": lambda md: ind.stochastic_k(md.high, md.low, md.close, 14),
    "volatility_24": lambda md: ind.volatility(md.close, 24),
    "high_low_range": lambda md: ind.high_low_range(md.high, md.low),
}
"""Every feature by name. Prices enter as ratios/returns, so features are scale-free."""

_STANDARD = (
    "log_return_1",
    "log_return_4",
    "macd",
    "macd_signal",
    "rsi_14",
    "cci_20",
    "adx_14",
    "bb_width_20",
    "volume_z_20",
)

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "minimal": ("log_return_1", "rsi_14"),
    "standard": _STANDARD,
    "full": (
        *_STANDARD,
        "macd_hist",
        "log_return_24",
        "volatility_24",
        "atr_14",
        "stoch_k_14",
        "plus_di_14",
        "minus_di_14",
        "high_low_range",
    ),
}


def feature_names(feature_set: str) -> tuple[str, ...]:
    """The feature names of a set, in the order of the last axis of `compute_features`."""
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        raise ConfigError(
            f"unknown feature_set {feature_set!r}; choose one of {sorted(FEATURE_SETS)}."
        ) from None


def _warmups() -> dict[str, int]:
    """Each feature's warmup, measured on a tiny synthetic series (warmups are shape-free)."""
    import pandas as pd

    n = 512
    rng = np.random.default_rng(0)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 1)), axis=0))
    md = MarketData(
        index=pd.date_range("2020-01-01", periods=n, freq="1h", tz="UTC"),
        symbols=("X/USD",),
        timeframe="1h",
        open=close,
        high=close * 1.01,
        low=close * 0.99,
        close=close,
        volume=np.full((n, 1), 10.0),
    )
    return {name: fn(md).warmup for name, fn in FEATURES.items()}


_WARMUPS = _warmups()


def warmup_bars(feature_set: str) -> int:
    """Rows of `compute_features` before this index are NaN; from it on, all are finite."""
    return max(_WARMUPS[name] for name in feature_names(feature_set))


def compute_features(md: MarketData, feature_set: str) -> np.ndarray:
    """Indicators of `feature_set` for every asset: float32 `[T, A, F]`.

    Rows < warmup_bars(feature_set) are NaN (all features), rows from it on are finite. The
    value at bar t depends only on bars t - warmup_bars(feature_set) .. t.
    """
    names = feature_names(feature_set)
    warm = warmup_bars(feature_set)
    out = np.empty((md.n_bars, md.n_assets, len(names)), dtype=np.float32)
    cache: dict[str, ind.Series] = {}
    for j, name in enumerate(names):
        series = cache.setdefault(name, FEATURES[name](md))
        out[:, :, j] = series.values
    out[:warm] = np.nan
    return out
