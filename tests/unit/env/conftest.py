"""A small synthetic market (random walk, fixed seed) for the env's unit tests: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class Market:
    open: np.ndarray
    close: np.ndarray
    features: np.ndarray


def make_market(n_bars: int = 160, n_assets: int = 3, n_features: int = 2, seed: int = 7) -> Market:
    """Geometric random walk closes, opens a small gap away from the previous close."""
    rng = np.random.default_rng(seed)
    log_close = np.log(rng.uniform(5, 500, n_assets)) + np.cumsum(
        rng.normal(0.0, 0.02, (n_bars, n_assets)), axis=0
    )
    close = np.exp(log_close)
    prev = np.vstack([close[:1], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, 0.003, (n_bars, n_assets)))
    features = rng.normal(size=(n_bars, n_assets, n_features)).astype(np.float32)
    return Market(open_, close, features)


@pytest.fixture
def market() -> Market:
    return make_market()
