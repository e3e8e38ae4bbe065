"""`MarketData`: aligned OHLCV bars of several symbols on one regular UTC index.

This is the one in-memory form of market data that features, the environment, training and the
trader share. Arrays are float64 `[T, A]` (bars x assets); treat them as immutable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cappuccino_runtime.data.quality import DataQualityIssue, DataQualityReport
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta, timeframe_ratio

__all__ = ["OHLCV", "MarketData"]

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class MarketData:
    """OHLCV bars for `symbols` on `index` (UTC, strictly increasing, spacing == timeframe).

    `report` carries the data-quality findings of the load that produced this object; it is not
    part of the content hash.
    """

    index: pd.DatetimeIndex
    symbols: tuple[str, ...]
    timeframe: str
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    report: DataQualityReport = field(default_factory=DataQualityReport, repr=False)

    def __post_init__(self) -> None:
        index = pd.DatetimeIndex(self.index)
        if index.tz is None:
            raise ConfigError("MarketData.index must be timezone-aware UTC; localize it first.")
        index = index.tz_convert("UTC").as_unit("ns")
        timeframe = canonical_timeframe(self.timeframe)
        symbols = tuple(str(s) for s in self.symbols)
        if not symbols or len(set(symbols)) != len(symbols):
            raise ConfigError(f"MarketData needs distinct symbols, got {symbols!r}.")
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "timeframe", timeframe)
        object.__setattr__(self, "symbols", symbols)
        shape = (len(index), len(symbols))
        for name in OHLCV:
            array = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if array.shape != shape:
                raise ConfigError(
                    f"MarketData.{name} has shape {array.shape} but index and symbols need "
                    f"{shape} (bars x assets)."
                )
            object.__setattr__(self, name, array)
        if len(index) >= 2:
            steps = np.diff(index.asi8)
            expected = timeframe_delta(timeframe).value
            if not np.all(steps == expected):
                bad = int(np.flatnonzero(steps != expected)[0])
                raise ConfigError(
                    f"MarketData.index must be strictly increasing with spacing {timeframe}, but "
                    f"{index[bad]} is followed by {index[bad + 1]}; load data through "
                    "load_market_data, which fills or reports gaps."
                )

    @property
    def n_bars(self) -> int:
        """Number of bars T."""
        return len(self.index)

    @property
    def n_assets(self) -> int:
        """Number of assets A."""
        return len(self.symbols)

    def __len__(self) -> int:
        return self.n_bars

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketData):
            return NotImplemented
        return self.content_hash() == other.content_hash()

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def array(self, name: str) -> np.ndarray:
        """One of the OHLCV arrays by name."""
        if name not in OHLCV:
            raise ConfigError(f"unknown OHLCV field {name!r}; expected one of {OHLCV}.")
        return getattr(self, name)

    def ohlcv(self) -> np.ndarray:
        """All fields stacked as float64 `[T, A, 5]` in OHLCV order."""
        return np.stack([getattr(self, n) for n in OHLCV], axis=-1)

    def slice(self, start: int, stop: int) -> MarketData:
        """Bars `start:stop` (Python slice semantics, negative indices allowed), non-empty."""
        begin, end, _ = slice(start, stop).indices(self.n_bars)
        if end <= begin:
            raise ConfigError(
                f"slice({start}, {stop}) of {self.n_bars} bars is empty; pick start < stop "
                f"within 0..{self.n_bars}."
            )
        return MarketData(
            index=self.index[begin:end],
            symbols=self.symbols,
            timeframe=self.timeframe,
            **{n: getattr(self, n)[begin:end] for n in OHLCV},
            report=self.report,
        )

    def select(self, symbols: tuple[str, ...] | list[str]) -> MarketData:
        """The same bars for a subset (or reordering) of the symbols."""
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            raise ConfigError(
                f"symbols {missing} are not in this data; available: {list(self.symbols)}."
            )
        cols = [self.symbols.index(s) for s in symbols]
        return MarketData(
            index=self.index,
            symbols=tuple(symbols),
            timeframe=self.timeframe,
            **{n: getattr(self, n)[:, cols] for n in OHLCV},
            report=self.report,
        )

    def content_hash(self) -> str:
        """sha256 over timeframe, symbols, index (ns since epoch) and the OHLCV arrays."""
        digest = hashlib.sha256()
        digest.update(f"{self.timeframe}|{','.join(self.symbols)}|".encode())
        digest.update(np.ascontiguousarray(self.index.asi8, dtype="<i8").tobytes())
        for name in OHLCV:
            digest.update(np.ascontiguousarray(getattr(self, name), dtype="<f8").tobytes())
        return digest.hexdigest()

    def resample(self, timeframe: str) -> MarketData:
        """Aggregates to a coarser timeframe in UTC-aligned bins (midnight for 1d).

        Open is the first open, high the max, low the min, close the last close, volume the sum.
        Bins not fully covered by the data (at either end) are dropped and reported as
        `incomplete_bin`. A finer timeframe raises ConfigError.
        """
        ratio = timeframe_ratio(self.timeframe, timeframe)
        target = canonical_timeframe(timeframe)
        if ratio == 1:
            return self
        width = timeframe_delta(target).value
        bins = self.index.asi8 // width
        first = 0 if self.index.asi8[0] % width == 0 else int(np.searchsorted(bins, bins[0] + 1))
        n_full = (self.n_bars - first) // ratio
        stop = first + n_full * ratio
        if n_full == 0:
            raise ConfigError(
                f"cannot resample {self.n_bars} {self.timeframe} bars to {target}: no complete "
                f"{target} bin is covered; load a longer range."
            )
        dropped = np.r_[0:first, stop : self.n_bars]
        issues = []
        if dropped.size:
            issues = [
                DataQualityIssue(
                    kind="incomplete_bin",
                    symbol=symbol,
                    rows=[ts.isoformat() for ts in self.index[dropped]],
                    action=f"dropped {self.timeframe} bars of {target} bins the data does not fully cover",
                )
                for symbol in self.symbols
            ]

        def blocks(name: str) -> np.ndarray:
            return getattr(self, name)[first:stop].reshape(n_full, ratio, self.n_assets)

        return MarketData(
            index=self.index[first:stop:ratio],
            symbols=self.symbols,
            timeframe=target,
            open=blocks("open")[:, 0],
            high=blocks("high").max(axis=1),
            low=blocks("low").min(axis=1),
            close=blocks("close")[:, -1],
            volume=blocks("volume").sum(axis=1),
            report=self.report.merged(issues),
        )

    def to_frame(self) -> pd.DataFrame:
        """Long form: columns timestamp, symbol, open, high, low, close, volume."""
        parts = [
            pd.DataFrame(
                {
                    "timestamp": self.index,
                    "symbol": symbol,
                    **{n: getattr(self, n)[:, a] for n in OHLCV},
                }
            )
            for a, symbol in enumerate(self.symbols)
        ]
        return pd.concat(parts, ignore_index=True)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, timeframe: str, report: DataQualityReport | None = None
    ) -> MarketData:
        """Inverse of `to_frame` for already aligned long-form data (symbol order preserved)."""
        symbols = tuple(dict.fromkeys(frame["symbol"].astype(str)))
        wide = {
            n: frame.pivot(index="timestamp", columns="symbol", values=n)[list(symbols)]
            for n in OHLCV
        }
        index = pd.DatetimeIndex(wide["close"].index)
        if index.tz is None:
            index = index.tz_localize("UTC")
        return cls(
            index=index,
            symbols=symbols,
            timeframe=timeframe,
            **{n: wide[n].to_numpy(dtype=np.float64) for n in OHLCV},
            report=report or DataQualityReport(),
        )
