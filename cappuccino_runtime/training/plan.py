"""The evaluation plan of a study: where the final hold-out and the CPCV groups lie, in time.

Fixed once per study (stored as the study user attr `evaluation_plan`) from the loaded data
and the whole search space, so every trial, whatever its timeframe, feature set or lookback,
is tested on the same instants:

- the warm-up is sized for the largest configuration the space can sample (the slowest
  feature set at the coarsest timeframe with the longest lookback), so no trial has to start
  later than another;
- the final hold-out is the last `holdout.fraction` of the data's time span; CPCV, Optuna,
  pruning and phase-1 selection never see it, nor the embargo before it;
- the CPCV groups cut the span between the warm-up and that embargo into equal calendar
  spans, aligned to the coarsest timeframe so bars of every timeframe fall on the same side.

Bars belong to the span holding their open time. `segment(index, start, end)` maps a span to
the half-open bar range of any timeframe's index.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import warmup_bars
from cappuccino_runtime.timeframes import timeframe_delta

__all__ = ["PLAN_ATTR", "EvaluationPlan", "build_plan", "feature_embargo", "segment"]

PLAN_ATTR = "evaluation_plan"


class EvaluationPlan(BaseModel):
    """Calendar bounds (UTC, half-open) shared by every trial of a study and by its refit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_start: datetime = Field(description="Open time of the first bar loaded.")
    data_end: datetime = Field(description="End of the last bar loaded (exclusive).")
    usable_start: datetime = Field(description="First instant after the largest warm-up.")
    groups: list[tuple[datetime, datetime]] = Field(min_length=2)
    n_test_groups: int = Field(ge=1)
    holdout: tuple[datetime, datetime] | None = Field(
        description="The final hold-out span; None when the config keeps none."
    )
    align: str = Field(description="The coarsest timeframe of the space; bounds are multiples.")

    @model_validator(mode="after")
    def _ordered(self) -> EvaluationPlan:
        edges = [self.usable_start, *(b for g in self.groups for b in g)]
        if any(b < a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"plan bounds are not in time order: {edges}")
        if not 1 <= self.n_test_groups < len(self.groups):
            raise ValueError(
                f"n_test_groups {self.n_test_groups} must be between 1 and {len(self.groups) - 1}"
            )
        if self.holdout is not None and self.holdout[0] < self.groups[-1][1]:
            raise ValueError("the hold-out overlaps the CPCV groups")
        return self

    @property
    def cpcv_end(self) -> datetime:
        """End of the last CPCV group: everything before it may train a refit agent."""
        return self.groups[-1][1]

    def digest(self) -> str:
        """sha256 of the plan's JSON: trials record it, so a report can check they agree."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()


def feature_embargo(feature_set: str, lookback: int) -> int:
    """Bars to drop after a held-out group so no training feature reads a held-out price.

    The state at bar t reads features of bars t-lookback+1..t, and a feature of bar u reads
    bars u-warmup..u; a training segment starting `warmup + lookback + 1` bars after the test
    group ends therefore reads none of its prices (also not through the normaliser fit).
    """
    return warmup_bars(feature_set) + lookback + 1


def _floor(ts: pd.Timestamp, width: pd.Timedelta) -> pd.Timestamp:
    return pd.Timestamp(ts.value // width.value * width.value, tz="UTC")


def _ceil(ts: pd.Timestamp, width: pd.Timedelta) -> pd.Timestamp:
    return pd.Timestamp(-(-ts.value // width.value) * width.value, tz="UTC")


def build_plan(
    market: MarketData,
    *,
    timeframes: Sequence[str],
    feature_sets: Sequence[str],
    max_lookback: int,
    n_groups: int,
    n_test_groups: int,
    holdout_fraction: float,
    holdout_embargo_bars: int | None = None,
) -> EvaluationPlan:
    """The plan for `market` and a search space spanning these timeframes/feature sets.

    Args:
        market: the loaded data at its base timeframe.
        timeframes: every timeframe a trial may run at.
        feature_sets: every feature set a trial may use.
        max_lookback: the largest lookback the space can sample.
        n_groups, n_test_groups: the CPCV design.
        holdout_fraction: share of the data's time span kept as the final hold-out (0 = none).
        holdout_embargo_bars: bars of the coarsest timeframe between the last CPCV group and
            the hold-out; None = max_lookback + 1 (the state window plus the reward's bar).
    """
    if not timeframes or not feature_sets:
        raise ConfigError("an evaluation plan needs at least one timeframe and one feature set.")
    coarsest = max(timeframes, key=lambda tf: timeframe_delta(tf).value)
    width = timeframe_delta(coarsest)
    base = timeframe_delta(market.timeframe)
    warm = max(warmup_bars(fs) for fs in feature_sets)
    data_start = pd.Timestamp(market.index[0])
    data_end = pd.Timestamp(market.index[-1]) + base
    # +1 coarse bar: resampling may drop the first incomplete bin
    usable = _ceil(data_start + width * (warm + max_lookback + 1), width)
    if not 0.0 <= holdout_fraction < 0.9:
        raise ConfigError(
            f"holdout.fraction must be at least 0 and below 0.9, got {holdout_fraction}."
        )
    holdout: tuple[datetime, datetime] | None = None
    cpcv_end = _floor(data_end, width)
    if holdout_fraction > 0:
        start = _floor(data_end - (data_end - data_start) * holdout_fraction, width)
        embargo = width * (
            max_lookback + 1 if holdout_embargo_bars is None else holdout_embargo_bars
        )
        cpcv_end = _floor(start - embargo, width)
        holdout = (start.to_pydatetime(), _floor(data_end, width).to_pydatetime())
        if holdout[1] <= holdout[0]:
            raise ConfigError(
                f"a hold-out of {holdout_fraction:.0%} of {market.n_bars} {market.timeframe} bars "
                f"is shorter than one {coarsest} bar; load more data or raise holdout.fraction."
            )
    span = cpcv_end - usable
    step = width * max(int(span / width) // n_groups, 0)
    if step < width * 2:
        raise ConfigError(
            f"{market.n_bars} {market.timeframe} bars from {data_start} to {data_end} leave "
            f"{max(span, pd.Timedelta(0))} for {n_groups} CPCV groups after a warm-up of "
            f"{warm + max_lookback + 1} {coarsest} bars and the hold-out; load a longer range, "
            "a finer coarsest timeframe, or fewer groups."
        )
    edges = [usable + step * g for g in range(n_groups)] + [cpcv_end]
    groups = [(a.to_pydatetime(), b.to_pydatetime()) for a, b in itertools.pairwise(edges)]
    return EvaluationPlan(
        data_start=data_start.to_pydatetime(),
        data_end=data_end.to_pydatetime(),
        usable_start=usable.to_pydatetime(),
        groups=groups,
        n_test_groups=n_test_groups,
        holdout=holdout,
        align=coarsest,
    )


def segment(index: pd.DatetimeIndex, start: datetime, end: datetime) -> tuple[int, int]:
    """Half-open bar range of the bars of `index` whose open time lies in [start, end)."""
    values = index.asi8
    lo = int(np.searchsorted(values, pd.Timestamp(start).value, side="left"))
    hi = int(np.searchsorted(values, pd.Timestamp(end).value, side="left"))
    return lo, hi
