"""AlpacaBroker: paper trading through alpaca-py, with idempotent order submission.

- Clients: `TradingClient(paper=True, url_override=ALPACA_TRADING_URL)` and
  `CryptoHistoricalDataClient(url_override=ALPACA_DATA_URL)`, built once.
- Symbols: `BTC/USD` for orders, assets and bars; positions come back as `BTCUSD` and are
  converted at this edge.
- Orders: market, time in force `gtc` (crypto accepts only gtc/ioc); sells by qty rounded DOWN
  to the asset's min_trade_increment, buys by notional rounded down to the cent; below the $1
  minimum (or min_order_size) the order is not sent.
- Idempotency: the client_order_id is derived from the decision. alpaca-py retries 429/504 on
  every method, POST /v2/orders included, without looking first; we switch that off by
  setting the client's private `_retry` to 0 (alpaca-py 0.43-0.44 ignore retry_attempts=0 in
  the constructor and TradingClient does not forward it) and retry ourselves: after a
  temporary error (429, 5xx, timeout) we GET the order by client_order_id and adopt it if it
  exists, else POST again with the same id; "client_order_id must be unique" means the order
  exists and is looked up, never a failure. So a POST whose response was lost never places a
  second order.
- Requests time out after `timeout_s` (alpaca-py sets none): a `requests.Session` subclass
  with a default timeout replaces the client's private `_session`.
- Errors are translated here: 429/5xx/timeouts -> TemporaryBrokerError, other API errors ->
  BrokerError, each naming the operation, symbol, side, size and price. When neither the POST
  nor the look-ups can say whether an order exists (a lost response, then a lagging replica
  answering 404 to "client_order_id must be unique"), `OrderFateUnknown` is raised: the
  trader keeps the order open and looks it up again on later polls, never calls it rejected.
- Never adopts an order it did not create: an existing order found under our client_order_id
  must match the request (symbol, side, size), else BrokerError.
- Assets are read as `GET /v2/assets/BTCUSD` (Alpaca's "Get an asset" takes a symbol without
  the slash or URL-encoded; a raw slash is two path segments and a 404).
- `GET /v2/orders` pages ("Get all orders": at most 500 per page, newest first): open orders
  are read page by page with `until` = the oldest submission time seen.
- Fees: Alpaca's orders carry no fee; crypto fees are posted later as `CFEE` account
  activities ("Crypto Fees", "Account activities") in the received asset. `fee_activities`
  reads them page by page (`page_token`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pandas as pd
import requests

from cappuccino_runtime.data.alpaca import AlpacaDataConfig, TimeoutSession
from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.errors import (
    BrokerError,
    ConfigError,
    DataUnavailable,
    TemporaryBrokerError,
)
from cappuccino_runtime.persistence.ledger import OrderSide, OrderStatus
from cappuccino_runtime.timeframes import timeframe_delta
from cappuccino_runtime.trading.brokers.base import (
    AssetRules,
    BrokerOrder,
    FeeActivity,
    OrderFateUnknown,
    OrderRequest,
)
from cappuccino_runtime.trading.credentials import AlpacaCredentials
from cappuccino_runtime.trading.retry import Backoff, retry_temporary

if TYPE_CHECKING:
    from alpaca.trading.models import Asset, Order, Position, TradeAccount

# alpaca-py types every TradingClient read as `Model | RawData` because a client built with
# raw_data=True returns dicts; ours is built with the default raw_data=False, so the reads below
# are cast to the model alone.

__all__ = ["AlpacaBroker", "position_symbol", "trading_symbol"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_DUPLICATE = "client_order_id must be unique"
_DUPLICATE_CODE = 40010001
ORDERS_PAGE = 500
ACTIVITIES_PAGE = 100


def position_symbol(symbol: str) -> str:
    """`BTC/USD` -> `BTCUSD` (the form Alpaca positions use, also in URL paths)."""
    return symbol.replace("/", "")


def trading_symbol(position: str, known: tuple[str, ...]) -> str:
    """`BTCUSD` -> `BTC/USD` using the symbols the trader knows (quote currencies vary)."""
    for symbol in known:
        if position_symbol(symbol) == position:
            return symbol
    return position[:-3] + "/" + position[-3:] if position.endswith("USD") else position


def _order_status(raw: Any) -> OrderStatus:
    """Alpaca's order status as ours; one we do not know is an error naming it."""
    value = str(raw.status.value if hasattr(raw.status, "value") else raw.status)
    try:
        return OrderStatus(value)
    except ValueError:
        raise BrokerError(
            f"Alpaca reported order {raw.client_order_id} with status {value!r}, which "
            f"cappuccino does not know ({', '.join(s.value for s in OrderStatus)}); add it to "
            "persistence.ledger.OrderStatus."
        ) from None


def _status(e: Exception) -> int | None:
    return getattr(e, "status_code", None)


def _message(e: Exception) -> str:
    try:
        return str(json.loads(str(e)).get("message", e))
    except (ValueError, AttributeError):
        return str(e)


def _is_temporary(e: Exception) -> bool:
    if isinstance(e, requests.Timeout | requests.ConnectionError):
        return True
    status = _status(e)
    return status is not None and (status == 429 or status >= 500)


def _is_duplicate(e: Exception) -> bool:
    if _DUPLICATE in _message(e):
        return True
    try:
        return int(json.loads(str(e)).get("code")) == _DUPLICATE_CODE and "unique" in str(e)
    except (ValueError, AttributeError, TypeError):
        return False


def _ours(existing: BrokerOrder, request: OrderRequest, what: str) -> BrokerOrder:
    """The order found under our client_order_id, if it is the one we asked for."""
    same_size = (
        request.qty is not None
        and existing.qty is not None
        and math.isclose(existing.qty, request.qty, rel_tol=1e-9, abs_tol=1e-12)
    ) or (
        request.notional is not None
        and existing.notional is not None
        and math.isclose(existing.notional, request.notional, rel_tol=1e-9, abs_tol=1e-9)
    )
    if existing.symbol != request.symbol or existing.side != request.side or not same_size:
        raise BrokerError(
            f"client_order_id {request.client_order_id} already names a different order on the "
            f"Alpaca account ({existing.side.value} {existing.qty or existing.notional} of "
            f"{existing.symbol}, status {existing.status}); not adopting it for {what}. Two "
            "deployments share a book identity: give each its own portfolio id or ledger."
        )
    return existing


def _floor(value: float, step: float) -> float:
    if step <= 0:
        return value
    # the epsilon keeps 0.3 / 0.1 = 2.9999999999999996 from flooring to 2 steps
    return math.floor(value / step + 1e-9) * step


class AlpacaBroker:
    """The Broker interface on alpaca-py (paper account)."""

    name = "alpaca"
    fees_inline = False

    def __init__(
        self,
        credentials: AlpacaCredentials,
        *,
        symbols: tuple[str, ...],
        fee_rate: float = 0.0025,
        trading_url: str | None = None,
        data_url: str | None = None,
        timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from alpaca.data.historical import CryptoHistoricalDataClient
        from alpaca.trading.client import TradingClient

        self.symbols = symbols
        self.fee_rate = fee_rate
        self.backoff = backoff or Backoff()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep or self.backoff.sleep
        key, secret = (
            credentials.key_id.get_secret_value(),
            credentials.secret_key.get_secret_value(),
        )
        self.trading = TradingClient(key, secret, paper=True, url_override=trading_url)
        self.data_client = CryptoHistoricalDataClient(key, secret, url_override=data_url)
        for client in (self.trading, self.data_client):
            client._retry = 0
            client._session = TimeoutSession(timeout_s)
        self._data_config = AlpacaDataConfig(
            url=data_url, api_key=key, secret_key=secret, timeout_s=timeout_s
        )
        self._rules: dict[str, AssetRules] = {}

    # -- translation ------------------------------------------------------------------------
    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        from alpaca.common.exceptions import APIError

        try:
            return fn()
        except (APIError, requests.RequestException) as e:
            if _is_temporary(e):
                raise TemporaryBrokerError(
                    f"Alpaca could not {operation} for now (HTTP {_status(e) or type(e).__name__}: "
                    f"{_message(e)}); it will be retried."
                ) from e
            raise BrokerError(
                f"Alpaca refused to {operation} (HTTP {_status(e)}: {_message(e)})."
            ) from e

    def _retrying(self, operation: str, fn: Callable[[], T]) -> T:
        """Reads are safe to repeat: the one retry decorator, temporary errors only."""

        def attempt() -> T:
            return self._call(operation, fn)

        attempt.__name__ = operation  # named in the retry decorator's log line
        return retry_temporary(self.backoff)(attempt)()

    # -- market data --------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    def history(self, symbols: tuple[str, ...], timeframe: str, bars: int) -> MarketData:
        from cappuccino_runtime.data import load_market_data

        step = timeframe_delta(timeframe)
        end = pd.Timestamp(self.now())
        start = end - step * (bars + 2)
        try:
            data = self._retrying(
                f"fetch {bars} {timeframe} bars of {', '.join(symbols)}",
                lambda: load_market_data(
                    "alpaca", list(symbols), timeframe, start, end, None, alpaca=self._data_config
                ),
            )
        except ConfigError as e:  # e.g. no bar at all in the window: a feed outage, not bad input
            raise DataUnavailable(
                f"Alpaca has no usable {timeframe} bars of {', '.join(symbols)} between "
                f"{start.isoformat()} and {end.isoformat()}: {e}"
            ) from e
        return data.slice(max(0, data.n_bars - bars), data.n_bars)

    def fill_tradable(self, symbols: tuple[str, ...]) -> list[bool]:
        # A live venue has no forward-filled bars: when it cannot fill it rejects the order,
        # and a feed that stops is the stale-data guard's job.
        return [True for _ in symbols]

    def fill_prices(self, symbols: tuple[str, ...]) -> list[float]:
        from alpaca.data.requests import CryptoLatestBarRequest

        bars = self._retrying(
            f"read the latest bars of {', '.join(symbols)}",
            lambda: self.data_client.get_crypto_latest_bar(
                CryptoLatestBarRequest(symbol_or_symbols=list(symbols))
            ),
        )
        missing = [s for s in symbols if s not in bars]
        if missing:
            raise TemporaryBrokerError(f"Alpaca returned no latest bar for {', '.join(missing)}.")
        return [float(bars[s].close) for s in symbols]

    # -- account --------------------------------------------------------------------------------
    def asset_rules(self, symbol: str) -> AssetRules:
        if symbol not in self._rules:
            asset = cast(
                "Asset",
                self._retrying(
                    f"read the asset {symbol}",
                    lambda: self.trading.get_asset(position_symbol(symbol)),
                ),
            )
            self._rules[symbol] = AssetRules(
                symbol=symbol,
                min_order_size=float(asset.min_order_size or 0.0),
                min_trade_increment=float(asset.min_trade_increment or 0.0),
            )
        return self._rules[symbol]

    def positions(self) -> dict[str, float]:
        rows = cast(
            "list[Position]", self._retrying("read positions", self.trading.get_all_positions)
        )
        return {trading_symbol(p.symbol, self.symbols): float(p.qty) for p in rows}

    def cash(self) -> float:
        account = cast("TradeAccount", self._retrying("read the account", self.trading.get_account))
        if account.cash is None:
            raise BrokerError("Alpaca's account answer carries no cash balance; retry later.")
        return float(account.cash)

    # -- orders ---------------------------------------------------------------------------------
    def _to_order(self, raw: Any) -> BrokerOrder:
        return BrokerOrder(
            client_order_id=raw.client_order_id,
            broker_order_id=str(raw.id),
            symbol=raw.symbol
            if "/" in (raw.symbol or "")
            else trading_symbol(raw.symbol, self.symbols),
            side=OrderSide(str(raw.side.value if hasattr(raw.side, "value") else raw.side)),
            status=_order_status(raw),
            filled_qty=float(raw.filled_qty or 0.0),
            filled_avg_price=None if raw.filled_avg_price is None else float(raw.filled_avg_price),
            qty=None if raw.qty is None else float(raw.qty),
            notional=None if raw.notional is None else float(raw.notional),
        )

    def order(self, client_order_id: str) -> BrokerOrder | None:
        from alpaca.common.exceptions import APIError

        def lookup() -> BrokerOrder | None:
            try:
                return self._to_order(self.trading.get_order_by_client_id(client_order_id))
            except APIError as e:
                if _status(e) == 404:
                    return None
                raise

        return self._retrying(f"look up order {client_order_id}", lookup)

    def open_orders(self) -> list[BrokerOrder]:
        """Every open order of the account, page by page (newest first, `until` moves back)."""
        from alpaca.common.enums import Sort
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        out: list[BrokerOrder] = []
        seen: set[str] = set()
        until: datetime | None = None
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus.OPEN, limit=ORDERS_PAGE, direction=Sort.DESC, until=until
            )
            rows = cast(
                "list[Order]",
                self._retrying("list open orders", partial(self.trading.get_orders, request)),
            )
            fresh = [r for r in rows if str(r.id) not in seen]
            for r in fresh:
                seen.add(str(r.id))
                out.append(self._to_order(r))
            if len(rows) < ORDERS_PAGE or not fresh:
                return out
            # `until` is exclusive and orders can share a submission time ("Get All Orders"):
            # step back to just after the oldest one seen and drop repeats by id
            until = min(r.submitted_at or r.created_at for r in fresh) + timedelta(microseconds=1)

    def fee_activities(self, after: datetime | None = None) -> list[FeeActivity]:
        """CFEE activities posted after `after` (all when None), oldest first, every page."""
        params: dict[str, Any] = {"direction": "asc", "page_size": ACTIVITIES_PAGE}
        if after is not None:
            params["after"] = after.astimezone(UTC).isoformat().replace("+00:00", "Z")
        out: list[FeeActivity] = []
        while True:
            page = self._retrying(
                "read fee activities",
                partial(self.trading.get, "/account/activities/CFEE", dict(params)),
            )
            rows = page if isinstance(page, list) else []
            out.extend(self._fee(r) for r in rows)
            if len(rows) < ACTIVITIES_PAGE:
                return out
            params["page_token"] = rows[-1]["id"]

    def _fee(self, raw: dict[str, Any]) -> FeeActivity:
        symbol = str(raw.get("symbol") or "USD")
        qty = float(raw.get("qty") or 0.0)
        net = float(raw.get("net_amount") or 0.0)
        if symbol != "USD" and qty != 0.0:
            return FeeActivity(
                activity_id=str(raw["id"]),
                date=str(raw.get("date", "")),
                symbol=trading_symbol(symbol, self.symbols),
                asset=symbol[:-3] if symbol.endswith("USD") else symbol,
                amount=abs(qty),
            )
        return FeeActivity(
            activity_id=str(raw["id"]),
            date=str(raw.get("date", "")),
            symbol=trading_symbol(symbol, self.symbols) if symbol != "USD" else None,
            asset="USD",
            amount=abs(net),
        )

    def sized(self, request: OrderRequest) -> OrderRequest | None:
        """The request rounded to the asset's rules, or None when it falls below the minimums."""
        rules = self.asset_rules(request.symbol)
        if request.qty is not None:
            qty = _floor(request.qty, rules.min_trade_increment)
            if (
                qty <= 0
                or qty < rules.min_order_size
                or qty * request.ref_price < rules.min_notional
            ):
                return None
            return OrderRequest(**{**request.__dict__, "qty": round(qty, 12), "notional": None})
        notional = math.floor((request.notional or 0.0) * 100 + 1e-9) / 100
        if notional < rules.min_notional:
            return None
        if request.ref_price > 0 and notional / request.ref_price < rules.min_order_size:
            return None
        return OrderRequest(**{**request.__dict__, "notional": notional, "qty": None})

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Places the order once (see the module docstring); raises BrokerError when refused."""
        from alpaca.common.exceptions import APIError
        from alpaca.trading.enums import OrderSide as AlpacaSide
        from alpaca.trading.enums import TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        size = f"qty {request.qty}" if request.qty is not None else f"notional ${request.notional}"
        what = (
            f"{request.side.value} {size} of {request.symbol} near {request.ref_price} "
            f"(client_order_id {request.client_order_id})"
        )
        body = MarketOrderRequest(
            symbol=request.symbol,
            qty=request.qty,
            notional=request.notional,
            side=AlpacaSide(request.side.value),
            time_in_force=TimeInForce.GTC,
            client_order_id=request.client_order_id,
        )
        for attempt in range(self.backoff.attempts):
            if attempt > 0:
                existing = self.order(request.client_order_id)
                if existing is not None:
                    log.info("adopted order %s after a retry", request.client_order_id)
                    return _ours(existing, request, what)
            try:
                return self._to_order(self.trading.submit_order(body))
            except (APIError, requests.RequestException) as e:
                if isinstance(e, APIError) and _is_duplicate(e):
                    existing = self.order(request.client_order_id)
                    if existing is not None:
                        return _ours(existing, request, what)
                    raise OrderFateUnknown(
                        f"Alpaca says client_order_id {request.client_order_id} exists but "
                        f"cannot find it yet; {what} is looked up again on the next poll, "
                        "never resubmitted under another id."
                    ) from e
                if not _is_temporary(e):
                    raise BrokerError(
                        f"Alpaca rejected {what}: HTTP {_status(e)}: {_message(e)}."
                    ) from e
                if attempt + 1 >= self.backoff.attempts:
                    raise OrderFateUnknown(
                        f"Alpaca did not confirm {what} after {self.backoff.attempts} attempts "
                        f"(last: {_status(e) or type(e).__name__}); the order is looked up by its "
                        "client_order_id on the next poll."
                    ) from e
                delay = self.backoff.delay(attempt)
                log.warning("submitting %s failed temporarily (%s); retry in %.2fs", what, e, delay)
                self.backoff.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def resume_at(self, ts: datetime) -> None:
        return None  # live time moves on by itself

    def can_trade(self) -> bool:
        return True

    def wait_next_poll(self, poll_seconds: float) -> bool:
        self._sleep(poll_seconds)
        return True
