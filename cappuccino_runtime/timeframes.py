"""Timeframe strings ("15m", "1h", "4h", "1d"): the one grammar, its canonical form, bar length.

A timeframe is a positive whole count and a unit of minutes (m, min, minute, t), hours (h, hour)
or days (d, day), case-insensitive: '15m', '15Min', '1Hour', '1D'. Every reader of a timeframe
(data loading, resampling, annualisation in metrics) parses it here; a bad one is a ConfigError.
It sits in the bottom layer so that metrics and data both import it.
"""

from __future__ import annotations

import re

import pandas as pd

from cappuccino_runtime.errors import ConfigError

__all__ = ["canonical_timeframe", "timeframe_delta", "timeframe_ratio"]

_UNITS = {
    "m": "m",
    "min": "m",
    "minute": "m",
    "t": "m",
    "h": "h",
    "hour": "h",
    "d": "d",
    "day": "d",
}
_MINUTES = {"m": 1, "h": 60, "d": 1440}
_PATTERN = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")


def _parse(timeframe: str) -> tuple[int, str]:
    match = _PATTERN.match(str(timeframe))
    unit = _UNITS.get(match.group(2).lower()) if match else None
    amount = int(match.group(1)) if match else 0
    if match is None or unit is None or amount <= 0:
        raise ConfigError(
            f"timeframe {timeframe!r} is not understood; use a positive count and a unit of "
            "minutes, hours or days such as '15m', '1h', '4h' or '1d'."
        )
    return amount, unit


def canonical_timeframe(timeframe: str) -> str:
    """Returns the canonical spelling ('60m' -> '1h', '1Hour' -> '1h', '24h' -> '1d')."""
    amount, unit = _parse(timeframe)
    minutes = amount * _MINUTES[unit]
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """The length of one bar of `timeframe`."""
    amount, unit = _parse(timeframe)
    return pd.Timedelta(minutes=amount * _MINUTES[unit])


def timeframe_ratio(fine: str, coarse: str) -> int:
    """How many `fine` bars make one `coarse` bar; ConfigError unless `coarse` is a whole multiple."""
    fine_delta, coarse_delta = timeframe_delta(fine), timeframe_delta(coarse)
    if coarse_delta < fine_delta:
        raise ConfigError(
            f"cannot resample {canonical_timeframe(fine)} bars to the finer timeframe "
            f"{canonical_timeframe(coarse)}: bars can only be aggregated to a coarser timeframe; "
            f"load {canonical_timeframe(coarse)} data from the source instead."
        )
    if coarse_delta % fine_delta != pd.Timedelta(0):
        raise ConfigError(
            f"cannot resample {canonical_timeframe(fine)} bars to {canonical_timeframe(coarse)}: "
            "the target timeframe must be a whole multiple of the source timeframe."
        )
    return int(coarse_delta // fine_delta)
