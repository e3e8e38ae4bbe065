"""Timeframe spelling and symbol normalisation."""

from __future__ import annotations

import pandas as pd
import pytest

from cappuccino_runtime.data.symbols import normalize_symbol, normalize_symbols
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta, timeframe_ratio


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("1h", "1h"),
        ("60m", "1h"),
        ("1Hour", "1h"),
        ("15Min", "15m"),
        ("24h", "1d"),
        ("1D", "1d"),
        ("240m", "4h"),
        ("5m", "5m"),
    ],
)
def test_canonical_timeframe(given: str, canonical: str) -> None:
    assert canonical_timeframe(given) == canonical


def test_timeframe_delta() -> None:
    assert timeframe_delta("4h") == pd.Timedelta(hours=4)
    assert timeframe_delta("15m") == pd.Timedelta(minutes=15)


@pytest.mark.parametrize("bad", ["", "h", "0h", "-1h", "1x", "1.5h"])
def test_bad_timeframe_is_a_config_error_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="timeframe"):
        canonical_timeframe(bad)


def test_ratio_to_coarser_and_errors_for_finer_or_uneven() -> None:
    assert timeframe_ratio("1h", "4h") == 4
    assert timeframe_ratio("1h", "1d") == 24
    assert timeframe_ratio("15m", "1h") == 4
    with pytest.raises(ConfigError, match="finer"):
        timeframe_ratio("1h", "15m")
    with pytest.raises(ConfigError, match="whole multiple"):
        timeframe_ratio("4h", "6h")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("BTC/USD", "BTC/USD"),
        ("btc-usd", "BTC/USD"),
        ("BTCUSD", "BTC/USD"),
        ("BTC_USDT", "BTC/USDT"),
        ("ETHUSDT", "ETH/USDT"),
        ("ltc/usd", "LTC/USD"),
    ],
)
def test_normalize_symbol(given: str, expected: str) -> None:
    assert normalize_symbol(given) == expected


def test_unreadable_symbol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        normalize_symbol("BTC/USD/X")


def test_normalize_symbols_accepts_a_comma_separated_string() -> None:
    assert normalize_symbols("BTC/USD, ethusd") == ("BTC/USD", "ETH/USD")
    assert normalize_symbols(["LTC-USD"]) == ("LTC/USD",)
    assert normalize_symbols(None) is None
    assert normalize_symbols("") is None
    with pytest.raises(ConfigError, match="twice"):
        normalize_symbols(["BTC/USD", "BTCUSD"])
