"""From MarketData and the study's evaluation plan to what one CPCV split trains and is tested on.

Features are computed once over the whole series (they are causal, so a bar's value never sees
later bars) and the warm-up rows are cut. The study's plan (plan.py) fixes the CPCV groups and
the final hold-out in calendar time; here they become bar ranges of this trial's timeframe, so
every trial is tested on the same instants. Training bars are purged before each held-out
group and embargoed after it by the feature support plus the lookback (plan.feature_embargo).
Per split the normaliser is fitted on that split's training bars only and then applied to the
whole series, and the training env may only start episodes that stay inside one training
segment. The hold-out and the embargo before it are in no split: only a refit agent, trained
on `refit_train`, is ever scored there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.env import EnvConfig
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars
from cappuccino_runtime.training.cpcv import CPCVSplit, Segment, splits_from_groups
from cappuccino_runtime.training.plan import EvaluationPlan, feature_embargo, segment

__all__ = [
    "PreparedData",
    "SplitData",
    "capacity_problem",
    "plan_segments",
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
    groups: list[Segment]
    """the plan's CPCV groups as bar ranges of `market`"""
    embargo: int
    """training bars dropped after each held-out group"""
    holdout: Segment | None
    """the final hold-out as a bar range of `market` (None when the plan keeps none)"""
    refit_train: Segment
    """every bar a refit agent may train on: all decision bars before the hold-out embargo"""


@dataclass(frozen=True)
class SplitData:
    """One split, ready for the env: normalised features and where episodes may start."""

    split: CPCVSplit
    features: np.ndarray
    """features normalised with stats fitted on this split's training bars only"""
    normalizer: Normalizer
    valid_starts: np.ndarray
    """start bars whose whole episode (and lookback window) lies inside one training segment"""


def plan_segments(
    market: MarketData, plan: EvaluationPlan, lookback: int
) -> tuple[list[Segment], Segment | None, Segment]:
    """The plan's groups, hold-out and refit-training range as bar ranges of `market`.

    `market` is the series after the feature warm-up cut. Raises ConfigError when the plan's
    warm-up leaves this configuration without a complete first window, or a group is empty.
    """
    groups = [segment(market.index, a, b) for a, b in plan.groups]
    first = lookback - 1
    if groups[0][0] < first:
        raise ConfigError(
            f"the study's CPCV groups start at {plan.groups[0][0].isoformat()}, before this "
            f"trial's first complete window ({market.timeframe}, lookback {lookback}); the "
            "plan's warm-up was sized for a smaller search space. Start a new study."
        )
    empty = [g for g, (a, b) in enumerate(groups) if b - a < 2]
    if empty:
        raise ConfigError(
            f"CPCV groups {empty} of the study's plan hold fewer than 2 {market.timeframe} bars "
            "of the loaded data; load the data range the study was planned for."
        )
    holdout = segment(market.index, *plan.holdout) if plan.holdout is not None else None
    if holdout is not None and holdout[1] - holdout[0] < 2:
        raise ConfigError(
            f"the hold-out {plan.holdout} holds fewer than 2 {market.timeframe} bars of the "
            "loaded data; load the data range the study was planned for."
        )
    return groups, holdout, (first, groups[-1][1])


def prepare(
    market: MarketData,
    feature_set: str,
    lookback: int,
    plan: EvaluationPlan,
    *,
    embargo: int | None = None,
) -> PreparedData:
    """Computes features, cuts the warm-up and maps the plan's groups to CPCV splits.

    Args:
        market: the data at the trial's timeframe.
        plan: the study's evaluation plan.
        embargo: training bars dropped after each held-out group; None (and any smaller
            value is refused) = feature_embargo(feature_set, lookback).
    """
    warm = warmup_bars(feature_set)
    least = feature_embargo(feature_set, lookback)
    if embargo is not None and embargo < least:
        raise ConfigError(
            f"cpcv.embargo_bars {embargo} is shorter than the reach of feature_set "
            f"{feature_set!r} with lookback {lookback} ({least} bars): training features would "
            "read held-out prices. Remove it or raise it."
        )
    if market.n_bars <= warm + lookback + len(plan.groups) * 2:
        raise ConfigError(
            f"{market.n_bars} {market.timeframe} bars are too few for feature_set "
            f"{feature_set!r} (warm-up {warm} bars), lookback {lookback} and "
            f"{len(plan.groups)} CPCV groups; load a longer date range or use a finer timeframe."
        )
    raw = compute_features(market, feature_set)
    usable = market.slice(warm, market.n_bars)
    groups, holdout, refit_train = plan_segments(usable, plan, lookback)
    gap = least if embargo is None else embargo
    try:
        splits = splits_from_groups(groups, plan.n_test_groups, embargo=gap, purge=lookback + 1)
    except ValueError as e:
        raise ConfigError(f"{e} ({market.timeframe}, feature_set {feature_set!r})") from e
    return PreparedData(
        market=usable,
        features=raw[warm:],
        splits=splits,
        feature_set=feature_set,
        lookback=lookback,
        groups=groups,
        embargo=gap,
        holdout=holdout,
        refit_train=refit_train,
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
    market: MarketData,
    feature_set: str,
    lookback: int,
    episode_length: int,
    plan: EvaluationPlan,
) -> str | None:
    """Why `market` (at a trial's timeframe) cannot feed CPCV training under `plan`, or None.

    Needs only the bar index, so callers (phase 1) can check a timeframe before computing
    features.
    """
    warm = warmup_bars(feature_set)
    if market.n_bars <= warm + lookback + 2 * len(plan.groups):
        return f"{market.n_bars} bars leave too few after the feature warm-up of {warm}"
    usable = market.slice(warm, market.n_bars)
    try:
        groups, _, _ = plan_segments(usable, plan, lookback)
        splits = splits_from_groups(
            groups,
            plan.n_test_groups,
            embargo=feature_embargo(feature_set, lookback),
            purge=lookback + 1,
        )
    except (ConfigError, ValueError) as e:
        return str(e)
    for split in splits:
        if training_starts(split.train, lookback, episode_length).size == 0:
            longest = max(b - a for a, b in split.train)
            return (
                f"CPCV training segments of at most {longest} bars, shorter than "
                f"episode_length {episode_length} plus lookback {lookback}"
            )
    return None
