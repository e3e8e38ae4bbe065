"""Alpaca historical crypto bars through alpaca-py's `CryptoHistoricalDataClient`.

The endpoint is Alpaca's unless ALPACA_DATA_URL is set (passed as `url_override`, which is how
tests point the real client at a local fake server). Keys are optional: ALPACA_API_KEY_ID and
ALPACA_API_SECRET_KEY raise the rate limit when present. alpaca-py follows `next_page_token`.

Timeframes up to 1h are fetched natively; coarser ones (4h, 1d) are fetched as 1h bars and
aggregated by `MarketData.resample`, so bins are UTC-aligned exactly as for file sources.
A bar that has not closed yet at `now` is dropped and reported.

Every request times out after `AlpacaDataConfig.timeout_s` (alpaca-py sets no timeout, so a
stalled connection would block forever): the client's session is a `TimeoutSession`. A URL
with credentials in it (`https://user:pass@host`) is named without them in every message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import requests

from cappuccino_runtime.data.files import RawSeries
from cappuccino_runtime.data.quality import DataQualityIssue
from cappuccino_runtime.errors import ConfigError, DataUnavailable
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta

if TYPE_CHECKING:
    from alpaca.data.models import BarSet
    from alpaca.data.timeframe import TimeFrame

__all__ = [
    "AlpacaDataConfig",
    "TimeoutSession",
    "alpaca_fetch_timeframe",
    "fetch_alpaca_bars",
    "redact_url",
]


def redact_url(url: str) -> str:
    """`https://user:secret@host/path` -> `https://***@host/path` (URLs are named in errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout (alpaca-py passes none)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class AlpacaDataConfig:
    """Where and as whom to ask Alpaca for bars."""

    url: str | None = None
    api_key: str | None = None
    secret_key: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> AlpacaDataConfig:
        """Reads ALPACA_DATA_URL, ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY (all optional)."""
        env = os.environ
        return cls(
            url=env.get("ALPACA_DATA_URL") or None,
            api_key=env.get("ALPACA_API_KEY_ID") or None,
            secret_key=env.get("ALPACA_API_SECRET_KEY") or None,
        )

    @property
    def label(self) -> str:
        """How findings name this source."""
        return f"alpaca:{redact_url(self.url) if self.url else 'https://data.alpaca.markets'}"


def _redacted(message: str, config: AlpacaDataConfig) -> str:
    """The message with the configured URL's credentials and the keys removed."""
    if config.url:
        message = message.replace(config.url, redact_url(config.url))
        parts = urlsplit(config.url)
        for secret in (parts.password, parts.username):
            if secret and len(secret) >= 6:  # shorter strings would mangle ordinary words
                message = message.replace(secret, "***")
    for secret in (config.api_key, config.secret_key):
        if secret and len(secret) >= 6:
            message = message.replace(secret, "***")
    return message


def alpaca_fetch_timeframe(timeframe: str) -> str:
    """The timeframe actually requested from Alpaca for `timeframe` (coarser than 1h -> 1h)."""
    delta = timeframe_delta(timeframe)
    if delta < pd.Timedelta(minutes=1) or delta > pd.Timedelta(days=1):
        raise ConfigError(
            f"Alpaca bars are available from 1m to 1d; {timeframe!r} is outside that."
        )
    if delta > pd.Timedelta(hours=1):
        return "1h"
    if 60 % int(delta.total_seconds() // 60) != 0:
        raise ConfigError(f"Alpaca minute bars must divide an hour; {timeframe!r} does not.")
    return canonical_timeframe(timeframe)


def _alpaca_timeframe(timeframe: str) -> TimeFrame:
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    minutes = int(timeframe_delta(timeframe).total_seconds() // 60)
    if minutes % 60 == 0:
        return TimeFrame(minutes // 60, TimeFrameUnit.Hour)
    return TimeFrame(minutes, TimeFrameUnit.Minute)


def fetch_alpaca_bars(
    symbols: Sequence[str],
    timeframe: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    config: AlpacaDataConfig | None = None,
    now: pd.Timestamp | None = None,
) -> tuple[list[RawSeries], list[DataQualityIssue]]:
    """Fetches bars of `fetch_timeframe = alpaca_fetch_timeframe(timeframe)` for [start, end).

    Returns each symbol's rows (ascending, as Alpaca sends them) and the findings for bars that
    had not closed at `now`. Raises DataUnavailable when Alpaca cannot be reached or refuses,
    ConfigError when a symbol has no bars at all.
    """
    from alpaca.common.exceptions import APIError
    from alpaca.data.historical.crypto import CryptoHistoricalDataClient
    from alpaca.data.requests import CryptoBarsRequest

    config = config or AlpacaDataConfig.from_env()
    fetch_tf = alpaca_fetch_timeframe(timeframe)
    step = timeframe_delta(fetch_tf)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    client = CryptoHistoricalDataClient(
        api_key=config.api_key, secret_key=config.secret_key, url_override=config.url
    )
    client._session = TimeoutSession(config.timeout_s)
    request = CryptoBarsRequest(
        symbol_or_symbols=list(symbols),
        timeframe=_alpaca_timeframe(fetch_tf),
        start=start.to_pydatetime(),
        end=(end - pd.Timedelta(microseconds=1)).to_pydatetime(),
    )
    try:
        # the client uses the default raw_data=False: a BarSet, never the raw dict alpaca-py's
        # return type also allows
        barset = cast("BarSet", client.get_crypto_bars(request))
    except APIError as e:
        raise DataUnavailable(
            f"Alpaca refused crypto bars for {', '.join(symbols)} ({fetch_tf}, {start} .. {end}) "
            f"at {config.label}: HTTP {e.status_code}: {_redacted(str(e), config)}. Check the symbols and the API keys."
        ) from e
    except OSError as e:  # requests' ConnectionError and timeouts are OSErrors
        raise DataUnavailable(
            f"could not reach Alpaca at {config.label} for crypto bars of {', '.join(symbols)}: "
            f"{_redacted(str(e), config)}. Check the network or ALPACA_DATA_URL."
        ) from e
    series: list[RawSeries] = []
    issues: list[DataQualityIssue] = []
    for symbol in symbols:
        bars = barset.data.get(symbol, [])
        if not bars:
            raise ConfigError(
                f"Alpaca returned no {fetch_tf} bars for {symbol!r} between {start} and {end}; "
                "check the symbol (BASE/QUOTE, e.g. 'BTC/USD') and the date range."
            )
        frame = pd.DataFrame(
            [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars],
            columns=_COLUMNS,
        )
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
        frame["line"] = range(1, len(frame) + 1)
        open_bar = (frame["timestamp"] + step) > now
        if open_bar.any():
            issues.append(
                DataQualityIssue(
                    kind="incomplete_bin",
                    symbol=symbol,
                    file=config.label,
                    rows=[t.isoformat() for t in frame.loc[open_bar, "timestamp"]],
                    action=f"dropped: the bar had not closed at {now.isoformat()}",
                )
            )
            frame = frame[~open_bar.to_numpy()]
        series.append(RawSeries(symbol, config.label, frame.reset_index(drop=True)))
    return series, issues
