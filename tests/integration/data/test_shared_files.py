"""Real files from ../shared/data: freqtrade JSON (Binance) and CryptoDataDownload CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import load_market_data, load_sample
from cappuccino_runtime.errors import ConfigError, DataQualityError

BINANCE = "binance_spot_1h_2017-08_2021-12"
COINBASE = "coinbase_cdd_1h_2017-07_2019-06"


def test_cdd_directory_equals_the_bundled_sample(shared_data: Path) -> None:
    md = load_market_data(str(shared_data / COINBASE), None, "1h")
    assert md.symbols == ("BTC/USD", "ETH/USD", "LTC/USD")
    assert md.content_hash() == load_sample().content_hash()
    assert md.report.count("replayed_values", "LTC/USD") == 5


def test_freqtrade_btc_file_gaps_and_misaligned_candles(shared_data: Path) -> None:
    md = load_market_data(str(shared_data / BINANCE / "BTC_USDT-1h.json"), None, "1h")
    assert md.symbols == ("BTC/USDT",)
    assert md.index[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC")
    assert md.index[-1] == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    report = md.report
    misaligned = report.of_kind("misaligned", "BTC/USDT")[0]
    assert misaligned.count == 43 and misaligned.rows[0] == "2018-02-09T09:28:14.789000+00:00"
    filled = report.of_kind("gap_filled", "BTC/USDT")[0]
    assert filled.count == md.n_bars - 38222  # every filled bar is one the file lacked
    assert 100 <= filled.count <= 150  # README: about 125 missing hours
    assert np.isfinite(md.ohlcv()).all()


def test_the_33_hour_binance_outage_respects_max_gap_bars(shared_data: Path) -> None:
    path = str(shared_data / BINANCE / "ETH_USDT-1h.json")
    with pytest.raises(DataQualityError) as err:
        load_market_data(path, None, "1h", max_gap_bars=24)
    message = str(err.value)
    assert "ETH/USDT" in message and "ETH_USDT-1h.json" in message
    assert "2018-02-08T01:00:00+00:00 .. 2018-02-09T08:00:00+00:00 (32 bars)" in message


def test_glob_aligns_four_symbols_on_the_common_range(shared_data: Path) -> None:
    md = load_market_data(str(shared_data / BINANCE / "*.json"), None, "1h", start="2021-01-01")
    assert md.symbols == ("BTC/USDT", "ETH/USDT", "LTC/USDT", "SOL/USDT")
    assert md.index[0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert md.index[-1] == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    whole = load_market_data(str(shared_data / BINANCE), ["LTC/USDT", "SOL/USDT"], "1d")
    assert whole.index[0] == pd.Timestamp("2020-08-12", tz="UTC")  # SOL starts 2020-08-11 mid-day
    assert whole.report.count("range_cut", "LTC/USDT") > 0
    assert whole.report.of_kind("incomplete_bin", "SOL/USDT")


def test_unknown_symbol_and_missing_path(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="available"):
        load_market_data(str(shared_data / BINANCE), ["XRP/USDT"], "1h")
    with pytest.raises(ConfigError, match="does not exist"):
        load_market_data(str(tmp_path / "nope"), None, "1h")


def test_plain_csv_and_parquet_written_from_shared_data_load_back_identically(
    shared_data: Path, tmp_path: Path
) -> None:
    md = load_market_data(
        str(shared_data / BINANCE / "SOL_USDT-1h.json"), None, "1h", end="2021-01-01"
    )
    frame = md.to_frame()
    frame.drop(columns="symbol").to_csv(tmp_path / "SOL_USDT.csv", index=False)
    frame.to_parquet(tmp_path / "long.parquet")
    from_csv = load_market_data(str(tmp_path / "SOL_USDT.csv"), None, "1h")
    from_parquet = load_market_data(str(tmp_path / "long.parquet"), None, "1h")
    assert from_csv.content_hash() == md.content_hash()
    assert from_parquet.content_hash() == md.content_hash()
    # the filled bars are now ordinary flat zero-volume rows, and reported as such
    assert from_csv.report.count("flat_zero_volume") >= md.report.count("gap_filled")


def test_file_url_through_fsspec(shared_data: Path) -> None:
    url = f"file://{shared_data / COINBASE / 'Coinbase_LTCUSD_1h.csv'}"
    md = load_market_data(url, None, "1d")
    assert md.symbols == ("LTC/USD",)
    assert md.content_hash() == load_sample(["LTC/USD"], "1d").content_hash()
