"""Shared builders for the trading integration tests: real sample data, seeded random actors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch
from cappuccino_contracts.artifacts import ModelSpec

from cappuccino_runtime.agent.networks import Actor
from cappuccino_runtime.data import MarketData, load_sample
from cappuccino_runtime.env.state import state_dim
from cappuccino_runtime.features import Normalizer, compute_features, feature_names, warmup_bars
from cappuccino_runtime.trading.brokers.alpaca import AlpacaBroker
from cappuccino_runtime.trading.credentials import AlpacaCredentials
from cappuccino_runtime.trading.logs import JsonFormatter
from cappuccino_runtime.trading.policy import ModelSlot
from cappuccino_runtime.trading.retry import Backoff


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """In-process CLI runs add a JSON handler to the root logger; remove it after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(handler)
    root.setLevel(level)


SYMBOLS = ("BTC/USD", "ETH/USD")
CREDS = AlpacaCredentials.from_env({"ALPACA_API_KEY_ID": "k", "ALPACA_API_SECRET_KEY": "s"})
"""Credentials the fake Alpaca server accepts."""
T0 = datetime(2017, 8, 20, 0, 0, 30, tzinfo=UTC)
"""30 s after a bar of the bundled sample closed: where the fake-Alpaca trader tests start."""


class Clock:
    """One clock shared by the fake Alpaca server and the broker; polls advance it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fake_alpaca_broker(
    url: str, clock: Clock, *, timeout_s: float = 2.0, attempts: int = 3
) -> AlpacaBroker:
    """The real alpaca-py client against the fake server at `url`, on `clock` (its retries'
    back-off sleeps advance the clock instead of waiting)."""
    return AlpacaBroker(
        CREDS,
        symbols=SYMBOLS,
        trading_url=url,
        data_url=url,
        timeout_s=timeout_s,
        backoff=Backoff(attempts=attempts, base=0.0),
        clock=lambda: clock.now,
        sleep=clock.advance,
    )


FEATURE_SET = "minimal"
LOOKBACK = 4


def sample(n_bars: int = 3000) -> MarketData:
    """The bundled Coinbase sample (real bars), first n_bars of BTC and ETH."""
    return load_sample().select(SYMBOLS).slice(0, n_bars)


def make_slot(data: MarketData, seed: int, net_dimension: int = 16, study: str = "s") -> ModelSlot:
    """A seeded random actor with a normaliser fitted on the first 1000 bars of `data`."""
    raw = compute_features(data, FEATURE_SET)
    warm = warmup_bars(FEATURE_SET)
    normalizer = Normalizer.fit(raw[warm:1000])
    n_features = len(feature_names(FEATURE_SET))
    spec = ModelSpec(
        symbols=list(SYMBOLS),
        timeframe="1h",
        lookback=LOOKBACK,
        feature_set=FEATURE_SET,
        obs_dim=state_dim(len(SYMBOLS), n_features, LOOKBACK),
        action_dim=len(SYMBOLS),
        net_dimension=net_dimension,
        normalizer=normalizer.to_stats(),
    )
    torch.manual_seed(seed)
    actor = Actor(spec.obs_dim, spec.action_dim, net_dimension).eval()
    with torch.no_grad():  # a random policy that trades (a fresh actor's head is ~0: it holds)
        torch.nn.init.orthogonal_(actor.net[-1].weight, 3.0)
    return ModelSlot(study, seed, f"sha-{seed}", spec, actor)


def normalised_features(data: MarketData, slot: ModelSlot) -> np.ndarray:
    assert slot.spec.normalizer is not None
    raw = compute_features(data, slot.spec.feature_set)
    return Normalizer.from_stats(slot.spec.normalizer).transform(raw)
