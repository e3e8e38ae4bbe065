"""Alpaca historical bars: the real alpaca-py client against the local fake data server.

The fake serves the bundled Coinbase sample, so bars fetched over HTTP must equal the sample
loaded from disk, bit for bit.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from alpaca.data.historical.crypto import CryptoHistoricalDataClient
from alpaca.data.requests import CryptoBarsRequest, CryptoLatestBarRequest
from alpaca.data.timeframe import TimeFrame

from cappuccino_runtime.data import AlpacaDataConfig, MarketData, load_market_data, load_sample
from cappuccino_runtime.errors import ConfigError, DataUnavailable
from tests.support.fake_alpaca_data import FakeDataState, fake_data_app, serve_app

PAGE = 700  # small pages so every multi-week request crosses several pages


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, FakeDataState]]:
    app = fake_data_app(max_page_size=PAGE)
    with serve_app(app) as url:
        yield url, app.state.fake


def sample_range(symbols: list[str], start: str, end: str, timeframe: str = "1h") -> MarketData:
    md = load_sample(symbols)
    i, j = md.index.get_indexer([pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")])
    return md.slice(i, j).resample(timeframe) if timeframe != "1h" else md.slice(i, j)


def _load_alpaca(url: str, symbols: list[str], timeframe: str, start: str, end: str) -> MarketData:
    """load_market_data from the Alpaca data API at `url`."""
    return load_market_data(
        "alpaca", symbols, timeframe, start=start, end=end, alpaca=AlpacaDataConfig(url=url)
    )


def test_multi_symbol_hourly_bars_equal_the_sample_and_page(fake) -> None:
    url, state = fake
    before = len(state.requests)
    md = _load_alpaca(url, ["BTC/USD", "ETH/USD"], "1h", "2018-01-20", "2018-03-05")
    expected = sample_range(["BTC/USD", "ETH/USD"], "2018-01-20", "2018-03-05")
    assert md.content_hash() == expected.content_hash()
    pages = state.requests[before:]
    assert len(pages) == -(-2 * expected.n_bars // PAGE)  # followed next_page_token to the end
    assert pages[0]["symbols"] == "BTC/USD,ETH/USD" and pages[0]["timeframe"] == "1Hour"
    assert pages[0]["page_token"] == "" and all(p["page_token"] for p in pages[1:])
    assert md.report.of_kind("flat_zero_volume")[0].file == f"alpaca:{url}"


def test_four_hour_bars_are_aggregated_from_hourly_in_utc_bins(fake) -> None:
    url, state = fake
    before = len(state.requests)
    md = _load_alpaca(url, ["LTC/USD"], "4h", "2018-05-01T02:00", "2018-05-10")
    assert state.requests[before]["timeframe"] == "1Hour"
    assert md.index[0] == pd.Timestamp("2018-05-01 04:00", tz="UTC")
    expected = sample_range(["LTC/USD"], "2018-05-01T04:00", "2018-05-10", "4h")
    assert md.content_hash() == expected.content_hash()
    assert md.report.count("incomplete_bin", "LTC/USD") == 2  # 02:00 and 03:00


def test_env_configures_the_endpoint_and_keys(fake, monkeypatch) -> None:
    url, _ = fake
    monkeypatch.setenv("ALPACA_DATA_URL", url)
    monkeypatch.setenv("ALPACA_API_KEY_ID", "key")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "secret")
    config = AlpacaDataConfig.from_env()
    assert (config.url, config.api_key, config.secret_key) == (url, "key", "secret")
    md = load_market_data("alpaca", ["BTC/USD"], "1d", start="2018-01-01", end="2018-02-01")
    assert md.n_bars == 31 and md.timeframe == "1d"


def test_cached_alpaca_load_needs_no_server(fake, tmp_path: Path) -> None:
    url, state = fake
    args = ("alpaca", ["ETH/USD"], "1h", "2018-06-01", "2018-06-03", tmp_path)
    first = load_market_data(*args, alpaca=AlpacaDataConfig(url=url))
    before = len(state.requests)
    again = load_market_data(*args, alpaca=AlpacaDataConfig(url=url))
    assert len(state.requests) == before
    assert again.content_hash() == first.content_hash()


def test_bars_not_closed_yet_are_dropped_and_reported(fake) -> None:
    from cappuccino_runtime.data.alpaca import fetch_alpaca_bars

    url, _ = fake
    now = pd.Timestamp("2018-01-01 05:30", tz="UTC")
    (series,), issues = fetch_alpaca_bars(
        ["BTC/USD"],
        "1h",
        pd.Timestamp("2018-01-01", tz="UTC"),
        pd.Timestamp("2018-01-01 06:00", tz="UTC"),
        config=AlpacaDataConfig(url=url),
        now=now,
    )
    assert series.frame["timestamp"].iloc[-1] == pd.Timestamp("2018-01-01 04:00", tz="UTC")
    assert [i.rows for i in issues] == [["2018-01-01T05:00:00+00:00"]]


def test_latest_bar_shape_parses_in_alpaca_py(fake) -> None:
    url, _ = fake
    client = CryptoHistoricalDataClient(url_override=url)
    latest = client.get_crypto_latest_bar(
        CryptoLatestBarRequest(symbol_or_symbols=["BTC/USD", "LTC/USD"])
    )
    sample = load_sample()
    assert latest["BTC/USD"].close == sample.close[-1, 0]
    assert latest["LTC/USD"].timestamp == sample.index[-1].to_pydatetime()
    bars = client.get_crypto_bars(
        CryptoBarsRequest(
            symbol_or_symbols="ETH/USD",
            timeframe=TimeFrame.Hour,
            start=sample.index[0].to_pydatetime(),
            limit=3,
        )
    )
    assert [b.open for b in bars.data["ETH/USD"]] == list(sample.open[:3, 1])
    assert bars.data["ETH/USD"][0].trade_count is None and bars.data["ETH/USD"][0].vwap is None


def test_unknown_symbol_is_a_config_error(fake) -> None:
    url, _ = fake
    with pytest.raises(ConfigError, match="DOGE/USD"):
        _load_alpaca(url, ["DOGE/USD"], "1h", "2018-01-01", "2018-01-02")


def test_refusal_and_unreachable_server_are_data_unavailable(fake) -> None:
    url, _ = fake
    with pytest.raises(DataUnavailable, match="HTTP 422"):
        _load_alpaca(url, ["BTC/USD"], "5m", "2018-01-01", "2018-01-02")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(DataUnavailable, match="could not reach"):
        _load_alpaca(dead, ["BTC/USD"], "1h", "2018-01-01", "2018-01-02")


def test_alpaca_needs_symbols() -> None:
    with pytest.raises(ConfigError, match="needs symbols"):
        load_market_data("alpaca", None, "1h")


def test_fake_with_a_replay_clock_serves_only_closed_bars() -> None:
    now = pd.Timestamp("2018-01-01 05:30", tz="UTC")
    app = fake_data_app(clock=lambda: now)
    with serve_app(app) as url:
        client = CryptoHistoricalDataClient(url_override=url)
        latest = client.get_crypto_latest_bar(CryptoLatestBarRequest(symbol_or_symbols="BTC/USD"))
        assert latest["BTC/USD"].timestamp == pd.Timestamp("2018-01-01 04:00", tz="UTC")
        md = _load_alpaca(url, ["BTC/USD"], "1h", "2017-12-31", "2018-01-02")
    assert md.index[-1] == pd.Timestamp("2018-01-01 04:00", tz="UTC")
