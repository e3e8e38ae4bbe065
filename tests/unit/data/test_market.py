"""MarketData: invariants, slicing, hashing and resampling rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import ConfigError
from tests.unit.data.helpers import random_market_data


def test_shapes_and_properties() -> None:
    md = random_market_data(50, ("BTC/USD", "ETH/USD", "LTC/USD"))
    assert (md.n_bars, md.n_assets) == (50, 3)
    assert md.close.dtype == np.float64 and md.close.shape == (50, 3)
    assert str(md.index.tz) == "UTC"
    assert md.ohlcv().shape == (50, 3, 5)


def test_rejects_irregular_index_naming_the_break() -> None:
    md = random_market_data(10)
    index = md.index.delete(4)
    arrays = {n: getattr(md, n)[1:] for n in ("open", "high", "low", "close", "volume")}
    with pytest.raises(ConfigError, match="spacing 1h"):
        MarketData(index, md.symbols, "1h", **arrays)


def test_rejects_naive_index_and_bad_shapes() -> None:
    md = random_market_data(10)
    arrays = {n: getattr(md, n) for n in ("open", "high", "low", "close", "volume")}
    with pytest.raises(ConfigError, match="UTC"):
        MarketData(md.index.tz_localize(None), md.symbols, "1h", **arrays)
    with pytest.raises(ConfigError, match="shape"):
        MarketData(md.index, md.symbols, "1h", **{**arrays, "close": md.close[:, :1]})


def test_slice_matches_arrays_and_rejects_empty() -> None:
    md = random_market_data(40)
    part = md.slice(10, 20)
    assert part.n_bars == 10
    assert part.index[0] == md.index[10]
    np.testing.assert_array_equal(part.close, md.close[10:20])
    assert md.slice(-5, 40).index[0] == md.index[35]
    with pytest.raises(ConfigError, match="empty"):
        md.slice(20, 20)


def test_content_hash_sees_every_field() -> None:
    md = random_market_data(30)
    base = md.content_hash()
    assert base == random_market_data(30).content_hash()
    for name in ("open", "high", "low", "close", "volume"):
        arrays = {n: getattr(md, n).copy() for n in ("open", "high", "low", "close", "volume")}
        arrays[name][7, 1] *= 1.000001
        assert MarketData(md.index, md.symbols, "1h", **arrays).content_hash() != base, name
    arrays = {n: getattr(md, n) for n in ("open", "high", "low", "close", "volume")}
    shifted = md.index + pd.Timedelta(hours=1)
    assert MarketData(shifted, md.symbols, "1h", **arrays).content_hash() != base
    assert MarketData(md.index, ("X/USD", "Y/USD"), "1h", **arrays).content_hash() != base
    assert md.slice(0, 29).content_hash() != base


def test_resample_ohlcv_rules_by_hand() -> None:
    index = pd.date_range("2021-01-01 02:00", periods=10, freq="1h", tz="UTC")  # 02:00 .. 11:00
    o = np.arange(10.0)[:, None] + 100
    h = o + 5
    h[5] = 200.0  # 07:00, inside the 04:00-08:00 bin
    low = o - 5
    low[6] = 1.0  # 08:00, inside the 08:00-12:00 bin
    c = o + 1
    v = np.ones((10, 1))
    md = MarketData(index, ("BTC/USD",), "1h", o, h, low, c, v)
    out = md.resample("4h")
    # 02:00 and 03:00 belong to the 00:00 bin, which the data does not fully cover.
    assert list(out.index) == [
        pd.Timestamp("2021-01-01 04:00", tz="UTC"),
        pd.Timestamp("2021-01-01 08:00", tz="UTC"),
    ]
    np.testing.assert_array_equal(out.open[:, 0], [102.0, 106.0])
    np.testing.assert_array_equal(out.high[:, 0], [200.0, 114.0])
    np.testing.assert_array_equal(out.low[:, 0], [97.0, 1.0])
    np.testing.assert_array_equal(out.close[:, 0], [106.0, 110.0])
    np.testing.assert_array_equal(out.volume[:, 0], [4.0, 4.0])
    dropped = out.report.of_kind("incomplete_bin")
    assert [i.rows for i in dropped] == [[index[0].isoformat(), index[1].isoformat()]]


def test_resample_drops_and_reports_incomplete_trailing_bin() -> None:
    md = random_market_data(24 * 3 + 5, start="2021-01-01")
    out = md.resample("1d")
    assert out.n_bars == 3 and out.timeframe == "1d"
    assert out.index[0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert out.report.count("incomplete_bin", "BTC/USD") == 5
    np.testing.assert_allclose(out.volume[1], md.volume[24:48].sum(axis=0))


def test_resample_to_finer_is_a_config_error() -> None:
    md = random_market_data(48)
    with pytest.raises(ConfigError, match="coarser"):
        md.resample("15m")
    assert md.resample("1h") is md


def test_frame_round_trip() -> None:
    md = random_market_data(20)
    back = MarketData.from_frame(md.to_frame(), "1h")
    assert back.content_hash() == md.content_hash()
    assert back.symbols == md.symbols


def test_select_symbols() -> None:
    md = random_market_data(20, ("BTC/USD", "ETH/USD", "LTC/USD"))
    sub = md.select(["LTC/USD", "BTC/USD"])
    np.testing.assert_array_equal(sub.close, md.close[:, [2, 0]])
    with pytest.raises(ConfigError, match="DOGE/USD"):
        md.select(["DOGE/USD"])
