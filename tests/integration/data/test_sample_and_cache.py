"""The bundled Coinbase sample through the real loader, and the Parquet cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import SAMPLE_SYMBOLS, load_market_data, load_sample
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import compute_features, warmup_bars


def test_sample_is_complete_aligned_hourly_utc() -> None:
    md = load_sample()
    assert md.symbols == SAMPLE_SYMBOLS == ("BTC/USD", "ETH/USD", "LTC/USD")
    assert md.timeframe == "1h"
    assert md.index[0] == pd.Timestamp("2017-07-01 11:00", tz="UTC")
    assert md.index[-1] == pd.Timestamp("2019-06-04 01:00", tz="UTC")
    assert md.n_bars == 16863  # 16863 rows per file; 5 replays filled back in place
    assert np.isfinite(md.ohlcv()).all() and (md.close > 0).all()


def test_sample_quirks_are_all_reported() -> None:
    report = load_sample().report
    # README: forward-filled outage bars BTC 27, ETH 9, LTC 10
    assert [report.count("flat_zero_volume", s) for s in SAMPLE_SYMBOLS] == [27, 9, 10]
    for symbol in SAMPLE_SYMBOLS:
        replayed = report.of_kind("replayed_values", symbol)[0]
        assert replayed.rows == [f"2017-11-12T0{h}:00:00+00:00" for h in range(4, 9)]
        assert replayed.file.endswith(f"Coinbase_{symbol.replace('/', '')}_1h.csv")
        assert replayed.lines  # file lines are named
        assert report.count("out_of_order", symbol) == 5
        assert report.of_kind("gap_filled", symbol)[0].rows == replayed.rows
    text = str(report)
    assert "replayed values" in text and "BTC/USD" in text


def test_replayed_block_is_filled_flat_at_the_last_true_close() -> None:
    md = load_sample(["BTC/USD"])
    i = md.index.get_loc(pd.Timestamp("2017-11-12 04:00", tz="UTC"))
    assert md.close[i - 1, 0] == 6201.0  # 03:00 close in the file
    np.testing.assert_array_equal(md.close[i : i + 5, 0], 6201.0)
    np.testing.assert_array_equal(md.volume[i : i + 5, 0], 0.0)
    assert md.open[i + 5, 0] == 6201.0  # 09:00 opens where the true 03:00 bar closed


def test_sample_subset_resample_and_source_sample_agree() -> None:
    both = load_sample(["ETH/USD", "BTC/USD"])
    assert both.symbols == ("ETH/USD", "BTC/USD")
    assert load_market_data("sample", "ETH/USD,BTC/USD", "1h") is both  # memoised, same order
    np.testing.assert_array_equal(both.close[:, 1], load_sample().close[:, 0])
    daily = load_sample(timeframe="1d")
    assert daily.timeframe == "1d" and (daily.index.hour == 0).all()
    hourly = load_sample()
    day = hourly.index.get_loc(daily.index[10])
    np.testing.assert_allclose(daily.volume[10], hourly.volume[day : day + 24].sum(axis=0))
    assert (
        load_market_data("sample", None, "4h").content_hash()
        == hourly.resample("4h").content_hash()
    )
    with pytest.raises(ConfigError, match="DOGE/USD"):
        load_sample(["DOGE/USD"])
    with pytest.raises(ConfigError, match="finer"):
        load_sample(timeframe="15m")


def test_sample_range_through_load_market_data() -> None:
    md = load_market_data("sample", ["BTC/USD"], "1h", start="2018-01-01", end="2018-02-01")
    assert md.index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert md.index[-1] == pd.Timestamp("2018-01-31 23:00", tz="UTC")
    full = load_sample(["BTC/USD"])
    i = full.index.get_loc(md.index[0])
    assert md.content_hash() == full.slice(i, i + md.n_bars).content_hash()


def test_features_on_the_sample_are_finite_after_warmup() -> None:
    md = load_sample()
    x = compute_features(md, "full")
    assert np.isfinite(x[warmup_bars("full") :]).all()


def test_parquet_cache_round_trip(tmp_path: Path) -> None:
    first = load_market_data(
        "sample", ["BTC/USD", "LTC/USD"], "4h", start="2018-01-01", cache_dir=tmp_path
    )
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1
    second = load_market_data(
        "sample", ["BTC/USD", "LTC/USD"], "4h", start="2018-01-01", cache_dir=tmp_path
    )
    assert second.content_hash() == first.content_hash()
    assert second.report == first.report
    assert second.symbols == first.symbols
    other = load_market_data(
        "sample", ["BTC/USD", "LTC/USD"], "1d", start="2018-01-01", cache_dir=tmp_path
    )
    assert other.timeframe == "1d" and len(list(tmp_path.glob("*.parquet"))) == 2


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    md = load_market_data("sample", ["BTC/USD"], "1d", end="2018-01-01", cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.parquet")
    path.write_bytes(b"not parquet")
    again = load_market_data("sample", ["BTC/USD"], "1d", end="2018-01-01", cache_dir=tmp_path)
    assert again.content_hash() == md.content_hash()
