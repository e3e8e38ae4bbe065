"""Market data: load OHLCV bars (bundled sample, Alpaca, files), clean, align, resample, cache.

`load_market_data` is the one entry point; `MarketData` is the one in-memory form. The
data-quality policy is documented in docs/data.md; findings are in `MarketData.report`.
"""

from __future__ import annotations

from cappuccino_runtime.data.alpaca import AlpacaDataConfig
from cappuccino_runtime.data.clean import DEFAULT_MAX_GAP_BARS, clean_bars
from cappuccino_runtime.data.loader import (
    SAMPLE_SYMBOLS,
    build_market_data,
    load_market_data,
    load_sample,
)
from cappuccino_runtime.data.market import OHLCV, MarketData
from cappuccino_runtime.data.quality import DataQualityIssue, DataQualityReport
from cappuccino_runtime.data.symbols import normalize_symbol, normalize_symbols

__all__ = [
    "DEFAULT_MAX_GAP_BARS",
    "OHLCV",
    "SAMPLE_SYMBOLS",
    "AlpacaDataConfig",
    "DataQualityIssue",
    "DataQualityReport",
    "MarketData",
    "build_market_data",
    "clean_bars",
    "load_market_data",
    "load_sample",
    "normalize_symbol",
    "normalize_symbols",
]
