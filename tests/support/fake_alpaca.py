"""A stateful, loopback-only stand-in for the Alpaca paper trading API, for tests.

`FakeAlpaca(data, clock=...)` keeps an account (cash, positions), assets and orders, and
`FakeAlpaca.app()` serves them with the JSON shapes alpaca-py parses (see
../shared/reference/alpaca.md): GET /v2/account, /v2/assets[/{symbol}], /v2/positions[/{sym}],
POST/GET /v2/orders, GET /v2/orders/{id}, GET /v2/orders:by_client_order_id. Market data
(/v1beta3/crypto/us/bars and latest/bars) is DATA's router from fake_alpaca_data, mounted on the
same app with the same clock.

Market orders fill at once at the latest closed bar's close; the fee (fee_rate) is taken in the
received asset (a buy of q units leaves q * (1 - fee) in the position, a sell pays it in USD).
Rules enforced as Alpaca does: time_in_force gtc/ioc only (422), $1 minimum cost basis (403),
unique client_order_id (422 "client_order_id must be unique"), qty vs positions (403).

Fault injection: append `Fault(method, path_prefix, kind)` to `fake.faults`; the first matching
fault is consumed by the next matching request:
- "429" / "500": the request is refused and NOT processed;
- "lost": the request IS processed, then answered 504 (a POST whose response was lost);
- "timeout": the request IS processed, then the answer is delayed `slow_seconds` (longer than
  the client's timeout), so the client sees a timeout;
- "hide": a GET by client_order_id answers 404 although the order exists (lagging replica);
and `fake.partial_fills.append(fraction)` makes the next order fill only that fraction
(status partially_filled); the rest fills when the order is next read.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.data.timeframes import timeframe_delta
from tests.support.fake_alpaca_data import FakeDataState, make_data_router, serve_app

__all__ = ["FakeAlpaca", "Fault", "serve_app"]

FaultKind = Literal["429", "500", "lost", "timeout", "hide"]


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


@dataclass
class FakeAlpaca:
    """The fake's state. Inspect `orders`, `positions` and `post_requests` (every POST /v2/orders
    that reached the server, refused ones included) in tests."""

    data: MarketData
    clock: Callable[[], pd.Timestamp] | None = None
    cash: float = 10_000.0
    fee_rate: float = 0.0025
    min_trade_increment: float = 1e-9
    slow_seconds: float = 1.5
    faults: list[Fault] = field(default_factory=list)
    partial_fills: list[float] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    positions: dict[str, float] = field(default_factory=dict)
    post_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- helpers --------------------------------------------------------------------------
    def now(self) -> pd.Timestamp:
        if self.clock is not None:
            return self.clock()
        return self.data.index[-1] + timeframe_delta(self.data.timeframe)

    def price(self, symbol: str) -> float:
        closes = self.data.index + timeframe_delta(self.data.timeframe)
        row = int((closes <= self.now()).sum()) - 1
        return float(self.data.close[max(row, 0), self.data.symbols.index(symbol)])

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

    def _fill(self, order: dict[str, Any], units: float, price: float) -> None:
        """Executes `units` more of the order at `price`: fee in the received asset."""
        sym = order["symbol"].replace("/", "")
        if order["side"] == "buy":
            self.cash -= units * price
            self.positions[sym] = self.positions.get(sym, 0.0) + units * (1 - self.fee_rate)
        else:
            self.cash += units * price * (1 - self.fee_rate)
            self.positions[sym] = self.positions.get(sym, 0.0) - units
            if abs(self.positions[sym]) < 1e-12:
                del self.positions[sym]
        done = order["filled_qty"]
        order["filled_avg_price"] = (done * (order["filled_avg_price"] or 0.0) + units * price) / (
            done + units
        )
        order["filled_qty"] = done + units
        order["updated_at"] = _iso(self.now())

    def _complete_partial(self, order: dict[str, Any]) -> None:
        if order["status"] == "partially_filled":
            self._fill(order, order["target_units"] - order["filled_qty"], order["fill_price"])
            order["status"] = "filled"
            order["filled_at"] = _iso(self.now())

    # -- endpoints ----------------------------------------------------------------------------
    def _submit(self, body: dict[str, Any]) -> JSONResponse:
        symbol, side = body.get("symbol", ""), body.get("side", "")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if body.get("time_in_force") not in ("gtc", "ioc"):
            return _error(422, 42210000, "invalid crypto time_in_force")
        if len(cid) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        if cid in self.by_client_id:
            return _error(422, 42210000, "client_order_id must be unique")
        if symbol not in self.data.symbols:
            return _error(422, 42210000, f"asset {symbol} not found")
        price = self.price(symbol)
        qty, notional = body.get("qty"), body.get("notional")
        units = float(qty) if qty is not None else float(notional or 0.0) / price
        if units * price < 1.0:
            return _error(403, 40310000, "cost basis must be >= minimal amount of order 1")
        steps = units / self.min_trade_increment
        if qty is not None and abs(steps - round(steps)) > 1e-6:
            return _error(422, 42210000, "qty must be a multiple of min_trade_increment")
        held = self.positions.get(symbol.replace("/", ""), 0.0)
        if side == "sell" and units > held + 1e-12:
            return _error(403, 40310000, f"insufficient balance for {symbol}: {held} < {units}")
        if side == "buy" and units * price > self.cash + 1e-9:
            return _error(403, 40310000, "insufficient balance for USD")
        now = _iso(self.now())
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "symbol": symbol,
            "side": side,
            "qty": None if qty is None else float(qty),
            "notional": None if notional is None else float(notional),
            "time_in_force": body["time_in_force"],
            "created_at": now,
            "updated_at": now,
            "filled_at": None,
            "filled_qty": 0.0,
            "filled_avg_price": None,
            "status": "new",
            "target_units": units,
            "fill_price": price,
        }
        fraction = self.partial_fills.pop(0) if self.partial_fills else 1.0
        self._fill(order, units * fraction, price)
        order["status"] = "filled" if fraction >= 1.0 else "partially_filled"
        order["filled_at"] = now if fraction >= 1.0 else None
        self.orders[order["id"]] = order
        self.by_client_id[cid] = order["id"]
        return JSONResponse(self._order_json(order))

    def app(self) -> FastAPI:
        """The FastAPI app: trading endpoints plus DATA's bars router on the same clock."""
        api = FastAPI()
        clock = self.clock
        api.include_router(make_data_router(state=FakeDataState(data=self.data, clock=clock)))
        fake = self

        @api.middleware("http")
        async def faults(request: Request, call_next: Callable[[Request], Any]) -> Response:
            if request.method == "POST" and request.url.path == "/v2/orders":
                with fake._lock:
                    fake.post_requests += 1
            kind = fake._take_fault(request.method, request.url.path)
            if kind in ("429", "500"):
                status = int(kind)
                return _error(status, status * 100000, f"injected {kind}")
            if kind == "hide":
                return _error(404, 40410000, "order not found")
            response = await call_next(request)
            if kind == "lost":
                return _error(504, 50400000, "gateway timeout (injected after processing)")
            if kind == "timeout":
                import asyncio

                await asyncio.sleep(fake.slow_seconds)
            return response

        @api.get("/v2/account")
        def account() -> dict[str, Any]:
            equity = fake.cash + sum(
                q * fake.price(s)
                for s, q in ((fake._slash(k), v) for k, v in fake.positions.items())
            )
            return {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "fake-account")),
                "account_number": "PA0000FAKE",
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": _num(fake.cash),
                "buying_power": _num(fake.cash),
                "non_marginable_buying_power": _num(fake.cash),
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

        def asset_json(symbol: str) -> dict[str, Any]:
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
                "min_order_size": _num(fake.min_trade_increment),
                "min_trade_increment": _num(fake.min_trade_increment),
                "price_increment": "0.01",
            }

        @api.get("/v2/assets")
        def assets() -> list[dict[str, Any]]:
            return [asset_json(s) for s in fake.data.symbols]

        @api.get("/v2/assets/{symbol:path}")
        def asset(symbol: str) -> Any:
            if symbol not in fake.data.symbols:
                return _error(404, 40410000, "asset not found")
            return asset_json(symbol)

        def position_json(sym: str, qty: float) -> dict[str, Any]:
            price = fake.price(fake._slash(sym))
            return {
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, fake._slash(sym))),
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

        @api.get("/v2/positions")
        def positions() -> list[dict[str, Any]]:
            return [position_json(s, q) for s, q in fake.positions.items()]

        @api.get("/v2/positions/{sym}")
        def position(sym: str) -> Any:
            if sym not in fake.positions:
                return _error(404, 40410000, "position does not exist")
            return position_json(sym, fake.positions[sym])

        @api.post("/v2/orders")
        async def submit(request: Request) -> JSONResponse:
            body = await request.json()
            with fake._lock:
                return fake._submit(body)

        @api.get("/v2/orders")
        def list_orders(status: str = "open", limit: int = 50) -> list[dict[str, Any]]:
            wanted = {
                "open": {"new", "partially_filled", "accepted", "pending_new"},
                "closed": {"filled", "canceled", "expired", "rejected"},
            }.get(status)
            rows = [o for o in fake.orders.values() if wanted is None or o["status"] in wanted]
            return [fake._order_json(o) for o in rows[:limit]]

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

        return api

    def _slash(self, position_symbol: str) -> str:
        for s in self.data.symbols:
            if s.replace("/", "") == position_symbol:
                return s
        return position_symbol
