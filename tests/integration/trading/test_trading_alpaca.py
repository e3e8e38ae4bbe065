"""The real alpaca-py client against the local fake: orders, retries, lost responses, partial fills."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cappuccino_runtime.data import load_sample
from cappuccino_runtime.errors import BrokerError, ConfigError
from cappuccino_runtime.persistence.ledger import OrderSide
from cappuccino_runtime.trading.brokers.alpaca import AlpacaBroker, position_symbol
from cappuccino_runtime.trading.brokers.base import OrderRequest
from cappuccino_runtime.trading.credentials import AlpacaCredentials
from cappuccino_runtime.trading.retry import Backoff
from tests.support.fake_alpaca import FakeAlpaca, Fault, serve_app

NOW = pd.Timestamp("2019-01-10T12:00:00Z")
CREDS = AlpacaCredentials.from_env({"ALPACA_API_KEY_ID": "kid", "ALPACA_API_SECRET_KEY": "sk"})


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return load_sample().select(("BTC/USD", "ETH/USD"))


@pytest.fixture
def fake(data) -> FakeAlpaca:  # type: ignore[no-untyped-def]
    return FakeAlpaca(data=data, clock=lambda: NOW, slow_seconds=1.0)


@pytest.fixture
def broker(fake: FakeAlpaca) -> Iterator[AlpacaBroker]:
    with serve_app(fake.app()) as url:
        yield AlpacaBroker(
            CREDS,
            symbols=("BTC/USD", "ETH/USD"),
            trading_url=url,
            data_url=url,
            timeout_s=0.4,
            backoff=Backoff(attempts=4, base=0.0, sleep=lambda _: None),
            clock=NOW.to_pydatetime,
        )


def _buy(cid: str, notional: float = 500.0) -> OrderRequest:
    return OrderRequest(cid, "BTC/USD", OrderSide.BUY, notional=notional, ref_price=4000.0)


def test_buy_then_sell_with_fee_in_received_asset(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    price = fake.price("BTC/USD")
    assert broker.fill_prices(("BTC/USD",)) == [price]
    order = broker.submit(_buy("c-1"))
    assert order.status == "filled" and order.filled_avg_price == pytest.approx(price)
    assert order.filled_qty == pytest.approx(500.0 / price)
    positions = broker.positions()  # read back: the fee was taken in BTC
    assert positions == {"BTC/USD": pytest.approx(500.0 / price * (1 - 0.0025))}
    assert broker.cash() == pytest.approx(10_000.0 - 500.0)
    sell = broker.sized(
        OrderRequest("c-2", "BTC/USD", OrderSide.SELL, qty=positions["BTC/USD"], ref_price=price)
    )
    assert sell is not None and sell.qty is not None and sell.qty <= positions["BTC/USD"]
    broker.submit(sell)
    assert broker.positions().get("BTC/USD", 0.0) < 1e-8
    assert [o.client_order_id for o in (broker.order("c-1"), broker.order("c-2")) if o] == [
        "c-1",
        "c-2",
    ]
    assert broker.order("never-sent") is None


@pytest.mark.parametrize(
    ("kind", "posts"),
    [("429", 2), ("500", 2), ("lost", 1), ("timeout", 1)],
)
def test_temporary_failures_never_create_a_second_order(
    broker: AlpacaBroker, fake: FakeAlpaca, kind: str, posts: int
) -> None:
    fake.faults.append(Fault("POST", "/v2/orders", kind))  # type: ignore[arg-type]
    order = broker.submit(_buy(f"c-{kind}"))
    assert order.client_order_id == f"c-{kind}" and order.status == "filled"
    assert fake.post_requests == posts
    assert len(fake.orders) == 1  # exactly one order exists


def test_lost_response_and_lagging_lookup_adopts_via_duplicate_rejection(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    # POST processed but answered 504; the lookup says 404; the re-POST gets "must be unique"
    fake.faults += [
        Fault("POST", "/v2/orders", "lost"),
        Fault("GET", "/v2/orders:by_client_order_id", "hide"),
    ]
    order = broker.submit(_buy("c-dup"))
    assert order.client_order_id == "c-dup"
    assert fake.post_requests == 2 and len(fake.orders) == 1


def test_rate_limited_reads_are_retried(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    fake.faults += [Fault("GET", "/v2/account", "429"), Fault("GET", "/v2/account", "500")]
    assert broker.cash() == pytest.approx(10_000.0)


def test_partial_fill_completes_on_later_read(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    fake.partial_fills.append(0.25)
    first = broker.submit(_buy("c-part", 1_000.0))
    assert first.status == "partially_filled" and not first.done
    assert first.filled_qty == pytest.approx(0.25 * 1_000.0 / fake.price("BTC/USD"))
    assert [o.client_order_id for o in broker.open_orders()] == ["c-part"]
    later = broker.order("c-part")
    assert later is not None and later.status == "filled"
    assert later.filled_qty == pytest.approx(1_000.0 / fake.price("BTC/USD"))


def test_rejections_are_broker_errors_naming_the_order(broker: AlpacaBroker) -> None:
    with pytest.raises(BrokerError, match=r"buy notional \$50000.0 of BTC/USD near 4000.0"):
        broker.submit(_buy("c-big", 50_000.0))
    assert broker.sized(_buy("c-tiny", 0.999)) is None  # below the $1 minimum: never sent


def test_history_comes_from_the_data_router(broker: AlpacaBroker, data) -> None:  # type: ignore[no-untyped-def]
    history = broker.history(("BTC/USD", "ETH/USD"), "1h", 24)
    assert history.n_bars == 24 and history.symbols == ("BTC/USD", "ETH/USD")
    end = data.index.get_loc(NOW - pd.Timedelta(hours=1))
    assert history.close[-1].tolist() == data.close[end].tolist()


def test_symbol_conversion_and_credentials(tmp_path: Path) -> None:
    assert position_symbol("BTC/USD") == "BTCUSD"
    (tmp_path / "key_id").write_text("from-dir\n")
    (tmp_path / "secret_key").write_text("s3cr3t\n")
    creds = AlpacaCredentials.from_env(
        {"ALPACA_CREDENTIALS_DIR": str(tmp_path), "ALPACA_API_KEY_ID": "ignored"}
    )
    assert creds.key_id.get_secret_value() == "from-dir"
    assert "s3cr3t" not in repr(creds) and "s3cr3t" not in str(creds)
    with pytest.raises(ConfigError, match="ALPACA_API_KEY_ID"):
        AlpacaCredentials.from_env({})


def test_sizes_round_down_to_the_asset_increment_and_respect_the_minimum(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    fake.min_trade_increment = 1e-4
    broker._rules.clear()  # the rules are cached per symbol; re-read them from /v2/assets
    sell = OrderRequest("s", "BTC/USD", OrderSide.SELL, qty=0.123456789, ref_price=4000.0)
    sized = broker.sized(sell)
    assert sized is not None and sized.qty == pytest.approx(0.1234) and sized.notional is None
    dust = OrderRequest("d", "BTC/USD", OrderSide.SELL, qty=0.00009, ref_price=4000.0)
    assert broker.sized(dust) is None  # below one increment
    cheap = OrderRequest("c", "BTC/USD", OrderSide.SELL, qty=0.0002, ref_price=4000.0)
    assert broker.sized(cheap) is None  # $0.80 < the $1 minimum
    buy = broker.sized(_buy("b", 10.019))
    assert buy is not None and buy.notional == 10.01 and buy.qty is None
