"""File parsers on small in-memory files: each format, its quirks, and symbol inference."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data.files import read_bytes, symbol_from_filename
from cappuccino_runtime.data.loader import build_market_data
from cappuccino_runtime.errors import ConfigError, DataQualityError

CDD = b"""Timestamps are UTC timezone,https://www.CryptoDataDownload.com
Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD
2019-06-04 01-AM,BTCUSD,7955.07,8025,7946.45,8003.08,780.41,6238605.1
2019-06-04 12-AM,BTCUSD,8107.96,8107.96,7700,7955.07,6176.49,48760331.59
2019-06-03 11-PM,BTCUSD,8100,8120,8050,8107.96,100.5,814000.0
2019-06-03 12-PM,BTCUSD,8000,8100,7990,8090,50,404500
"""


def test_cdd_csv_banner_newest_first_and_12h_clock() -> None:
    (series,) = read_bytes(CDD, "Coinbase_BTCUSD_1h.csv")
    assert series.symbol == "BTC/USD"
    frame = series.frame
    # reversed to oldest first; "12-AM" is midnight, "12-PM" is noon
    assert list(frame["timestamp"]) == [
        pd.Timestamp("2019-06-03 12:00", tz="UTC"),
        pd.Timestamp("2019-06-03 23:00", tz="UTC"),
        pd.Timestamp("2019-06-04 00:00", tz="UTC"),
        pd.Timestamp("2019-06-04 01:00", tz="UTC"),
    ]
    assert list(frame["line"]) == [6, 5, 4, 3]
    assert list(frame["volume"]) == [50.0, 100.5, 6176.49, 780.41]  # base volume, not USD


def test_freqtrade_json_ms_timestamps_and_symbol_from_name() -> None:
    rows = [
        [1502942400000, 4261.48, 4313.62, 4261.32, 4308.83, 47.181009],
        [1502946000000, 4308.83, 4328.69, 4291.37, 4315.32, 23.234916],
    ]
    (series,) = read_bytes(json.dumps(rows).encode(), "data/BTC_USDT-1h.json")
    assert series.symbol == "BTC/USDT"
    assert series.frame["timestamp"].iloc[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC")
    np.testing.assert_array_equal(series.frame["close"], [4308.83, 4315.32])


def test_freqtrade_json_rejects_other_json() -> None:
    with pytest.raises(DataQualityError, match="freqtrade"):
        read_bytes(b'{"a": 1}', "BTC_USDT-1h.json")


def test_plain_csv_iso_dates_single_symbol_named_by_file() -> None:
    text = b"date,open,high,low,close,volume\n2021-01-01T00:00:00Z,1,2,0.5,1.5,10\n2021-01-01T01:00:00Z,1.5,2,1,1.8,11\n"
    (series,) = read_bytes(text, "ETH-USD.csv")
    assert series.symbol == "ETH/USD"
    assert list(series.frame["line"]) == [2, 3]
    assert series.frame["timestamp"].iloc[1] == pd.Timestamp("2021-01-01 01:00", tz="UTC")


def test_plain_csv_long_format_with_symbol_column_and_epoch_seconds() -> None:
    text = (
        b"Timestamp,Symbol,Open,High,Low,Close,Volume\n"
        b"1609459200,BTC/USD,1,2,0.5,1.5,10\n1609459200,ETH/USD,3,4,2.5,3.5,20\n"
        b"1609462800,BTC/USD,1.5,2,1,1.8,11\n1609462800,ETH/USD,3.5,4,3,3.8,21\n"
    )
    series = read_bytes(text, "mixed.csv")
    assert [s.symbol for s in series] == ["BTC/USD", "ETH/USD"]
    assert list(series[1].frame["line"]) == [3, 5]
    assert series[0].frame["timestamp"].iloc[0] == pd.Timestamp("2021-01-01", tz="UTC")


def test_parquet_round_trip_through_the_pipeline() -> None:
    index = pd.date_range("2021-01-01", periods=6, freq="1h", tz="UTC")
    frame = pd.DataFrame(
        {
            "timestamp": index,
            "open": np.arange(6.0) + 10,
            "high": np.arange(6.0) + 12,
            "low": np.arange(6.0) + 9,
            "close": np.arange(6.0) + 11,
            "volume": np.ones(6),
        }
    )
    buf = io.BytesIO()
    frame.to_parquet(buf)
    series = read_bytes(buf.getvalue(), "LTC_USD.parquet")
    md = build_market_data(series, None, "1h")
    assert md.symbols == ("LTC/USD",)
    np.testing.assert_array_equal(md.close[:, 0], frame["close"])


def test_missing_column_names_the_file_and_column() -> None:
    with pytest.raises(DataQualityError, match=r"x\.csv has no 'volume' column"):
        read_bytes(b"date,open,high,low,close\n2021-01-01,1,1,1,1\n", "x.csv")


def test_unsupported_suffix() -> None:
    with pytest.raises(ConfigError, match="unsupported"):
        read_bytes(b"", "bars.xlsx")


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("BTC_USDT-1h.json", "BTC/USDT"),
        ("Coinbase_ETHUSD_1h.csv", "ETH/USD"),
        ("LTC-USD.parquet", "LTC/USD"),
        ("s3://bucket/x/SOL_USDT-15m.json", "SOL/USDT"),
    ],
)
def test_symbol_from_filename(name: str, symbol: str) -> None:
    assert symbol_from_filename(name) == symbol


def test_build_market_data_aligns_on_common_range_and_reports_the_cut() -> None:
    a = "timestamp,open,high,low,close,volume\n" + "".join(
        f"2021-01-01T{h:02d}:00Z,{10 + h},{11 + h},{9 + h},{10.5 + h},1\n" for h in range(0, 10)
    )
    b = "timestamp,open,high,low,close,volume\n" + "".join(
        f"2021-01-01T{h:02d}:00Z,{20 + h},{21 + h},{19 + h},{20.5 + h},2\n" for h in range(3, 12)
    )
    series = read_bytes(a.encode(), "BTC_USD.csv") + read_bytes(b.encode(), "ETH_USD.csv")
    md = build_market_data(series, ["ETH/USD", "BTC/USD"], "1h")
    assert md.symbols == ("ETH/USD", "BTC/USD")
    assert md.index[0] == pd.Timestamp("2021-01-01 03:00", tz="UTC")
    assert md.index[-1] == pd.Timestamp("2021-01-01 09:00", tz="UTC")
    assert md.report.count("range_cut", "BTC/USD") == 3
    assert md.report.count("range_cut", "ETH/USD") == 2
    with pytest.raises(ConfigError, match="DOGE/USD"):
        build_market_data(series, ["DOGE/USD"], "1h")
    with pytest.raises(ConfigError, match="finer"):
        build_market_data(series, None, "15m")
    cut = build_market_data(series, None, "1h", start="2021-01-01T04:00", end="2021-01-01T08:00")
    assert (cut.index[0].hour, cut.index[-1].hour, cut.n_bars) == (4, 7, 4)


def test_rows_without_timestamp_are_named_by_line() -> None:
    text = (
        b"date,open,high,low,close,volume\n2021-01-01T00:00:00Z,1,2,0.5,1.5,10\n,1.5,2,1,1.8,11\n"
    )
    with pytest.raises(DataQualityError, match=r"no timestamp \(lines 3\)"):
        read_bytes(text, "BTC_USD.csv")
    rows = [[1502942400000, 1, 2, 0.5, 1.5, 1], [None, 1, 2, 0.5, 1.5, 1]]
    with pytest.raises(DataQualityError, match=r"no timestamp \(lines 2\)"):
        read_bytes(json.dumps(rows).encode(), "BTC_USDT-1h.json")


def test_unparseable_price_is_reported_by_the_policy_with_its_line() -> None:
    text = b"date,open,high,low,close,volume\n2021-01-01T00:00:00Z,1,2,0.5,1.5,10\n2021-01-01T01:00:00Z,1.5,2,1,n/a,11\n"
    series = read_bytes(text, "BTC_USD.csv")
    with pytest.raises(DataQualityError, match=r"BTC_USD\.csv.*\(line 3\)"):
        build_market_data(series, None, "1h")


def test_short_freqtrade_row_is_rejected() -> None:
    rows = [[1502942400000, 1, 2, 0.5, 1.5, 1], [1502946000000, 1, 2]]
    with pytest.raises(DataQualityError, match="freqtrade"):
        read_bytes(json.dumps(rows).encode(), "BTC_USDT-1h.json")


def test_cdd_daily_dates_are_parsed_too() -> None:
    text = (
        b"Timestamps are UTC timezone,https://www.CryptoDataDownload.com\n"
        b"Date,Symbol,Open,High,Low,Close,Volume ETH,Volume USD\n"
        b"2019-06-04,ETHUSD,250,255,240,245,10,2450\n2019-06-03,ETHUSD,260,262,248,250,12,3000\n"
    )
    (series,) = read_bytes(text, "Coinbase_ETHUSD_d.csv")
    assert list(series.frame["timestamp"]) == [
        pd.Timestamp("2019-06-03", tz="UTC"),
        pd.Timestamp("2019-06-04", tz="UTC"),
    ]
    assert build_market_data([series], None, "1d").n_bars == 2
