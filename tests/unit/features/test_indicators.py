"""Indicators against hand-computed or textbook values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.features import indicators as ind


def col(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


def test_log_return() -> None:
    out = ind.log_return(col([100, 110, 99]))
    assert out.warmup == 1 and np.isnan(out.values[0, 0])
    np.testing.assert_allclose(out.values[1:, 0], [np.log(1.1), np.log(0.9)])
    lag2 = ind.log_return(col([100, 110, 99, 121]), 2)
    np.testing.assert_allclose(lag2.values[2:, 0], [np.log(0.99), np.log(1.1)])


def test_truncated_ema_weights_and_closeness_to_pandas() -> None:
    length = ind.ema_length(12)
    alpha = 2 / 13
    assert (1 - alpha) ** length <= ind.EMA_TAIL < (1 - alpha) ** (length - 1)
    x = np.random.default_rng(1).normal(size=(400, 1)).cumsum(axis=0) + 50
    ours = ind.ema(x, 12)
    assert np.isnan(ours[length - 2, 0]) and np.isfinite(ours[length - 1, 0])
    reference = pd.Series(x[:, 0]).ewm(span=12, adjust=True).mean().to_numpy()
    # the truncated tail carries under 0.1% of the weight
    np.testing.assert_allclose(ours[length:, 0], reference[length:], rtol=2e-3)
    const = ind.ema(np.full((200, 1), 7.0), 26)
    np.testing.assert_allclose(const[ind.ema_length(26) - 1 :, 0], 7.0, rtol=1e-12)


def test_rolling_mean_and_std_match_numpy() -> None:
    x = np.random.default_rng(2).normal(size=(50, 2))
    mean, std = ind.rolling_mean(x, 5), ind.rolling_std(x, 5)
    for t in range(4, 50):
        np.testing.assert_allclose(mean[t], x[t - 4 : t + 1].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(std[t], x[t - 4 : t + 1].std(axis=0), rtol=1e-10)
    assert np.isnan(mean[:4]).all() and np.isnan(std[:4]).all()


def test_rsi_extremes() -> None:
    n = 200
    up = ind.rsi(col(np.linspace(100, 200, n)))
    down = ind.rsi(col(np.linspace(200, 100, n)))
    flat = ind.rsi(col(np.full(n, 100.0)))
    w = up.warmup
    assert np.isnan(up.values[w - 1, 0])
    np.testing.assert_allclose(up.values[w:, 0], 100.0)
    np.testing.assert_allclose(down.values[w:, 0], 0.0)
    np.testing.assert_allclose(flat.values[w:, 0], 50.0)
    zigzag = ind.rsi(col(100 + np.tile([0.0, 1.0], n // 2)))
    # equal average gains and losses -> about 50 (exactly 50 up to the alternating weights)
    assert np.all(np.abs(zigzag.values[w:, 0] - 50.0) < 5.0)


def test_bollinger_width_by_hand() -> None:
    close = col(np.arange(1.0, 41.0))
    out = ind.bollinger_width(close, 20, 2.0)
    window = np.arange(21.0, 41.0)
    assert out.warmup == 19
    np.testing.assert_allclose(out.values[-1, 0], 4 * window.std() / window.mean())


def test_cci_by_hand() -> None:
    rng = np.random.default_rng(3)
    close = col(rng.uniform(90, 110, 30))
    high, low = close + 1, close - 2
    out = ind.cci(high, low, close, 20)
    tp = ((high + low + close) / 3)[-20:, 0]
    expected = (tp[-1] - tp.mean()) / (0.015 * np.abs(tp - tp.mean()).mean())
    np.testing.assert_allclose(out.values[-1, 0], expected, rtol=1e-10)
    flat = ind.cci(col(np.full(30, 5.0)), col(np.full(30, 5.0)), col(np.full(30, 5.0)))
    np.testing.assert_array_equal(flat.values[19:, 0], 0.0)


def test_adx_trend_and_bounds() -> None:
    n = 400
    close = col(np.linspace(100, 300, n))
    out = ind.adx(close + 1, close - 1, close, 14)
    w = out["adx"].warmup
    assert np.isnan(out["adx"].values[w - 1, 0]) and np.isfinite(out["adx"].values[w:, 0]).all()
    assert (out["plus_di"].values[w:, 0] > out["minus_di"].values[w:, 0]).all()
    assert (out["adx"].values[w:, 0] > 90).all()  # a steady one-way trend has ADX near 100
    rng = np.random.default_rng(4)
    noisy = col(100 * np.exp(rng.normal(0, 0.01, n).cumsum()))
    val = ind.adx(noisy * 1.01, noisy * 0.99, noisy)["adx"].values[w:, 0]
    assert ((val >= 0) & (val <= 100)).all()


def test_stochastic_k_by_hand() -> None:
    high = col([5, 6, 7, 8, 9.0])
    low = col([1, 2, 3, 4, 5.0])
    close = col([2, 3, 4, 5, 6.0])
    out = ind.stochastic_k(high, low, close, 3)
    # last window: highs 7..9, lows 3..5 -> (6 - 3) / (9 - 3)
    np.testing.assert_allclose(out.values[-1, 0], 50.0)
    np.testing.assert_allclose(out.values[2, 0], 100 * (4 - 1) / (7 - 1))


def test_volume_zscore_flat_window_is_zero() -> None:
    out = ind.volume_zscore(col(np.full(40, 3.0)), 20)
    np.testing.assert_array_equal(out.values[19:, 0], 0.0)
    v = col(np.r_[np.full(39, 1.0), 100.0])
    spike = ind.volume_zscore(v, 20).values[-1, 0]
    lv = np.log1p(v[-20:, 0])
    np.testing.assert_allclose(spike, (lv[-1] - lv.mean()) / lv.std())


@pytest.mark.parametrize("period", [5, 14, 30])
def test_wilder_length_grows_with_period(period: int) -> None:
    assert ind.wilder_length(period) > period
