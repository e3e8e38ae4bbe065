"""The data-quality policy for one symbol's bars, as a pure function (see docs/data.md).

Input: a raw frame in source order with columns timestamp (UTC), open, high, low, close,
volume and optionally `line` (1-based line in the file). Output: a frame on a regular UTC grid
of `timeframe` plus the findings. Unrepairable problems raise DataQualityError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cappuccino_runtime.data.quality import DataQualityIssue, IssueKind, format_rows
from cappuccino_runtime.errors import DataQualityError
from cappuccino_runtime.timeframes import timeframe_delta

__all__ = ["DEFAULT_MAX_GAP_BARS", "PRICE_COLUMNS", "clean_bars"]

PRICE_COLUMNS = ("open", "high", "low", "close")
DEFAULT_MAX_GAP_BARS = 48
"""Longest run of missing bars that is forward-filled; longer gaps raise DataQualityError."""


def _iso(ts: pd.Series | pd.DatetimeIndex) -> list[str]:
    return [t.isoformat() for t in pd.DatetimeIndex(ts)]


def _lines(frame: pd.DataFrame) -> list[int]:
    return [int(x) for x in frame["line"]] if "line" in frame else []


def _where(file: str | None) -> str:
    return f" in {file}" if file else ""


def _check_values(frame: pd.DataFrame, symbol: str, file: str | None) -> None:
    prices = frame[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    if bad.any():
        rows = frame[bad]
        raise DataQualityError(
            f"{symbol}: {int(bad.sum())} row(s){_where(file)} have non-positive or non-finite "
            f"prices: {format_rows(_iso(rows['timestamp']), _lines(rows))}. Prices cannot be "
            "repaired safely; fix or remove these rows in the source, or load a range without them."
        )
    volume = frame["volume"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(volume) | (volume < 0)
    if bad.any():
        rows = frame[bad]
        raise DataQualityError(
            f"{symbol}: {int(bad.sum())} row(s){_where(file)} have negative or non-finite volume: "
            f"{format_rows(_iso(rows['timestamp']), _lines(rows))}. Fix these rows in the source."
        )


def _issue(
    kind: IssueKind, ctx: _Context, rows: pd.DataFrame, action: str, detail: str = ""
) -> DataQualityIssue:
    return DataQualityIssue(
        kind=kind,
        symbol=ctx.symbol,
        file=ctx.file,
        rows=_iso(rows["timestamp"]),
        lines=_lines(rows),
        action=action,
        detail=detail,
    )


@dataclass(frozen=True)
class _Context:
    symbol: str
    file: str | None
    step: int  # bar length in ns
    max_gap_bars: int


Step = tuple[pd.DataFrame, list[DataQualityIssue]]
_VALUES = ["open", "high", "low", "close", "volume"]


def _stamps(frame: pd.DataFrame) -> np.ndarray:
    return frame["timestamp"].astype("int64").to_numpy()


def _snap_to_grid(frame: pd.DataFrame, ctx: _Context) -> Step:
    """Rows off the bar grid (Binance's :28:14 candles after its 2018-02 outage) are snapped
    down to the start of the bar that contains their open time."""
    stamps = _stamps(frame)
    off_grid = stamps % ctx.step != 0
    if not off_grid.any():
        return frame, []
    issue = _issue(
        "misaligned",
        ctx,
        frame[off_grid],
        "snapped down to the start of the bar that contains them",
    )
    frame = frame.assign(
        timestamp=pd.to_datetime(stamps - stamps % ctx.step, utc=True).as_unit("ns")
    )
    return frame, [issue]


def _sort(frame: pd.DataFrame, ctx: _Context) -> Step:
    """Rows earlier than a row before them in source order are reported; all are sorted (stable)."""
    stamps = _stamps(frame)
    late = stamps < np.maximum.accumulate(stamps)
    issues = (
        [_issue("out_of_order", ctx, frame[late], "sorted into timestamp order")]
        if late.any()
        else []
    )
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True), issues


SPIKE_TOLERANCE = 0.2
"""A conflicting duplicate whose close is this much further (in log terms) from its neighbours'
than the closest candidate's is a spike and is dropped, whatever its volume."""


def _conflict_losers(frame: pd.DataFrame, conflicting: np.ndarray) -> list[Any]:
    """Index labels of the conflicting rows to drop (the frame is sorted by timestamp)."""
    stamps = frame["timestamp"].to_numpy()
    closes = frame["close"].to_numpy(dtype=np.float64)
    unique = ~conflicting
    losers: list[Any] = []
    positions = np.flatnonzero(conflicting)
    for ts in pd.unique(stamps[positions]):
        members = positions[stamps[positions] == ts]
        before = np.flatnonzero(unique[: members[0]])
        after = np.flatnonzero(unique[members[-1] + 1 :]) + members[-1] + 1
        around = np.concatenate([before[-1:], after[:1]])
        neighbours = [c for c in closes[around] if np.isfinite(c) and c > 0]
        if neighbours:
            ref = float(np.median(neighbours))
            with np.errstate(divide="ignore", invalid="ignore"):
                dist = np.abs(np.log(closes[members] / ref))
            dist = np.where(np.isfinite(dist), dist, np.inf)
            plausible = dist <= dist.min() + np.log1p(SPIKE_TOLERANCE)
        else:
            plausible = np.ones(len(members), dtype=bool)
        volumes = frame["volume"].to_numpy(dtype=np.float64)[members]
        best = max(
            (k for k in range(len(members)) if plausible[k]),
            key=lambda k: (np.nan_to_num(volumes[k], nan=-np.inf), k),
        )
        losers.extend(frame.index[m] for k, m in enumerate(members) if k != best)
    return losers


def _dedupe(frame: pd.DataFrame, ctx: _Context) -> Step:
    """Same timestamp: identical rows keep one; conflicting rows keep the largest volume
    (a candle fetched before its bar closed has less volume), ties the last in source order."""
    issues: list[DataQualityIssue] = []
    exact = frame.duplicated(subset=["timestamp", *_VALUES], keep="first")
    if exact.any():
        issues.append(
            _issue("exact_duplicate", ctx, frame[exact], "dropped the repeated copies, kept one")
        )
        frame = frame[~exact.to_numpy()]
    conflicting = frame["timestamp"].duplicated(keep=False)
    if conflicting.any():
        losers = _conflict_losers(frame, conflicting.to_numpy())
        issues.append(
            _issue(
                "conflicting_duplicate",
                ctx,
                frame.loc[losers],
                "kept the row whose close agrees with its neighbours (a spike more than "
                f"{SPIKE_TOLERANCE:.0%} further away is never kept), then the largest volume "
                "(ties: the last in source order); dropped the others",
            )
        )
        frame = frame.drop(index=losers)
    return frame.reset_index(drop=True), issues


def _drop_replays(frame: pd.DataFrame, ctx: _Context) -> Step:
    """A traded bar (volume > 0) identical in all of OHLCV to an earlier bar is a copy the source
    wrote (CDD 2017-11-12), not a market observation: removed here, filled as a gap later.
    Zero-volume bars are exempt: identical flat outage bars are legitimate."""
    replayed = frame[_VALUES].duplicated(keep="first") & (frame["volume"] > 0)
    if not replayed.any():
        return frame, []
    issue = _issue(
        "replayed_values",
        ctx,
        frame[replayed],
        "treated as missing (they repeat an earlier bar's OHLCV exactly) and filled as a gap",
    )
    return frame[~replayed.to_numpy()].reset_index(drop=True), [issue]


def _report_kept(frame: pd.DataFrame, ctx: _Context) -> list[DataQualityIssue]:
    """Findings that change nothing: source outage bars and inconsistent OHLC."""
    issues = []
    flat = (
        (frame["volume"] == 0)
        & (frame["open"] == frame["close"])
        & (frame["high"] == frame["close"])
        & (frame["low"] == frame["close"])
    )
    if flat.any():
        issues.append(
            _issue(
                "flat_zero_volume",
                ctx,
                frame[flat],
                "kept (flat zero-volume bars are how outages are represented)",
            )
        )
    body_hi = frame[["open", "close"]].max(axis=1)
    body_lo = frame[["open", "close"]].min(axis=1)
    inconsistent = (frame["high"] < body_hi) | (frame["low"] > body_lo)
    if inconsistent.any():
        issues.append(
            _issue(
                "ohlc_inconsistent",
                ctx,
                frame[inconsistent],
                "kept unchanged (high below open/close or low above them)",
            )
        )
    return issues


def _fill_gaps(frame: pd.DataFrame, ctx: _Context, span: tuple[int, int]) -> Step:
    """Puts the bars on the regular grid over `span` (first..last timestamp before replays were
    removed). Runs of at most max_gap_bars missing bars become flat zero-volume bars at the
    previous close; a longer run raises DataQualityError naming every such range."""
    step = ctx.step
    stamps = np.unique(np.r_[_stamps(frame), span])
    missing = np.diff(stamps) // step - 1
    long_runs = np.flatnonzero(missing > ctx.max_gap_bars)
    if long_runs.size:
        ranges = [
            f"{pd.Timestamp(stamps[i] + step, tz='UTC').isoformat()} .. "
            f"{pd.Timestamp(stamps[i + 1] - step, tz='UTC').isoformat()} ({int(missing[i])} bars)"
            for i in long_runs[:8]
        ]
        raise DataQualityError(
            f"{ctx.symbol}: {long_runs.size} gap(s){_where(ctx.file)} are longer than "
            f"max_gap_bars={ctx.max_gap_bars}: {'; '.join(ranges)}. Load a range that avoids "
            "them, or raise max_gap_bars to forward-fill them as flat zero-volume bars."
        )
    grid = pd.DatetimeIndex(
        pd.to_datetime(np.arange(stamps[0], stamps[-1] + step, step), utc=True), name="timestamp"
    )
    out = frame.set_index(pd.DatetimeIndex(frame["timestamp"], name="timestamp"))[_VALUES]
    out = out.astype(np.float64).reindex(grid)
    filled = out["close"].isna().to_numpy()
    if not filled.any():
        return out, []
    close = out["close"].ffill()
    for col in PRICE_COLUMNS:
        out[col] = out[col].fillna(close)
    out["volume"] = out["volume"].fillna(0.0)
    n_gaps = int((np.diff(np.r_[0, filled.astype(int)]) == 1).sum())
    issue = DataQualityIssue(
        kind="gap_filled",
        symbol=ctx.symbol,
        file=ctx.file,
        rows=_iso(grid[filled]),
        action="filled as flat zero-volume bars at the previous close",
        detail=f"{n_gaps} gap(s)",
    )
    return out, [issue]


def clean_bars(
    raw: pd.DataFrame,
    *,
    timeframe: str,
    symbol: str,
    file: str | None = None,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
) -> tuple[pd.DataFrame, list[DataQualityIssue]]:
    """Applies the data-quality policy to one symbol's bars (rules in docs/data.md).

    Args:
        raw: bars in source order (timestamp UTC, open, high, low, close, volume[, line]).
        timeframe: the bar length the data must have.
        symbol, file: named in every finding and error.
        max_gap_bars: longest run of missing bars that is filled; longer raises.

    Returns:
        (frame indexed by a regular UTC DatetimeIndex with float64 OHLCV columns, findings).
    """
    if raw.empty:
        raise DataQualityError(f"{symbol}: no bars{_where(file)} in the requested range.")
    ctx = _Context(symbol, file, timeframe_delta(timeframe).value, max_gap_bars)
    frame = raw.reset_index(drop=True).copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    _check_values(frame, symbol, file)
    issues: list[DataQualityIssue] = []
    for step in (_snap_to_grid, _sort, _dedupe):
        frame, found = step(frame, ctx)
        issues.extend(found)
    span = (int(_stamps(frame)[0]), int(_stamps(frame)[-1]))
    frame, found = _drop_replays(frame, ctx)
    issues.extend(found)
    issues.extend(_report_kept(frame, ctx))
    frame, found = _fill_gaps(frame, ctx, span)
    issues.extend(found)
    return frame, issues
