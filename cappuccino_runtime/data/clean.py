"""The data-quality policy for one symbol's bars, as a pure function (see docs/data.md).

Input: a raw frame in source order with columns timestamp (UTC), open, high, low, close,
volume and optionally `line` (1-based line in the file). Output: a frame on a regular UTC grid
of `timeframe` plus the findings. Unrepairable problems raise DataQualityError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cappuccino_runtime.data.quality import DataQualityIssue, format_rows
from cappuccino_runtime.data.timeframes import timeframe_delta
from cappuccino_runtime.errors import DataQualityError

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


def _issue(kind: str, symbol: str, file: str | None, rows: pd.DataFrame, action: str, **kw: str):
    return DataQualityIssue(
        kind=kind,  # type: ignore[arg-type]
        symbol=symbol,
        file=file,
        rows=_iso(rows["timestamp"]),
        lines=_lines(rows),
        action=action,
        **kw,
    )


def clean_bars(
    raw: pd.DataFrame,
    *,
    timeframe: str,
    symbol: str,
    file: str | None = None,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
) -> tuple[pd.DataFrame, list[DataQualityIssue]]:
    """Applies the data-quality policy to one symbol's bars.

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
    frame = raw.reset_index(drop=True).copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    step = timeframe_delta(timeframe).value
    issues: list[DataQualityIssue] = []
    _check_values(frame, symbol, file)

    # Rows not on the bar grid (e.g. Binance's :28:14 candles after its 2018-02 outage) are
    # snapped down to the bar that contains their open time.
    stamps = frame["timestamp"].astype("int64").to_numpy()
    off_grid = stamps % step != 0
    if off_grid.any():
        issues.append(
            _issue(
                "misaligned",
                symbol,
                file,
                frame[off_grid],
                "snapped down to the start of the bar that contains them",
            )
        )
        frame["timestamp"] = pd.to_datetime(stamps - stamps % step, utc=True).as_unit("ns")

    # Out-of-order rows: earlier than a row before them in source order. Sorted, stable.
    stamps = frame["timestamp"].astype("int64").to_numpy()
    late = stamps < np.maximum.accumulate(stamps)
    if late.any():
        issues.append(
            _issue("out_of_order", symbol, file, frame[late], "sorted into timestamp order")
        )
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)

    # Duplicated timestamps: identical rows keep one; conflicting rows keep the largest volume.
    values = ["open", "high", "low", "close", "volume"]
    dup_ts = frame["timestamp"].duplicated(keep=False)
    if dup_ts.any():
        group = frame[dup_ts]
        exact_extra = group.duplicated(subset=["timestamp", *values], keep="first")
        if exact_extra.any():
            issues.append(
                _issue(
                    "exact_duplicate",
                    symbol,
                    file,
                    group[exact_extra],
                    "dropped the repeated copies, kept one",
                )
            )
        frame = frame.drop(index=group.index[exact_extra.to_numpy()])
        conflicting = frame["timestamp"].duplicated(keep=False)
        if conflicting.any():
            rows = frame[conflicting]
            order = rows.assign(_pos=np.arange(len(rows))).sort_values(
                ["timestamp", "volume", "_pos"], kind="stable"
            )
            losers = order.index[order["timestamp"].duplicated(keep="last").to_numpy()]
            issues.append(
                _issue(
                    "conflicting_duplicate",
                    symbol,
                    file,
                    frame.loc[losers],
                    "kept the row with the largest volume (ties: the last in source order), "
                    "dropped the others",
                )
            )
            frame = frame.drop(index=losers)
        frame = frame.reset_index(drop=True)

    # Replayed values: a traded bar (volume > 0) identical in all of OHLCV to an earlier bar is a
    # copy written by the source, not a market observation: it becomes a gap (filled below).
    span = (frame["timestamp"].iloc[0].value, frame["timestamp"].iloc[-1].value)
    traded = frame["volume"] > 0
    replayed = frame[values].duplicated(keep="first") & traded
    if replayed.any():
        issues.append(
            _issue(
                "replayed_values",
                symbol,
                file,
                frame[replayed],
                "treated as missing (they repeat an earlier bar's OHLCV exactly) and filled as a gap",
            )
        )
        frame = frame[~replayed.to_numpy()].reset_index(drop=True)

    # Flat zero-volume bars already in the source (an exchange's own outage filling): kept.
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
                symbol,
                file,
                frame[flat],
                "kept (flat zero-volume bars are how outages are represented)",
            )
        )

    # OHLC consistency: high below open/close or low above them. Kept as the source has them.
    body_hi = frame[["open", "close"]].max(axis=1)
    body_lo = frame[["open", "close"]].min(axis=1)
    inconsistent = (frame["high"] < body_hi) | (frame["low"] > body_lo)
    if inconsistent.any():
        issues.append(
            _issue(
                "ohlc_inconsistent",
                symbol,
                file,
                frame[inconsistent],
                "kept unchanged (high below open/close or low above them)",
            )
        )

    # Gaps: runs of missing bars on the grid. Short runs become flat zero-volume bars at the
    # previous close; longer runs raise.
    stamps = np.unique(np.r_[frame["timestamp"].astype("int64").to_numpy(), span])
    missing = np.diff(stamps) // step - 1
    long_runs = np.flatnonzero(missing > max_gap_bars)
    if long_runs.size:
        spans = [
            f"{pd.Timestamp(stamps[i] + step, tz='UTC').isoformat()} .. "
            f"{pd.Timestamp(stamps[i + 1] - step, tz='UTC').isoformat()} ({int(missing[i])} bars)"
            for i in long_runs[:8]
        ]
        raise DataQualityError(
            f"{symbol}: {long_runs.size} gap(s){_where(file)} are longer than max_gap_bars="
            f"{max_gap_bars}: {'; '.join(spans)}. Load a range that avoids them, or raise "
            "max_gap_bars to forward-fill them as flat zero-volume bars."
        )
    grid = pd.DatetimeIndex(
        pd.to_datetime(np.arange(stamps[0], stamps[-1] + step, step), utc=True), name="timestamp"
    )
    frame = frame.set_index(pd.DatetimeIndex(frame["timestamp"], name="timestamp"))[values]
    frame = frame.astype(np.float64).reindex(grid)
    filled = frame["close"].isna()
    if filled.any():
        close = frame["close"].ffill()
        for col in PRICE_COLUMNS:
            frame[col] = frame[col].fillna(close)
        frame["volume"] = frame["volume"].fillna(0.0)
        issues.append(
            DataQualityIssue(
                kind="gap_filled",
                symbol=symbol,
                file=file,
                rows=_iso(grid[filled.to_numpy()]),
                action="filled as flat zero-volume bars at the previous close",
                detail=f"{int((np.diff(np.r_[0, filled.to_numpy().astype(int)]) == 1).sum())} gap(s)",
            )
        )
    return frame, issues
