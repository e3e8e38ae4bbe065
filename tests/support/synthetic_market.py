"""A synthetic market with a planted, learnable, causal signal (the planted-signal tests).

Two (or more) assets share a hidden regime: a Markov chain over the assets that switches with
probability `switch_prob` per bar (a regime lasts 1 / switch_prob bars on average). In regime k,
asset k drifts up by `drift` per bar and every other asset drifts down by the same amount;
each bar adds Gaussian noise of std `noise`. Equal-weight buy-and-hold earns about nothing;
a policy that reads the recent returns (visible in the state's price ratios and the
log_return_1 / rsi_14 features) and holds the rising asset earns a lot more than the fees it
pays switching once a regime. The signal is causal: nothing at bar t depends on later bars.

`momentum_oracle` is the simple rule that exploits it (hold the asset with the best recent
return), used to check that the planted edge is there before asking an agent to find it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cappuccino_runtime.data import MarketData

__all__ = ["momentum_oracle", "planted_market"]


def planted_market(
    n_bars: int = 2400,
    n_assets: int = 2,
    *,
    drift: float = 0.003,
    noise: float = 0.01,
    switch_prob: float = 1 / 60,
    seed: int = 0,
    start: str = "2024-01-01",
) -> MarketData:
    """Hourly OHLCV bars of `n_assets` assets driven by the hidden regime (see the module)."""
    if n_assets < 2:
        raise ValueError("a planted market needs at least 2 assets to rotate between.")
    rng = np.random.default_rng(seed)
    regime = np.empty(n_bars, dtype=np.int64)
    regime[0] = rng.integers(n_assets)
    switches = rng.random(n_bars) < switch_prob
    for t in range(1, n_bars):
        regime[t] = (
            (regime[t - 1] + rng.integers(1, n_assets)) % n_assets if switches[t] else regime[t - 1]
        )
    mean = np.full((n_bars, n_assets), -drift)
    mean[np.arange(n_bars), regime] = drift
    log_ret = mean + rng.normal(0.0, noise, (n_bars, n_assets))
    close = 100.0 * np.exp(np.cumsum(log_ret, axis=0))
    prev = np.vstack([close[:1] * np.exp(-log_ret[:1]), close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, noise / 10, (n_bars, n_assets)))
    wiggle = np.abs(rng.normal(0.0, noise / 2, (n_bars, n_assets)))
    high = np.maximum(open_, close) * np.exp(wiggle)
    low = np.minimum(open_, close) * np.exp(-wiggle)
    volume = rng.uniform(50.0, 150.0, (n_bars, n_assets))
    index = pd.date_range(start, periods=n_bars, freq="1h", tz="UTC")
    return MarketData(
        index=index,
        symbols=tuple(f"S{i}/USD" for i in range(n_assets)),
        timeframe="1h",
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def momentum_oracle(close: np.ndarray, window: int = 6) -> np.ndarray:
    """Target weights [T, A]: all in the asset with the best return over the last `window`
    bars (equal weights before there is a window). Causal: row t reads bars t-window..t."""
    n_bars, n_assets = close.shape
    weights = np.full((n_bars, n_assets), 1.0 / n_assets)
    past = np.log(close[window:] / close[:-window])
    best = past.argmax(axis=1)
    weights[window:] = 0.0
    weights[np.arange(window, n_bars), best] = 1.0
    return weights
