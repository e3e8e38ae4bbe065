"""A local stand-in for Alpaca's crypto market-data REST API, serving real bars.

`make_data_router()` returns a FastAPI APIRouter answering
  GET /v1beta3/crypto/us/bars          (multi-symbol, start/end/limit/sort, next_page_token paging)
  GET /v1beta3/crypto/us/latest/bars
with the exact JSON shapes alpaca-py parses (every bar carries `n` and `vw`; both are null when
the source does not know them: the bundled sample has no trade counts, and `vw` is not derivable
from OHLCV). Bars come from a MarketData (the bundled Coinbase sample by default), resampled for
coarser timeframes. Mount the router into a bigger fake (the trading fake does) or serve it alone
with `serve_app(fake_data_app())`, which runs uvicorn on 127.0.0.1 on a free port in a thread.

Only for tests; it lives in tests/support and never ships with the package.
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import uvicorn
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse

from cappuccino_runtime.data import MarketData, load_sample
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta

__all__ = ["FakeDataState", "fake_data_app", "make_data_router", "serve_app"]

MAX_LIMIT = 10_000
_TIMEFRAME_UNITS = {"min": "m", "t": "m", "hour": "h", "h": "h", "day": "d", "d": "d"}


@dataclass
class FakeDataState:
    """What the fake serves and what it was asked (inspect `requests` in tests)."""

    data: MarketData
    max_page_size: int = MAX_LIMIT
    clock: Callable[[], pd.Timestamp] | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    _resampled: dict[str, MarketData] = field(default_factory=dict)

    def at(self, timeframe: str) -> MarketData:
        """The data at `timeframe` (resampled once and kept)."""
        if timeframe not in self._resampled:
            self._resampled[timeframe] = self.data.resample(timeframe)
        return self._resampled[timeframe]


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message})


def _parse_time(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    ts = pd.Timestamp(value.replace(" ", "+"))  # a raw '+' in a query string decodes to ' '
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _alpaca_timeframe(value: str) -> str:
    """'1Hour' / '15Min' / '1Day' / '4H' -> canonical '1h' / '15m' / '1d' / '4h'."""
    digits = "".join(ch for ch in value if ch.isdigit())
    unit = _TIMEFRAME_UNITS.get(value[len(digits) :].lower())
    if not digits or unit is None:
        raise ConfigError(f"invalid timeframe {value!r}")
    return canonical_timeframe(f"{digits}{unit}")


def _bar_json(md: MarketData, row: int, col: int) -> dict[str, object]:
    return {
        "t": md.index[row].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": float(md.open[row, col]),
        "h": float(md.high[row, col]),
        "l": float(md.low[row, col]),
        "c": float(md.close[row, col]),
        "v": float(md.volume[row, col]),
        "n": None,
        "vw": None,
    }


def _closed_rows(md: MarketData, clock: Callable[[], pd.Timestamp] | None) -> int:
    """How many leading bars have closed by the fake's clock (all of them without a clock)."""
    if clock is None:
        return md.n_bars
    closes = md.index + timeframe_delta(md.timeframe)
    return int((closes <= clock()).sum())


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    text = base64.urlsafe_b64decode(token.encode()).decode()
    if not text.startswith("offset:"):
        raise ValueError(token)
    return int(text.removeprefix("offset:"))


class DataRouter(APIRouter):
    """The crypto bars router and the state it serves (`router.state`)."""

    def __init__(self, state: FakeDataState) -> None:
        super().__init__()
        self.state = state


def make_data_router(
    data: MarketData | None = None,
    *,
    max_page_size: int = MAX_LIMIT,
    clock: Callable[[], pd.Timestamp] | None = None,
    state: FakeDataState | None = None,
) -> DataRouter:
    """Router for the crypto bars endpoints, serving `data` (default: the bundled sample).

    Args:
        data: hourly (or finer) bars to serve; coarser timeframes are resampled from them.
        max_page_size: the most bars one page returns, whatever `limit` asks (small values make
            pagination happen on small ranges).
        clock: "now" for a replay; bars that have not closed by then are not served.
        state: pass your own FakeDataState to inspect requests (then data/max_page_size/clock
            are taken from it).
    """
    state = state or FakeDataState(
        data=data if data is not None else load_sample(), max_page_size=max_page_size, clock=clock
    )
    router = DataRouter(state)

    @router.get("/v1beta3/crypto/us/bars")
    def bars(
        symbols: str,
        timeframe: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = Query(default=None),
        page_token: str | None = None,
        sort: str = "asc",
    ) -> JSONResponse:
        state.requests.append(
            {
                "path": "bars",
                "symbols": symbols,
                "timeframe": timeframe,
                "start": start or "",
                "end": end or "",
                "limit": str(limit),
                "page_token": page_token or "",
            }
        )
        try:
            md = state.at(_alpaca_timeframe(timeframe))
        except ConfigError:
            return _error(422, 42210000, f"invalid timeframe {timeframe!r}")
        try:
            lo, hi = _parse_time(start), _parse_time(end)
            offset = _offset(page_token)
        except ValueError:
            return _error(422, 42210000, "invalid start, end or page_token")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            return _error(422, 42210000, f"invalid limit: must be between 1 and {MAX_LIMIT}")
        page = min(limit or 1000, state.max_page_size)
        closed = _closed_rows(md, state.clock)
        mask = pd.Series(True, index=range(closed))
        stamps = md.index[:closed]
        if lo is not None:
            mask &= stamps >= lo
        if hi is not None:
            mask &= stamps <= hi
        rows = [int(r) for r in mask[mask].index]
        if sort == "desc":
            rows.reverse()
        wanted = sorted(dict.fromkeys(s.strip() for s in symbols.split(",") if s.strip()))
        flat = [(s, r) for s in wanted if s in md.symbols for r in rows]
        chunk = flat[offset : offset + page]
        out: dict[str, list[dict[str, object]]] = {}
        for symbol, row in chunk:
            out.setdefault(symbol, []).append(_bar_json(md, row, md.symbols.index(symbol)))
        more = offset + page < len(flat)
        return JSONResponse(
            {"bars": out, "next_page_token": _token(offset + page) if more else None}
        )

    @router.get("/v1beta3/crypto/us/latest/bars")
    def latest_bars(symbols: str) -> JSONResponse:
        state.requests.append({"path": "latest/bars", "symbols": symbols})
        md = state.data
        closed = _closed_rows(md, state.clock)
        out = {}
        for symbol in (s.strip() for s in symbols.split(",") if s.strip()):
            if symbol in md.symbols and closed:
                out[symbol] = _bar_json(md, closed - 1, md.symbols.index(symbol))
        return JSONResponse({"bars": out})

    return router


def fake_data_app(
    data: MarketData | None = None,
    *,
    max_page_size: int = MAX_LIMIT,
    clock: Callable[[], pd.Timestamp] | None = None,
    state: FakeDataState | None = None,
) -> FastAPI:
    """A FastAPI app holding only the market-data router (`app.state.fake` is its state)."""
    app = FastAPI()
    router = make_data_router(data, max_page_size=max_page_size, clock=clock, state=state)
    app.include_router(router)
    app.state.fake = router.state
    return app


@contextmanager
def serve_app(app: FastAPI, *, startup_timeout_s: float = 30.0) -> Iterator[str]:
    """Serves `app` with uvicorn on 127.0.0.1 (free port) in a thread; yields the base URL.

    The server is stopped and its thread joined on exit.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    while not server.started and thread.is_alive():
        ready.wait(0.02)
        startup_timeout_s -= 0.02
        if startup_timeout_s <= 0:
            server.should_exit = True
            raise RuntimeError("the fake Alpaca server did not start within its startup timeout.")
    if not thread.is_alive():
        raise RuntimeError("the fake Alpaca server exited during start-up; see the log above.")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
