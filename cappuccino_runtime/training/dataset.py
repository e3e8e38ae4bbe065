"""From MarketData to what one CPCV split trains and is tested on.

Features are computed once over the whole series (they are causal, so a bar's value never sees
later bars), the warm-up rows are cut, and the remaining bars are split by CPCV. Per split the
normaliser is fitted on that split's training bars only and then applied to the whole series,
and the training env may only start episodes that stay inside one training segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.env import EnvConfig
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars
from cappuccino_runtime.training.cpcv import CPCVSplit, Segment, cpcv_splits

__all__ = [
    "PreparedData",
    "SplitData",
    "capacity_problem",
    "prepare",
    "split_data",
    "training_starts",
]


@dataclass(frozen=True)
class PreparedData:
    """Prices and raw (un-normalised) features after the warm-up, with the CPCV splits."""

    market: MarketData
    """the bars after the feature warm-up (what every segment indexes)"""
    features: np.ndarray
    """raw features float32 [T, A, F], all finite"""
    splits: list[CPCVSplit]
    feature_set: str
    lookback: int


@dataclass(frozen=True)
class SplitData:
    """One split, ready for the env: normalised features and where episodes may start."""

    split: CPCVSplit
    features: np.ndarray
    """features normalised with stats fitted on this split's training bars only"""
    normalizer: Normalizer
    valid_starts: np.ndarray
    """start bars whose whole episode (and lookback window) lies inside one training segment"""


def prepare(
    market: MarketData,
    feature_set: str,
    lookback: int,
    *,
    n_groups: int,
    n_test_groups: int,
    embargo: int,
) -> PreparedData:
    """Computes features, cuts the warm-up and builds the CPCV splits.

    The first usable decision bar is lookback-1 after the warm-up cut (its window must be
    complete), so the first group starts there.
    """
    warm = warmup_bars(feature_set)
    if market.n_bars <= warm + lookback + n_groups * 2:
        raise ConfigError(
            f"{market.n_bars} {market.timeframe} bars are too few for feature_set "
            f"{feature_set!r} (warm-up {warm} bars), lookback {lookback} and {n_groups} CPCV "
            "groups; load a longer date range or use a finer timeframe."
        )
    raw = compute_features(market, feature_set)
    usable = market.slice(warm, market.n_bars)
    features = raw[warm:]
    first = lookback - 1
    splits = cpcv_splits(
        usable.n_bars - first,
        n_groups=n_groups,
        n_test_groups=n_test_groups,
        embargo=embargo,
        offset=first,
    )
    return PreparedData(
        market=usable, features=features, splits=splits, feature_set=feature_set, lookback=lookback
    )


def training_starts(
    segments: tuple[Segment, ...], lookback: int, episode_length: int
) -> np.ndarray:
    """Every start s with its window (s-lookback+1..s) and its episode (..s+episode_length) in one segment."""
    starts = [
        np.arange(start + lookback - 1, stop - episode_length)
        for start, stop in segments
        if stop - episode_length > start + lookback - 1
    ]
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def split_data(data: PreparedData, split: CPCVSplit, env: EnvConfig) -> SplitData:
    """Fits the normaliser on the split's training bars and lists the training env's starts."""
    train_rows = np.concatenate([data.features[a:b] for a, b in split.train])
    normalizer = Normalizer.fit(train_rows)
    starts = training_starts(split.train, env.lookback, env.episode_length)
    if starts.size == 0:
        longest = max(b - a for a, b in split.train)
        raise ConfigError(
            f"CPCV split {split.index} (held-out groups {split.test_groups}) has no training "
            f"segment long enough for episode_length {env.episode_length} plus lookback "
            f"{env.lookback}: the longest has {longest} bars. Lower env.episode_length in the "
            "training config or load more bars."
        )
    return SplitData(
        split=split,
        features=normalizer.transform(data.features),
        normalizer=normalizer,
        valid_starts=starts,
    )


def capacity_problem(
    n_bars: int,
    feature_set: str,
    lookback: int,
    episode_length: int,
    *,
    n_groups: int,
    n_test_groups: int,
    embargo: int,
) -> str | None:
    """Why `n_bars` bars cannot feed CPCV training with these settings, or None when they can.

    Needs only bar counts, so callers (phase 1) can check a timeframe before computing features.
    """
    warm = warmup_bars(feature_set)
    usable = n_bars - warm - (lookback - 1)
    if usable < 2 * n_groups:
        return f"{n_bars} bars leave {max(usable, 0)} after the feature warm-up of {warm}"
    try:
        splits = cpcv_splits(
            usable, n_groups=n_groups, n_test_groups=n_test_groups, embargo=embargo
        )
    except ValueError as e:
        return str(e)
    for split in splits:
        if training_starts(split.train, lookback, episode_length).size == 0:
            longest = max(b - a for a, b in split.train)
            return (
                f"{n_bars} bars give CPCV training segments of at most {longest} bars, shorter "
                f"than episode_length {episode_length} plus lookback {lookback}"
            )
    return None
