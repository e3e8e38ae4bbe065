"""A stateful, loopback-only stand-in for the Alpaca paper trading API, for tests.

`FakeAlpaca(data, clock=...)` keeps an account (cash, positions), assets, orders and account
activities, and `FakeAlpaca.app()` serves them with the JSON shapes alpaca-py parses (see
../shared/reference/alpaca.md): GET /v2/account, /v2/assets[/{symbol}], /v2/positions[/{sym}],
POST/GET /v2/orders, GET /v2/orders/{id}, GET /v2/orders:by_client_order_id,
GET /v2/account/activities[/{type}]. Market data (/v1beta3/crypto/us/bars and latest/bars) is
DATA's router from fake_alpaca_data, mounted on the same app with the same clock.

Two behaviours:
- `FakeAlpaca(...)` (defaults): a market order fills inside the POST at the latest closed bar's
  close. Kept for tests of the client's plumbing.
- `FakeAlpaca.realistic(...)`: as Alpaca's API reference describes it. "Create an order"
  answers `pending_new` with `filled_qty "0"`; the order fills later (`fill_delay_s` per
  increment, `fill_parts` increments, each at the ask for a buy / the bid for a sell with a
  `spread_bps` spread) and reports `partially_filled` in between. Assets carry real-looking
  `min_order_size` / `min_trade_increment` (Alpaca's sample: 0.0001 BTC).

Fees ("Crypto Fees"): taken in the received asset at each execution (a buy of q units leaves
q * (1 - fee) in the position, a sell pays the fee in USD), and posted as a separate `CFEE`
account activity `cfee_delay_s` after the execution (Alpaca: "calculated and posted end of
day"). Alpaca publishes no CFEE sample; this fake's shape follows the documented non-trade
activity object (id, activity_type, date, net_amount, symbol, qty, price, description,
status): an asset fee has `symbol` "BTCUSD" and a negative `qty` in that asset (net_amount 0),
a USD fee has `symbol` "USD" and a negative `net_amount`.

Rules enforced as Alpaca does: time_in_force gtc/ioc only (422), $1 minimum cost basis (403),
qty below `min_order_size` or off the `min_trade_increment` grid (422), unique client_order_id
(422, code 40010001, "client_order_id must be unique"), buying power and qty held net of open
orders (403). GET /v2/orders pages (`limit` default 50, max 500, `direction` desc by default,
`after`/`until` on submission time); activities page with `page_size` (max 100) and
`page_token` (an activity id). The asset route takes `BTCUSD` or URL-encoded `BTC%2FUSD`; a
raw slash (`/v2/assets/BTC/USD`) is a 404 as on Alpaca.

Fault injection: append `Fault(method, path_prefix, kind)` to `fake.faults`; the first matching
fault is consumed by the next matching request:
- "429" / "500" / "503": the request is refused and NOT processed;
- "lost": the request IS processed, then answered 504 (a POST whose response was lost);
- "timeout": the request IS processed, then the answer is delayed `slow_seconds` (longer than
  the client's timeout), so the client sees a timeout;
- "stall": the answer is delayed `slow_seconds` BEFORE processing (a stalled connection);
- "hide" / "404": answered 404 although the resource exists (a lagging replica);
and `fake.partial_fills.append(fraction)` makes the next immediate order fill only that
fraction (status partially_filled); the rest fills when the order is next read.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.timeframes import timeframe_delta
from tests.support.fake_alpaca_data import FakeDataState, make_data_router, serve_app

__all__ = ["REALISTIC_ASSETS", "FakeAlpaca", "Fault", "serve_app"]

FaultKind = Literal["429", "500", "503", "lost", "timeout", "stall", "hide", "404"]
OPEN = frozenset({"pending_new", "accepted", "new", "partially_filled"})
REALISTIC_ASSETS: dict[str, tuple[float, float]] = {
    "BTC/USD": (0.0001, 0.0001),
    "ETH/USD": (0.001, 0.001),
}
"""(min_order_size, min_trade_increment) per pair, as in Alpaca's assets sample (BTC/USD)."""


@dataclass
class Fault:
    method: str
    path: str
    kind: FaultKind


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(x: float) -> str:
    return format(x, ".12g")


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message})


def _when(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    ts = pd.Timestamp(value.replace(" ", "+"))
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


@dataclass
class FakeAlpaca:
    """The fake's state. Inspect `orders`, `positions`, `activities` and `post_requests` (every
    POST /v2/orders that reached the server, refused ones included) in tests."""

    data: MarketData
    clock: Callable[[], pd.Timestamp] | None = None
    cash: float = 10_000.0
    fee_rate: float = 0.0025
    min_trade_increment: float = 1e-9
    asset_rules: dict[str, tuple[float, float]] = field(default_factory=dict)
    fill_delay_s: float = 0.0
    fill_parts: int = 1
    spread_bps: float = 0.0
    cfee_delay_s: float = 0.0
    slow_seconds: float = 1.5
    faults: list[Fault] = field(default_factory=list)
    partial_fills: list[float] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    positions: dict[str, float] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)
    post_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _seq: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def realistic(cls, data: MarketData, **kwargs: Any) -> FakeAlpaca:
        """Asynchronous partial fills at bid/ask, later CFEE activities, real asset minimums."""
        defaults: dict[str, Any] = {
            "fill_delay_s": 1500.0,
            "fill_parts": 3,
            "spread_bps": 10.0,
            "cfee_delay_s": 3 * 3600.0,
            "asset_rules": dict(REALISTIC_ASSETS),
        }
        return cls(data=data, **{**defaults, **kwargs})

    # -- helpers --------------------------------------------------------------------------
    def now(self) -> pd.Timestamp:
        if self.clock is not None:
            return self.clock()
        return self.data.index[-1] + timeframe_delta(self.data.timeframe)

    def price(self, symbol: str) -> float:
        closes = self.data.index + timeframe_delta(self.data.timeframe)
        row = int((closes <= self.now()).sum()) - 1
        return float(self.data.close[max(row, 0), self.data.symbols.index(symbol)])

    def quote(self, symbol: str, side: str) -> float:
        """The price a market order of `side` executes at now: the ask for buys, bid for sells."""
        half = self.spread_bps * 1e-4 / 2
        return self.price(symbol) * (1 + half if side == "buy" else 1 - half)

    def rules(self, symbol: str) -> tuple[float, float]:
        return self.asset_rules.get(symbol, (self.min_trade_increment, self.min_trade_increment))

    def _take_fault(self, method: str, path: str) -> FaultKind | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.method == method and path.startswith(fault.path):
                    del self.faults[i]
                    return fault.kind
        return None

    def _order_json(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": order["id"],
            "client_order_id": order["client_order_id"],
            "created_at": order["created_at"],
            "updated_at": order["updated_at"],
            "submitted_at": order["created_at"],
            "filled_at": order["filled_at"],
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, order["symbol"])),
            "symbol": order["symbol"],
            "asset_class": "crypto",
            "notional": None if order["notional"] is None else _num(order["notional"]),
            "qty": None if order["qty"] is None else _num(order["qty"]),
            "filled_qty": _num(order["filled_qty"]),
            "filled_avg_price": None
            if order["filled_avg_price"] is None
            else _num(order["filled_avg_price"]),
            "order_class": "",
            "order_type": "market",
            "type": "market",
            "side": order["side"],
            "position_intent": f"{order['side']}_to_open",
            "time_in_force": order["time_in_force"],
            "limit_price": None,
            "stop_price": None,
            "status": order["status"],
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }

    def _activity_id(self, ts: pd.Timestamp) -> str:
        self._seq += 1
        return f"{ts.strftime('%Y%m%d%H%M%S')}{self._seq:06d}::{uuid.uuid4()}"

    def _post_fee(
        self, order: dict[str, Any], units: float, price: float, at: pd.Timestamp
    ) -> None:
        posted = at + pd.Timedelta(seconds=self.cfee_delay_s)
        buy = order["side"] == "buy"
        fee_units = units * self.fee_rate if buy else 0.0
        fee_cash = 0.0 if buy else units * price * self.fee_rate
        self.activities.append(
            {
                "id": self._activity_id(posted),
                "activity_type": "CFEE",
                "date": posted.strftime("%Y-%m-%d"),
                "symbol": order["symbol"].replace("/", "") if buy else "USD",
                "qty": _num(-fee_units) if buy else None,
                "price": _num(price),
                "net_amount": "0" if buy else _num(-fee_cash),
                "per_share_amount": None,
                "description": "Coin Pair Transaction Fee (Crypto)",
                "status": "executed",
                "posted_at": posted,
            }
        )

    def _fill(
        self, order: dict[str, Any], units: float, price: float, at: pd.Timestamp | None = None
    ) -> None:
        """Executes `units` more of the order at `price`: fee in the received asset, CFEE later."""
        at = self.now() if at is None else at
        sym = order["symbol"].replace("/", "")
        if order["side"] == "buy":
            self.cash -= units * price
            self.positions[sym] = self.positions.get(sym, 0.0) + units * (1 - self.fee_rate)
        else:
            self.cash += units * price * (1 - self.fee_rate)
            self.positions[sym] = self.positions.get(sym, 0.0) - units
            if abs(self.positions[sym]) < 1e-12:
                del self.positions[sym]
        self._post_fee(order, units, price, at)
        done = order["filled_qty"]
        order["filled_avg_price"] = (done * (order["filled_avg_price"] or 0.0) + units * price) / (
            done + units
        )
        order["filled_qty"] = done + units
        order["updated_at"] = _iso(at)

    def _complete_partial(self, order: dict[str, Any]) -> None:
        if order["status"] == "partially_filled" and not order["schedule"]:
            self._fill(order, order["target_units"] - order["filled_qty"], order["fill_price"])
            order["status"] = "filled"
            order["filled_at"] = _iso(self.now())

    def advance(self) -> None:
        """Runs every scheduled execution that is due at the clock's time (called per request)."""
        now = self.now()
        with self._lock:
            for order in self.orders.values():
                if order["status"] == "pending_new" and order["schedule"]:
                    order["status"] = "accepted"
                while order["schedule"] and order["schedule"][0] <= now:
                    at = order["schedule"].pop(0)
                    left = order["parts_left"]
                    order["parts_left"] = left - 1
                    price = self.quote(order["symbol"], order["side"])
                    if order["notional"] is not None:
                        spend = order["notional_left"] / left
                        order["notional_left"] -= spend
                        units = spend / price
                    else:
                        units = (order["target_units"] - order["filled_qty"]) / left
                    self._fill(order, units, price, at)
                    order["status"] = "filled" if not order["schedule"] else "partially_filled"
                    if not order["schedule"]:
                        order["filled_at"] = _iso(at)

    def _reserved(self, symbol: str, side: str) -> float:
        """Cash (buys) or units (sells) that open orders have not executed yet."""
        total = 0.0
        for o in self.orders.values():
            if o["status"] in OPEN and o["symbol"] == symbol and o["side"] == side:
                if side == "buy":
                    total += o["notional_left"] if o["notional"] is not None else 0.0
                else:
                    total += o["target_units"] - o["filled_qty"]
        return total

    # -- endpoints ----------------------------------------------------------------------------
    def _submit(self, body: dict[str, Any]) -> JSONResponse:
        symbol, side = body.get("symbol", ""), body.get("side", "")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if body.get("time_in_force") not in ("gtc", "ioc"):
            return _error(422, 42210000, "invalid crypto time_in_force")
        if len(cid) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        if cid in self.by_client_id:
            return _error(422, 40010001, "client_order_id must be unique")
        if symbol not in self.data.symbols:
            return _error(422, 42210000, f"asset {symbol} not found")
        price = self.quote(symbol, side)
        qty, notional = body.get("qty"), body.get("notional")
        units = float(qty) if qty is not None else float(notional or 0.0) / price
        if units * price < 1.0:
            return _error(403, 40310000, "cost basis must be >= minimal amount of order 1")
        min_size, increment = self.rules(symbol)
        if qty is not None and units < min_size - 1e-15:
            return _error(422, 40010001, f"qty must be >= {_num(min_size)}")
        # exact decimal arithmetic, as a server checks the qty string (floats err above ~10 units
        # on a 1e-9 grid)
        if qty is not None and Decimal(str(qty)) % Decimal(repr(increment)) != 0:
            return _error(422, 40010001, f"qty must be in increments of {_num(increment)}")
        held = self.positions.get(symbol.replace("/", ""), 0.0) - self._reserved(symbol, "sell")
        if side == "sell" and units > held + 1e-12:
            return _error(403, 40310000, f"insufficient balance for {symbol}: {held} < {units}")
        if side == "buy" and units * price > self.cash - self._reserved(symbol, "buy") + 1e-9:
            return _error(403, 40310000, "insufficient balance for USD")
        now = self.now()
        stamp = _iso(now)
        asynchronous = self.fill_delay_s > 0
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "symbol": symbol,
            "side": side,
            "qty": None if qty is None else float(qty),
            "notional": None if notional is None else float(notional),
            "notional_left": None if notional is None else float(notional),
            "time_in_force": body["time_in_force"],
            "created_at": stamp,
            "created_ts": now,
            "updated_at": stamp,
            "filled_at": None,
            "filled_qty": 0.0,
            "filled_avg_price": None,
            "status": "pending_new" if asynchronous else "new",
            "target_units": units,
            "fill_price": price,
            "parts_left": self.fill_parts,
            "schedule": [
                now + pd.Timedelta(seconds=self.fill_delay_s * (k + 1))
                for k in range(self.fill_parts)
            ]
            if asynchronous
            else [],
        }
        if not asynchronous:
            fraction = self.partial_fills.pop(0) if self.partial_fills else 1.0
            self._fill(order, units * fraction, price)
            order["status"] = "filled" if fraction >= 1.0 else "partially_filled"
            order["filled_at"] = stamp if fraction >= 1.0 else None
        self.orders[order["id"]] = order
        self.by_client_id[cid] = order["id"]
        return JSONResponse(self._order_json(order))

    def _list_orders(self, params: dict[str, str]) -> Any:
        status = params.get("status", "open")
        wanted = {"open": OPEN, "closed": {"filled", "canceled", "expired", "rejected"}}.get(status)
        limit = int(params.get("limit", 50))
        if limit > 500:
            return _error(422, 40010001, "limit must be <= 500")
        after, until = _when(params.get("after")), _when(params.get("until"))
        rows = [
            o
            for o in self.orders.values()
            if (wanted is None or o["status"] in wanted)
            and (after is None or o["created_ts"] > after)
            and (until is None or o["created_ts"] < until)
        ]
        rows.sort(key=lambda o: o["created_ts"], reverse=params.get("direction", "desc") == "desc")
        return [self._order_json(o) for o in rows[:limit]]

    def _list_activities(self, types: set[str], params: dict[str, str]) -> Any:
        size = int(params.get("page_size", 100))
        if size > 100:
            return _error(422, 40010001, "page_size must be <= 100")
        now = self.now()
        after, until = _when(params.get("after")), _when(params.get("until"))
        rows = [
            a
            for a in self.activities
            if a["activity_type"] in types
            and a["posted_at"] <= now
            and (after is None or a["posted_at"] > after)
            and (until is None or a["posted_at"] < until)
        ]
        desc = params.get("direction", "desc") == "desc"
        rows.sort(key=lambda a: a["id"], reverse=desc)
        token = params.get("page_token")
        if token:
            rows = [a for a in rows if (a["id"] < token if desc else a["id"] > token)]
        return [{k: v for k, v in a.items() if k != "posted_at"} for a in rows[:size]]

    def app(self) -> FastAPI:
        """The FastAPI app: trading endpoints plus DATA's bars router on the same clock."""
        api = FastAPI()
        api.include_router(make_data_router(state=FakeDataState(data=self.data, clock=self.clock)))
        self._add_faults(api)
        self._add_account_routes(api)
        self._add_order_routes(api)
        return api

    def _add_faults(self, api: FastAPI) -> None:
        """The middleware that counts requests and injects the scheduled faults."""
        fake = self

        @api.middleware("http")
        async def faults(request: Request, call_next: Callable[[Request], Any]) -> Response:
            path = request.url.path
            with fake._lock:
                fake.requests.append((request.method, path))
                if request.method == "POST" and path == "/v2/orders":
                    fake.post_requests += 1
            fake.advance()
            kind = fake._take_fault(request.method, path)
            if kind in ("429", "500", "503"):
                status = int(kind)
                return _error(status, status * 100000, f"injected {kind}")
            if kind in ("hide", "404"):
                return _error(404, 40410000, "not found (injected)")
            if kind == "stall":
                await asyncio.sleep(fake.slow_seconds)
            response = await call_next(request)
            if kind == "lost":
                return _error(504, 50400000, "gateway timeout (injected after processing)")
            if kind == "timeout":
                await asyncio.sleep(fake.slow_seconds)
            return response

    def _account_json(self) -> dict[str, Any]:
        equity = self.cash + sum(
            q * self.price(s) for s, q in ((self._slash(k), v) for k, v in self.positions.items())
        )
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "fake-account")),
            "account_number": "PA0000FAKE",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "cash": _num(self.cash),
            "buying_power": _num(self.cash),
            "non_marginable_buying_power": _num(self.cash),
            "equity": _num(equity),
            "last_equity": _num(equity),
            "portfolio_value": _num(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "shorting_enabled": False,
            "multiplier": "1",
        }

    def _asset_json(self, symbol: str) -> dict[str, Any]:
        min_size, increment = self.rules(symbol)
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "class": "crypto",
            "exchange": "CRYPTO",
            "symbol": symbol,
            "name": symbol,
            "status": "active",
            "tradable": True,
            "marginable": False,
            "shortable": False,
            "easy_to_borrow": False,
            "fractionable": True,
            "min_order_size": _num(min_size),
            "min_trade_increment": _num(increment),
            "price_increment": "0.01",
        }

    def _position_json(self, sym: str, qty: float) -> dict[str, Any]:
        price = self.price(self._slash(sym))
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self._slash(sym))),
            "symbol": sym,
            "exchange": "CRYPTO",
            "asset_class": "crypto",
            "avg_entry_price": _num(price),
            "qty": _num(qty),
            "qty_available": _num(qty),
            "side": "long",
            "market_value": _num(qty * price),
            "cost_basis": _num(qty * price),
            "unrealized_pl": "0",
            "unrealized_plpc": "0",
            "current_price": _num(price),
        }

    def _add_account_routes(self, api: FastAPI) -> None:
        """Account, assets, positions and account activities."""
        fake = self

        @api.get("/v2/account")
        def account() -> dict[str, Any]:
            return fake._account_json()

        @api.get("/v2/assets")
        def assets() -> list[dict[str, Any]]:
            return [fake._asset_json(s) for s in fake.data.symbols]

        @api.get("/v2/assets/{symbol:path}")
        def asset(symbol: str, request: Request) -> Any:
            raw = request.scope.get("raw_path", b"").decode().split("/v2/assets/", 1)[-1]
            if "/" in raw:  # Alpaca routes BTC/USD as two path segments: not an asset
                return _error(404, 40410000, f"asset not found for {raw}")
            wanted = fake._slash(symbol.replace("/", ""))
            if wanted not in fake.data.symbols:
                return _error(404, 40410000, "asset not found")
            return fake._asset_json(wanted)

        @api.get("/v2/positions")
        def positions() -> list[dict[str, Any]]:
            return [fake._position_json(s, q) for s, q in fake.positions.items()]

        @api.get("/v2/positions/{sym}")
        def position(sym: str) -> Any:
            if sym not in fake.positions:
                return _error(404, 40410000, "position does not exist")
            return fake._position_json(sym, fake.positions[sym])

        @api.get("/v2/account/activities/{activity_type}")
        def activities_of(activity_type: str, request: Request) -> Any:
            with fake._lock:
                return fake._list_activities({activity_type}, dict(request.query_params))

        @api.get("/v2/account/activities")
        def activities(request: Request) -> Any:
            params = dict(request.query_params)
            types = set(params.get("activity_types", "CFEE,FILL").split(","))
            with fake._lock:
                return fake._list_activities(types, params)

    def _add_order_routes(self, api: FastAPI) -> None:
        """Submit, list and look up orders (by id and by client order id)."""
        fake = self

        @api.post("/v2/orders")
        async def submit(request: Request) -> JSONResponse:
            body = await request.json()
            with fake._lock:
                return fake._submit(body)

        @api.get("/v2/orders")
        def list_orders(request: Request) -> Any:
            with fake._lock:
                return fake._list_orders(dict(request.query_params))

        @api.get("/v2/orders:by_client_order_id")
        def by_client_id(client_order_id: str) -> Any:
            with fake._lock:
                oid = fake.by_client_id.get(client_order_id)
                if oid is None:
                    return _error(404, 40410000, "order not found")
                order = fake.orders[oid]
                fake._complete_partial(order)
                return fake._order_json(order)

        @api.get("/v2/orders/{order_id}")
        def by_id(order_id: str) -> Any:
            with fake._lock:
                if order_id not in fake.orders:
                    return _error(404, 40410000, "order not found")
                order = fake.orders[order_id]
                fake._complete_partial(order)
                return fake._order_json(order)

    def _slash(self, position_symbol: str) -> str:
        for s in self.data.symbols:
            if s.replace("/", "") == position_symbol:
                return s
        return position_symbol
