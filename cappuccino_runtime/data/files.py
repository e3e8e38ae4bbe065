"""Readers for bar files: freqtrade JSON, CryptoDataDownload CSV, plain CSV and Parquet.

Readers only parse: they return each symbol's rows in source order with their file line
numbers, and leave every repair to `clean.clean_bars`, so that one policy applies to all sources.
Files are opened through fsspec, so local paths, globs, directories and URLs all work.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import IO

import fsspec
import numpy as np
import pandas as pd

from cappuccino_runtime.data.symbols import KNOWN_QUOTES, normalize_symbol
from cappuccino_runtime.errors import ConfigError, DataQualityError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "RawSeries",
    "parse_timestamps",
    "read_bar_file",
    "read_bytes",
    "resolve_files",
    "symbol_from_filename",
]

SUPPORTED_SUFFIXES = (".json", ".csv", ".parquet", ".pq")
_COLUMN_ALIASES = {
    "timestamp": ("timestamp", "date", "time", "datetime", "open_time", "t", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "volume_base", "vol"),
    "symbol": ("symbol", "pair", "ticker"),
}
_CDD_DATE_FORMAT = "%Y-%m-%d %I-%p"


@dataclass(frozen=True)
class RawSeries:
    """One symbol's rows from one file, in source order (columns timestamp..volume, line)."""

    symbol: str
    file: str
    frame: pd.DataFrame


def symbol_from_filename(name: str) -> str:
    """'BTC_USDT-1h.json' -> 'BTC/USDT'; 'Coinbase_BTCUSD_1h.csv' -> 'BTC/USD'; 'ETH-USD.csv'."""
    stem = PurePosixPath(name).name.split(".")[0]
    stem = re.sub(r"[-_](\d+[a-zA-Z]+)$", "", stem)  # timeframe suffix
    stem = re.sub(r"^(coinbase|binance|kraken|gemini|bitstamp|alpaca)_", "", stem, flags=re.I)
    try:
        symbol = normalize_symbol(stem)
    except ConfigError as e:
        raise ConfigError(
            f"cannot tell the symbol of {name!r} from its name; name files like 'BTC_USD.csv' "
            "or add a 'symbol' column."
        ) from e
    if symbol.split("/")[1] not in KNOWN_QUOTES:  # 'prices_hourly.csv' is not PRICES/HOURLY
        raise ConfigError(
            f"the name {name!r} does not name a symbol ({symbol!r} has no known quote currency "
            f"among {', '.join(KNOWN_QUOTES)}); name files like 'BTC_USD.csv' or add a "
            "'symbol' column."
        )
    return symbol


def parse_timestamps(values: pd.Series, file: str) -> pd.Series:
    """Epoch numbers (s, ms, us or ns, told apart by magnitude) or ISO strings -> UTC timestamps.

    Strings without an offset are taken as UTC.
    """
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        top = np.nanmax(np.abs(numbers)) if numbers.size else 0.0
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us" if top < 1e17 else "ns"
        if np.isnan(numbers).any():  # missing stamps become NaT and are reported with lines
            return pd.Series(pd.to_datetime(numbers, unit=unit, utc=True))
        return pd.Series(pd.to_datetime(values.astype("int64"), unit=unit, utc=True))
    try:
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601"))
    except (ValueError, TypeError):
        try:
            return pd.Series(pd.to_datetime(values, utc=True, format="mixed"))
        except (ValueError, TypeError) as e:
            raise DataQualityError(
                f"{file}: timestamps like {str(values.iloc[0])!r} could not be parsed; use "
                "ISO-8601 (UTC) or epoch seconds/milliseconds."
            ) from e


def _finish(frame: pd.DataFrame, lines: np.ndarray, file: str) -> pd.DataFrame:
    """Standard columns, ns UTC timestamps, float prices (unparseable -> NaN, caught by the
    cleaning policy with file lines), and the file line of every row."""
    out = frame[["timestamp", "open", "high", "low", "close", "volume"]].copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("ns")
    missing = out["timestamp"].isna().to_numpy()
    if missing.any():
        shown = ", ".join(str(int(x)) for x in np.asarray(lines)[missing][:8])
        raise DataQualityError(
            f"{file}: {int(missing.sum())} row(s) have no timestamp (lines {shown}); every bar "
            "needs its open time."
        )
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(np.float64)
    out["line"] = lines
    return out.reset_index(drop=True)


def read_freqtrade_json(data: bytes, file: str) -> list[RawSeries]:
    """freqtrade `[[open_time_ms, open, high, low, close, volume], ...]`; symbol from the name."""
    try:
        rows = json.loads(data)
    except json.JSONDecodeError as e:
        raise DataQualityError(f"{file} is not valid JSON ({e}); expected freqtrade OHLCV.") from e
    if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) < 6 for r in rows):
        raise DataQualityError(
            f"{file} is not a freqtrade OHLCV file: expected a JSON array of "
            "[open_time_ms, open, high, low, close, volume] rows."
        )
    frame = pd.DataFrame(
        [r[:6] for r in rows], columns=["timestamp", "open", "high", "low", "close", "volume"]
    )
    stamps = pd.to_numeric(frame["timestamp"], errors="coerce")
    frame["timestamp"] = pd.to_datetime(stamps, unit="ms", utc=True)
    # A JSON array has no line numbers; report the 1-based element position instead.
    return [
        RawSeries(
            symbol_from_filename(file), file, _finish(frame, np.arange(1, len(frame) + 1), file)
        )
    ]


def _is_cdd(head: str) -> bool:
    lines = head.splitlines()
    return len(lines) >= 2 and lines[1].lower().startswith("date,symbol,open")


def read_cdd_csv(data: bytes, file: str) -> list[RawSeries]:
    """CryptoDataDownload CSV: a banner line, then `Date,Symbol,Open,High,Low,Close,Volume X,...`.

    Rows run newest first and dates look like `2019-06-04 01-AM` (UTC). The reader reverses the
    rows so that source order is oldest first; rows that are still out of order are left for the
    cleaning policy to find and report.
    """
    frame = pd.read_csv(io.BytesIO(data), skiprows=1)
    volume_cols = [
        c for c in frame.columns if c.lower().startswith("volume") and "usd" not in c.lower()
    ]
    if not volume_cols:
        volume_cols = [c for c in frame.columns if c.lower().startswith("volume")]
    frame = frame.rename(
        columns={
            "Date": "timestamp",
            "Open": "open",
            "High": "high",
            "Low": "low",
            "Close": "close",
        }
    )
    frame["volume"] = frame[volume_cols[0]]
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], format=_CDD_DATE_FORMAT, utc=True)
    except ValueError:
        # CDD's daily and minute files spell dates differently ("2019-06-04", "... 01:00:00").
        frame["timestamp"] = parse_timestamps(frame["timestamp"], file).to_numpy()
    lines = np.arange(3, len(frame) + 3)  # banner + header come first
    frame = frame.iloc[::-1]
    lines = lines[::-1]
    symbols = frame["Symbol"].astype(str) if "Symbol" in frame else None
    out = []
    for raw_symbol in dict.fromkeys(symbols) if symbols is not None else [None]:
        mask = (symbols == raw_symbol).to_numpy() if symbols is not None else slice(None)
        symbol = normalize_symbol(raw_symbol) if raw_symbol else symbol_from_filename(file)
        out.append(RawSeries(symbol, file, _finish(frame[mask], lines[mask], file)))
    return out


def _standard_columns(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    renamed = {}
    for target, aliases in _COLUMN_ALIASES.items():
        found = next((lower[a] for a in aliases if a in lower), None)
        if found is not None:
            renamed[found] = target
        elif target != "symbol":
            raise DataQualityError(
                f"{file} has no {target!r} column (columns: {list(frame.columns)}); expected "
                "timestamp, open, high, low, close, volume and optionally symbol."
            )
    return frame.rename(columns=renamed)


def read_table(frame: pd.DataFrame, file: str, first_line: int) -> list[RawSeries]:
    """Plain tables (CSV or Parquet): one symbol (named by the file) or a `symbol` column."""
    frame = _standard_columns(frame, file)
    frame["timestamp"] = parse_timestamps(frame["timestamp"], file).to_numpy()
    lines = np.arange(first_line, len(frame) + first_line)
    if "symbol" not in frame:
        return [RawSeries(symbol_from_filename(file), file, _finish(frame, lines, file))]
    names = frame["symbol"].astype(str)
    out = []
    for raw_symbol in dict.fromkeys(names):
        mask = (names == raw_symbol).to_numpy()
        out.append(
            RawSeries(normalize_symbol(raw_symbol), file, _finish(frame[mask], lines[mask], file))
        )
    return out


def read_bytes(data: bytes, file: str) -> list[RawSeries]:
    """Parses one file's bytes, picking the format from the name and the first lines.

    Anything a parser raises on random or truncated bytes becomes one DataQualityError line
    naming the file and the format it was read as.
    """
    try:
        return _read_bytes(data, file)
    except (ConfigError, DataQualityError):
        raise
    except Exception as e:  # pandas/pyarrow/json parse errors of every kind
        suffix = PurePosixPath(file).suffix.lower() or "(no suffix)"
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataQualityError(
            f"{file} cannot be read as a {suffix} bar file ({type(e).__name__}: {reason}); it "
            "may be truncated or not a bar file. Re-download it or remove it from the source."
        ) from e


def _read_bytes(data: bytes, file: str) -> list[RawSeries]:
    suffix = PurePosixPath(file).suffix.lower()
    if suffix == ".json":
        return read_freqtrade_json(data, file)
    if suffix in (".parquet", ".pq"):
        return read_table(pd.read_parquet(io.BytesIO(data)), file, first_line=1)
    if suffix == ".csv":
        head = data[:2048].decode("utf-8", errors="replace")
        if _is_cdd(head):
            return read_cdd_csv(data, file)
        return read_table(pd.read_csv(io.BytesIO(data)), file, first_line=2)
    raise ConfigError(
        f"{file}: unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}."
    )


def read_bar_file(open_file: Callable[[], IO[bytes]], file: str) -> list[RawSeries]:
    """Reads one file through an opener (fsspec or importlib.resources)."""
    with open_file() as handle:
        return read_bytes(handle.read(), file)


def resolve_files(source: str) -> list[tuple[str, Callable[[], IO[bytes]]]]:
    """A path, glob, directory or fsspec URL -> sorted (name, opener) pairs of supported files."""
    fs, root = fsspec.core.url_to_fs(source)
    if fs.isdir(root):
        paths = [
            p
            for p in fs.ls(root, detail=False)
            if PurePosixPath(p).suffix.lower() in SUPPORTED_SUFFIXES
        ]
    elif any(ch in root for ch in "*?["):
        paths = list(fs.glob(root))
    elif fs.exists(root):
        paths = [root]
    else:
        raise ConfigError(
            f"data source {source!r} does not exist; give 'sample', 'alpaca', or a file, glob, "
            "directory or fsspec URL of bar files."
        )
    paths = sorted(p for p in paths if fs.isfile(p))
    if not paths:
        raise ConfigError(
            f"data source {source!r} holds no bar files ({', '.join(SUPPORTED_SUFFIXES)})."
        )
    return [(p, partial(fs.open, p, "rb")) for p in paths]
