"""Technical indicators over `[T, A]` float64 arrays, each a pure function of past bars only.

Every indicator here has a FINITE support: its value at bar t is computed from bars
t-W+1..t for a fixed W (its warmup), with the same floating-point operations whatever comes
before or after. So values do not depend on where the series starts (the live trader, given W
bars of history, reproduces the backtest bit for bit) nor on any later bar (causality).

Exponential averages (EMA, Wilder smoothing) are therefore truncated: the weights
(1-alpha)^k are cut at the first lag k where the remaining tail weight is below 0.1% and
renormalised to sum to 1. Rows before the warmup are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "EMA_TAIL",
    "Series",
    "adx",
    "atr",
    "bollinger_width",
    "cci",
    "ema",
    "ema_length",
    "high_low_range",
    "log_return",
    "macd",
    "rolling_mean",
    "rolling_std",
    "rsi",
    "stochastic_k",
    "volatility",
    "volume_zscore",
    "wilder",
    "wilder_length",
]

EMA_TAIL = 1e-3
"""Truncated EMAs drop the lags whose total weight is below this fraction."""


@dataclass(frozen=True)
class Series:
    """An indicator's values `[T, A]` and its warmup W: rows < W are NaN, rows >= W are valid,
    and the value at row t depends on bars t-W..t only."""

    values: np.ndarray
    warmup: int


def _ema_weights(alpha: float) -> np.ndarray:
    length = max(1, math.ceil(math.log(EMA_TAIL) / math.log(1.0 - alpha)))
    weights = (1.0 - alpha) ** np.arange(length)
    return weights / weights.sum()


def ema_length(span: int) -> int:
    """Support of the truncated EMA with alpha = 2/(span+1)."""
    return len(_ema_weights(2.0 / (span + 1)))


def wilder_length(period: int) -> int:
    """Support of truncated Wilder smoothing (alpha = 1/period)."""
    return len(_ema_weights(1.0 / period))


def _lag_sum(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """out[t] = sum_k weights[k] * x[t-k] for t >= len(weights)-1, NaN before.

    A loop over lags (not a cumulative sum) keeps each value's arithmetic identical no matter
    how long the series is, which is what makes features start- and future-independent.
    """
    n, length = len(x), len(weights)
    out = np.full(x.shape, np.nan)
    if n < length:
        return out
    acc = np.zeros((n - length + 1, *x.shape[1:]))
    for k, w in enumerate(weights):
        acc += w * x[length - 1 - k : n - k]
    out[length - 1 :] = acc
    return out


def ema(x: np.ndarray, span: int) -> np.ndarray:
    """Truncated exponential moving average with alpha = 2/(span+1)."""
    return _lag_sum(x, _ema_weights(2.0 / (span + 1)))


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    """Truncated Wilder smoothing (alpha = 1/period), as used by RSI, ATR and ADX."""
    return _lag_sum(x, _ema_weights(1.0 / period))


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average over the last `window` bars."""
    return _lag_sum(x, np.full(window, 1.0 / window))


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation over the last `window` bars (two-pass, per window)."""
    mean = rolling_mean(x, window)
    acc = np.zeros_like(x)
    for k in range(window):
        acc += (_lagged(x, k) - mean) ** 2
    return np.sqrt(acc / window)


def _diff(x: np.ndarray, lag: int = 1) -> np.ndarray:
    return x - _lagged(x, lag)


def _lagged(x: np.ndarray, lag: int = 1) -> np.ndarray:
    if lag == 0:
        return x
    out = np.full_like(x, np.nan)
    out[lag:] = x[:-lag]
    return out


def _safe_ratio(
    num: np.ndarray, den: np.ndarray, when_zero: float, tol: np.ndarray | float = 0.0
) -> np.ndarray:
    """num / den, but `when_zero` where |den| <= tol (a flat window), NaN kept where num is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
        flat = np.abs(den) <= tol
    return np.where(flat & np.isfinite(num), when_zero, out)


def log_return(close: np.ndarray, lag: int = 1) -> Series:
    """log(close_t / close_{t-lag})."""
    out = np.full_like(close, np.nan)
    out[lag:] = np.log(close[lag:] / close[:-lag])
    return Series(out, lag)


def rsi(close: np.ndarray, period: int = 14) -> Series:
    """Relative Strength Index (Wilder), 0..100; 50 when the window had no price change."""
    change = _diff(close)
    gain = wilder(np.where(change > 0, change, 0.0), period)
    loss = wilder(np.where(change < 0, -change, 0.0), period)
    gain[: wilder_length(period)] = np.nan  # the first change needs one extra bar
    value = _safe_ratio(100.0 * gain, gain + loss, 50.0)
    return Series(value, wilder_length(period))


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> dict[str, Series]:
    """MACD line, signal and histogram, divided by close so they are comparable across prices."""
    line = (ema(close, fast) - ema(close, slow)) / close
    warm = max(ema_length(fast), ema_length(slow)) - 1
    sig = ema(line, signal)
    warm_sig = warm + ema_length(signal) - 1
    return {
        "macd": Series(line, warm),
        "macd_signal": Series(sig, warm_sig),
        "macd_hist": Series(line - sig, warm_sig),
    }


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 20) -> Series:
    """Commodity Channel Index: (tp - SMA(tp)) / (0.015 * mean absolute deviation); 0 if flat."""
    typical = (high + low + close) / 3.0
    mean = rolling_mean(typical, period)
    acc = np.zeros_like(typical)
    for k in range(period):
        acc += np.abs(_lagged(typical, k) - mean)
    mad = acc / period
    value = _safe_ratio(typical - mean, 0.015 * mad, 0.0, tol=1e-12 * np.abs(mean))
    return Series(value, period - 1)


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = _lagged(close)
    return np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> Series:
    """Average true range (Wilder) divided by close."""
    value = wilder(_true_range(high, low, close), period) / close
    value[: wilder_length(period)] = np.nan
    return Series(value, wilder_length(period))


def adx(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14
) -> dict[str, Series]:
    """Average Directional Index and the +DI/-DI lines (Wilder), 0..100."""
    up, down = _diff(high), -_diff(low)
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    length = wilder_length(period)
    tr = wilder(_true_range(high, low, close), period)
    plus_di = _safe_ratio(100.0 * wilder(plus_dm, period), tr, 0.0)
    minus_di = _safe_ratio(100.0 * wilder(minus_dm, period), tr, 0.0)
    for di in (plus_di, minus_di):
        di[:length] = np.nan
    dx = _safe_ratio(100.0 * np.abs(plus_di - minus_di), plus_di + minus_di, 0.0)
    dx[:length] = np.nan
    di_warm = length
    smoothed = wilder(np.nan_to_num(dx, nan=0.0), period)
    smoothed[: di_warm + length - 1] = np.nan
    return {
        "adx": Series(smoothed, di_warm + length - 1),
        "plus_di": Series(plus_di, di_warm),
        "minus_di": Series(minus_di, di_warm),
    }


def bollinger_width(close: np.ndarray, period: int = 20, width: float = 2.0) -> Series:
    """(upper - lower) / middle band = 2 * width * std / SMA."""
    value = 2.0 * width * rolling_std(close, period) / rolling_mean(close, period)
    return Series(value, period - 1)


def volume_zscore(volume: np.ndarray, period: int = 20) -> Series:
    """z-score of log(1 + volume) over the window; 0 when the window is constant."""
    lv = np.log1p(volume)
    mean = rolling_mean(lv, period)
    tol = 1e-9 * np.fmax(np.abs(mean), 1.0)
    value = _safe_ratio(lv - mean, rolling_std(lv, period), 0.0, tol=tol)
    return Series(value, period - 1)


def stochastic_k(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> Series:
    """%K: where close sits in the window's high-low range, 0..100; 50 when the range is 0."""
    out_hi = np.full_like(close, np.nan)
    out_lo = np.full_like(close, np.nan)
    if len(close) >= period:
        out_hi[period - 1 :] = sliding_window_view(high, period, axis=0).max(axis=-1)
        out_lo[period - 1 :] = sliding_window_view(low, period, axis=0).min(axis=-1)
    return Series(_safe_ratio(100.0 * (close - out_lo), out_hi - out_lo, 50.0), period - 1)


def volatility(close: np.ndarray, period: int = 24) -> Series:
    """Standard deviation of 1-bar log returns over the window."""
    returns = log_return(close).values
    return Series(rolling_std(returns, period), period)


def high_low_range(high: np.ndarray, low: np.ndarray) -> Series:
    """log(high / low) of the bar itself."""
    return Series(np.log(high / low), 0)
