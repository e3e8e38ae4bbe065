"""`load_market_data` / `load_sample`: one entry point for every source of bars.

Pipeline: read (files, bundled sample or Alpaca) -> cut to [start, end) -> clean each symbol
(`clean.clean_bars`, the documented policy) -> align on the common UTC range -> resample to the
requested timeframe -> optionally cache as Parquet. Every finding lands in `MarketData.report`
and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd

from cappuccino_runtime.data.alpaca import AlpacaDataConfig, fetch_alpaca_bars
from cappuccino_runtime.data.cache import cache_key, read_cache, write_cache
from cappuccino_runtime.data.clean import DEFAULT_MAX_GAP_BARS, clean_bars
from cappuccino_runtime.data.files import RawSeries, read_bar_file, resolve_files
from cappuccino_runtime.data.market import OHLCV, MarketData
from cappuccino_runtime.data.quality import DataQualityIssue, DataQualityReport
from cappuccino_runtime.data.symbols import normalize_symbols
from cappuccino_runtime.errors import ConfigError, DataQualityError
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta, timeframe_ratio

__all__ = [
    "ALPACA_DEFAULT_BARS",
    "SAMPLE_FILES",
    "SAMPLE_SYMBOLS",
    "align",
    "build_market_data",
    "load_market_data",
    "load_sample",
]

logger = logging.getLogger(__name__)

SAMPLE_FILES: dict[str, str] = {
    "BTC/USD": "Coinbase_BTCUSD_1h.csv",
    "ETH/USD": "Coinbase_ETHUSD_1h.csv",
    "LTC/USD": "Coinbase_LTCUSD_1h.csv",
}
SAMPLE_SYMBOLS: tuple[str, ...] = tuple(SAMPLE_FILES)
ALPACA_DEFAULT_BARS = 5000
"""Without `start`, Alpaca loads this many bars of the requested timeframe before `end`."""

TimeLike: TypeAlias = str | datetime | pd.Timestamp | None


def _utc(value: TimeLike, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{name}={value!r} is not a date; use ISO-8601 such as 2019-01-01T00:00Z."
        ) from e
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _native_timeframe(series: Sequence[RawSeries]) -> str:
    """The most common positive spacing between consecutive rows (robust to gaps and dupes)."""
    steps = np.concatenate(
        [np.diff(np.sort(s.frame["timestamp"].astype("int64").to_numpy())) for s in series]
    )
    steps = steps[steps > 0]
    if steps.size == 0:
        raise DataQualityError(
            f"cannot tell the bar spacing of {series[0].file}: it needs at least two distinct timestamps."
        )
    values, counts = np.unique(steps, return_counts=True)
    return canonical_timeframe(f"{int(values[np.argmax(counts)] // 60_000_000_000)}m")


def _cut(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (frame["timestamp"] >= start).to_numpy()
    if end is not None:
        keep &= (frame["timestamp"] < end).to_numpy()
    return frame[keep]


def align(
    frames: dict[str, pd.DataFrame], timeframe: str
) -> tuple[MarketData, list[DataQualityIssue]]:
    """Puts cleaned per-symbol frames on one UTC index: the intersection of their ranges.

    Rows outside the common range are cut and reported as `range_cut`.
    """
    start = max(f.index[0] for f in frames.values())
    end = min(f.index[-1] for f in frames.values())
    if start > end:
        spans = ", ".join(f"{s} {f.index[0]} .. {f.index[-1]}" for s, f in frames.items())
        raise DataQualityError(
            f"the symbols share no common time range ({spans}); load symbols that overlap in time."
        )
    issues = []
    for symbol, frame in frames.items():
        outside = (frame.index < start) | (frame.index > end)
        if outside.any():
            issues.append(
                DataQualityIssue(
                    kind="range_cut",
                    symbol=symbol,
                    rows=[t.isoformat() for t in frame.index[outside]],
                    action=f"cut to the range all symbols share, {start.isoformat()} .. {end.isoformat()}",
                )
            )
    index = pd.DatetimeIndex(pd.date_range(start, end, freq=timeframe_delta(timeframe)))

    def column(name: str) -> np.ndarray:
        return np.column_stack([frames[s].loc[start:end, name].to_numpy() for s in frames])

    market = MarketData(
        index=index,
        symbols=tuple(frames),
        timeframe=timeframe,
        open=column("open"),
        high=column("high"),
        low=column("low"),
        close=column("close"),
        volume=column("volume"),
    )
    return market, issues


def build_market_data(
    series: Sequence[RawSeries],
    symbols: Sequence[str] | str | None,
    timeframe: str,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
    extra_issues: Sequence[DataQualityIssue] = (),
) -> MarketData:
    """Cleans, aligns and resamples parsed rows; the pure core shared by every source.

    Several files for one symbol are concatenated in file order before cleaning, so rows that
    overlap between files are handled by the duplicate policy.
    """
    target = canonical_timeframe(timeframe)
    start_ts, end_ts = _utc(start, "start"), _utc(end, "end")
    if start_ts is not None and end_ts is not None and start_ts >= end_ts:
        raise ConfigError(f"start {start_ts} must be before end {end_ts}.")
    by_symbol: dict[str, list[RawSeries]] = {}
    for item in series:
        by_symbol.setdefault(item.symbol, []).append(item)
    wanted = list(normalize_symbols(symbols) or by_symbol)
    missing = [s for s in wanted if s not in by_symbol]
    if missing:
        raise ConfigError(
            f"symbols {missing} are not in the data source; available: {sorted(by_symbol)}."
        )
    native = _native_timeframe([s for sym in wanted for s in by_symbol[sym]])
    timeframe_ratio(native, target)  # raises ConfigError for a finer or non-multiple target
    frames: dict[str, pd.DataFrame] = {}
    issues: list[DataQualityIssue] = list(extra_issues)
    for symbol in wanted:
        parts = by_symbol[symbol]
        raw = pd.concat([_cut(p.frame, start_ts, end_ts) for p in parts], ignore_index=True)
        files = ", ".join(dict.fromkeys(p.file for p in parts))
        frame, found = clean_bars(
            raw, timeframe=native, symbol=symbol, file=files, max_gap_bars=max_gap_bars
        )
        frames[symbol] = frame
        issues.extend(found)
    data, cut = align(frames, native)
    data = MarketData(
        index=data.index,
        symbols=data.symbols,
        timeframe=native,
        **{n: getattr(data, n) for n in OHLCV},
        report=DataQualityReport.of([*issues, *cut]),
    )
    return data.resample(target)


def _sample_symbols(symbols: Sequence[str] | str | None) -> tuple[str, ...]:
    chosen = normalize_symbols(symbols) or SAMPLE_SYMBOLS
    unknown = [s for s in chosen if s not in SAMPLE_FILES]
    if unknown:
        raise ConfigError(f"the bundled sample has no {unknown}; it holds {list(SAMPLE_SYMBOLS)}.")
    return chosen


@lru_cache(maxsize=len(SAMPLE_FILES))
def _sample_file(symbol: str) -> tuple[RawSeries, ...]:
    """Parses one bundled CSV once per process (read through importlib.resources, so it works
    from a wheel too). Callers never modify the frames: cutting and cleaning copy them."""
    name = SAMPLE_FILES[symbol]
    resource = resources.files("cappuccino_runtime") / "sample_data" / name
    return tuple(read_bar_file(lambda: resource.open("rb"), f"sample_data/{name}"))


def _sample_series(symbols: Sequence[str]) -> list[RawSeries]:
    return [series for symbol in symbols for series in _sample_file(symbol)]


@lru_cache(maxsize=16)
def _load_sample_cached(symbols: tuple[str, ...], timeframe: str) -> MarketData:
    return build_market_data(_sample_series(symbols), symbols, timeframe)


def load_sample(symbols: Sequence[str] | str | None = None, timeframe: str = "1h") -> MarketData:
    """The bundled Coinbase sample (BTC/USD, ETH/USD, LTC/USD, hourly, 2017-07 .. 2019-06).

    Results are memoised per (symbols, timeframe) in the process; MarketData is immutable.
    """
    return _load_sample_cached(_sample_symbols(symbols), canonical_timeframe(timeframe))


def _file_fingerprint(source: str) -> list[tuple[str, object]]:
    """(name, (size, mtime)) of every file of a source, so edited files miss the cache."""
    import fsspec

    fs, _ = fsspec.core.url_to_fs(source)
    out: list[tuple[str, object]] = []
    for name, _opener in resolve_files(source):
        info = fs.info(name)
        out.append((name, (info.get("size"), info.get("mtime") or info.get("LastModified"))))
    return out


def load_market_data(
    source: str,
    symbols: Sequence[str] | str | None,
    timeframe: str,
    start: TimeLike = None,
    end: TimeLike = None,
    cache_dir: Path | str | None = None,
    *,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
    alpaca: AlpacaDataConfig | None = None,
) -> MarketData:
    """Loads aligned, cleaned bars from `source` (see docs/data.md for the policy).

    Args:
        source: "sample" (bundled Coinbase set), "alpaca", or a path, glob, directory or fsspec
            URL of freqtrade JSON, CryptoDataDownload CSV, plain CSV or Parquet files.
        symbols: "BTC/USD"-style symbols (a list or one comma-separated string); None means
            every symbol in the source (required for Alpaca).
        timeframe: bar length ("15m", "1h", "4h", "1d"); coarser than the source is resampled,
            finer raises ConfigError.
        start, end: optional UTC range [start, end); naive times are UTC. For Alpaca, `end`
            defaults to now and `start` to ALPACA_DEFAULT_BARS bars before `end`.
        cache_dir: when given, results are cached there as Parquet keyed by source, symbols,
            timeframe, range, max_gap_bars (and file sizes/mtimes, or the Alpaca URL).
        max_gap_bars: longest run of missing bars forward-filled; longer gaps raise.
        alpaca: endpoint and keys; default from ALPACA_DATA_URL / ALPACA_API_KEY_ID /
            ALPACA_API_SECRET_KEY.

    Returns:
        MarketData whose `report` lists every finding (also logged).

    Raises:
        ConfigError: bad source, symbols, timeframe or range.
        DataQualityError: data that the policy cannot repair (bad prices, long gaps).
        DataUnavailable: Alpaca unreachable or refusing.
    """
    target = canonical_timeframe(timeframe)
    start_ts, end_ts = _utc(start, "start"), _utc(end, "end")
    kind = source.strip().lower()
    symbols = normalize_symbols(symbols)
    if (
        kind == "sample"
        and start_ts is None
        and end_ts is None
        and max_gap_bars == DEFAULT_MAX_GAP_BARS
    ):
        data = load_sample(symbols, target)  # memoised in-process; no disk cache needed
        data.report.log(logger)
        return data
    if kind == "alpaca":
        if not symbols:
            raise ConfigError("source 'alpaca' needs symbols, e.g. --symbols BTC/USD,ETH/USD.")
        alpaca = alpaca or AlpacaDataConfig.from_env()
        step = timeframe_delta(target)
        end_ts = end_ts or pd.Timestamp.now(tz="UTC").floor(step)
        start_ts = start_ts or end_ts - ALPACA_DEFAULT_BARS * step

    path = None
    if cache_dir is not None:
        key_parts: dict[str, object] = {
            "source": kind if kind in ("sample", "alpaca") else source,
            "symbols": symbols,
            "timeframe": target,
            "start": start_ts,
            "end": end_ts,
            "max_gap_bars": max_gap_bars,
        }
        if kind == "alpaca":
            key_parts["alpaca_url"] = alpaca.url if alpaca else None
        elif kind != "sample":
            key_parts["files"] = _file_fingerprint(source)
        path = Path(cache_dir) / f"bars-{cache_key(**key_parts)}.parquet"
        if (cached := read_cache(path)) is not None:
            logger.info("market data: cache hit %s", path)
            cached.report.log(logger)
            return cached

    extra: list[DataQualityIssue] = []
    if kind == "sample":
        series = _sample_series(_sample_symbols(symbols))
    elif kind == "alpaca":
        assert start_ts is not None and end_ts is not None and symbols and alpaca is not None
        series, extra = fetch_alpaca_bars(symbols, target, start_ts, end_ts, config=alpaca)
    else:
        series = [s for name, opener in resolve_files(source) for s in read_bar_file(opener, name)]
    data = build_market_data(
        series, symbols, target, start_ts, end_ts, max_gap_bars=max_gap_bars, extra_issues=extra
    )
    data.report.log(logger)
    if path is not None:
        write_cache(path, data)
    return data
