"""Small synthetic bars for pure unit tests (random walks; real data is in integration tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cappuccino_runtime.data import MarketData


def random_market_data(
    n_bars: int = 300,
    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD"),
    *,
    seed: int = 0,
    start: str = "2021-01-01",
    timeframe: str = "1h",
) -> MarketData:
    """A geometric random walk with consistent OHLC (low <= open, close <= high) and volume."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, len(symbols))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, shape), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, shape))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, shape))
    volume = rng.lognormal(3.0, 1.0, shape)
    index = pd.date_range(start, periods=n_bars, freq=pd.Timedelta(timeframe), tz="UTC")
    return MarketData(index, symbols, timeframe, open_, high, low, close, volume)


def raw_rows(rows: list[tuple[str, float, float, float, float, float]]) -> pd.DataFrame:
    """A raw frame (source order) from (timestamp, o, h, l, c, v) tuples; line = position + 1."""
    frame = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame["line"] = np.arange(1, len(frame) + 1)
    return frame


def hourly(
    start: str, n: int, price: float = 100.0
) -> list[tuple[str, float, float, float, float, float]]:
    """n consecutive hourly bars with distinct values (so none look replayed)."""
    out = []
    for i in range(n):
        p = price + i
        ts = (pd.Timestamp(start, tz="UTC") + pd.Timedelta(hours=i)).isoformat()
        out.append((ts, p, p + 1.0, p - 1.0, p + 0.5, 10.0 + i))
    return out
