"""Benchmarks for a book's equity curve: buy-and-hold and the equal-weight book.

The ledger stores equity, not prices, so the benchmark closes come from a market-data source
(`--market`, default the bundled sample that local replays trade; `alpaca` or a file path in
production). When the source does not cover the book's period, the page says so and shows no
benchmark rather than a wrong one. Both benchmarks start from the book's initial cash at its
first snapshot and ignore fees:
- buy-and-hold: the cash split equally across the book's assets at the start, then held;
- equal-weight: equal weights restored at every snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cappuccino_runtime.dashboard.pages import Series
from cappuccino_runtime.errors import CappuccinoError

__all__ = ["Benchmarks"]


@dataclass
class Benchmarks:
    """Closes from one market-data source, loaded once per (symbols, period)."""

    source: str
    cache_dir: Path | None = None
    _loaded: dict[tuple[tuple[str, ...], str, str], pd.DataFrame | str] = field(
        default_factory=dict
    )

    def closes(self, symbols: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame | str:
        """Hourly closes indexed by bar END time, or a one-line reason they are unavailable."""
        from cappuccino_runtime.data import load_market_data
        from cappuccino_runtime.timeframes import timeframe_delta

        key = (tuple(symbols), f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
        if key not in self._loaded:
            try:
                market = load_market_data(
                    self.source,
                    list(symbols),
                    "1h",
                    start.replace(tzinfo=None) - timedelta(days=1),
                    end.replace(tzinfo=None) + timedelta(days=1),
                    cache_dir=self.cache_dir,
                )
                ends = market.index + timeframe_delta(market.timeframe)
                self._loaded[key] = pd.DataFrame(market.close, index=ends, columns=market.symbols)
            except (CappuccinoError, ValueError, OSError) as e:
                self._loaded[key] = f"market data {self.source!r} unavailable: {e}"
        return self._loaded[key]

    def curves(
        self, symbols: Sequence[str], times: Sequence[datetime], initial_cash: float
    ) -> tuple[list[Series], str | None, dict[str, tuple[float, str]]]:
        """(benchmark series at `times`, a note when missing, latest close per symbol)."""
        if not symbols or len(times) < 2:
            return [], "no trades or snapshots yet", {}
        closes = self.closes(symbols, times[0], times[-1])
        if isinstance(closes, str):
            return [], closes, {}
        stamps = pd.DatetimeIndex(list(times))
        at = closes.index.get_indexer(stamps, method="pad")
        step = closes.index[1] - closes.index[0] if len(closes.index) > 1 else pd.Timedelta(0)
        if (at < 0).any() or stamps[-1] - closes.index[at[-1]] > 2 * step:
            return (
                [],
                f"market data {self.source!r} ({closes.index[0]:%Y-%m-%d} .. "
                f"{closes.index[-1]:%Y-%m-%d}) does not cover the book's period "
                f"({stamps[0]:%Y-%m-%d} .. {stamps[-1]:%Y-%m-%d}); pass --market",
                {},
            )
        prices = closes.to_numpy()[at]
        relative = prices / prices[0]
        hold = initial_cash * relative.mean(axis=1)
        step_returns = np.vstack([np.zeros(prices.shape[1]), prices[1:] / prices[:-1] - 1.0])
        equal = initial_cash * np.cumprod(1.0 + step_returns.mean(axis=1))
        latest = {
            s: (float(prices[-1, i]), f"{self.source} close {closes.index[at[-1]]:%Y-%m-%d %H:%M}")
            for i, s in enumerate(closes.columns)
        }
        names = "+".join(s.split("/")[0] for s in closes.columns)
        return (
            [
                Series(name=f"buy-and-hold ({names})", x=list(times), y=hold.tolist()),
                Series(name=f"equal-weight ({names})", x=list(times), y=equal.tolist()),
            ],
            None,
            latest,
        )
