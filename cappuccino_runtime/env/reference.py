"""The oracle: a straightforward per-step, single-episode NumPy implementation of the env.

It re-implements, independently of the torch code and without any precomputation, exactly the
rules of docs/env.md: the benchmark-relative action mapping, the no-trade band and partial
rebalancing, fill at the next open with slippage, fee
in the received asset on buys and in cash on sells, sells before buys, buys scaled to the cash,
orders below the minimum notional skipped, value marked at the close, the state layout of
state.py. Tests check that VecTradingEnv matches it step by step; the env-throughput benchmark
uses it as the baseline. It is written to be read, not to be fast; do not use it for training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cappuccino_runtime.env.actions import FLOOR
from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.state import PRICE_CLIP

__all__ = ["ReferenceTradingEnv", "reference_state"]


def reference_state(
    features: np.ndarray,
    close: np.ndarray,
    t: int,
    lookback: int,
    cash: float,
    holdings: np.ndarray,
    price_scale: float = 1.0,
) -> np.ndarray:
    """The state at decision bar t, read from bars t-lookback+1..t only (float32 [state_dim])."""
    window = slice(t - lookback + 1, t + 1)
    price = close[t]
    position = holdings * price
    value = max(cash + position.sum(), 1e-12)
    lags = np.sqrt(np.arange(lookback - 1, 0, -1, dtype=np.float64))[:, None]
    ratios = np.clip(
        np.log(close[window][:-1] / price) / (lags * price_scale), -PRICE_CLIP, PRICE_CLIP
    )
    return np.concatenate(
        [
            np.array([cash / value]),
            position / value,
            ratios.reshape(-1),
            features[window].reshape(-1),
        ]
    ).astype(np.float32)


class ReferenceTradingEnv:
    """One episode at a time, one step at a time, in float64 NumPy."""

    def __init__(
        self, open: np.ndarray, close: np.ndarray, features: np.ndarray, config: EnvConfig
    ) -> None:
        self.open = np.asarray(open, dtype=np.float64)
        self.close = np.asarray(close, dtype=np.float64)
        self.features = np.asarray(features, dtype=np.float32)
        self.config = config

    def reset(self, start: int) -> np.ndarray:
        """Starts an episode with all cash at decision bar `start`; returns its first state."""
        cfg = self.config
        if not cfg.lookback - 1 <= start <= len(self.close) - 1 - cfg.episode_length:
            raise ValueError(f"start={start} leaves no room for the lookback or the episode.")
        self.t = start
        self.steps = 0
        self.cash = cfg.initial_cash
        self.holdings = np.zeros(self.close.shape[1])
        self.value = cfg.initial_cash
        self.total_fees = 0.0
        self.bh_holdings: np.ndarray | None = None
        self.bh_value = cfg.initial_cash
        return self._state()

    def _state(self) -> np.ndarray:
        cfg = self.config
        return reference_state(
            self.features,
            self.close,
            self.t,
            cfg.lookback,
            self.cash,
            self.holdings,
        )

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        """Fills at the next open; returns (state, reward, truncated, info). No autoreset."""
        cfg = self.config
        slip, fee, minimum = cfg.slippage, cfg.fee_rate, cfg.min_order_notional
        n = len(self.holdings)
        marked = self.holdings * self.close[self.t]
        current = marked / max(self.cash + marked.sum(), 1e-12)
        ref = current + max(1.0 - current.sum(), 0.0) / n
        logits = np.append(
            np.log(ref + FLOOR) + np.asarray(action, dtype=np.float64), np.log(FLOOR)
        )
        exp = np.exp(logits - logits.max())
        weights = (exp / exp.sum())[:-1]

        price = self.open[self.t + 1]
        position = self.holdings * price
        value_at_open = self.cash + position.sum()
        delta = weights * value_at_open - position
        delta = np.where(np.abs(delta) > value_at_open * cfg.no_trade_band, delta, 0.0)
        delta = delta * cfg.rebalance_fraction

        # Sells first: they raise the cash the buys spend.
        sell_units = np.minimum(np.maximum(-delta, 0.0) / price, self.holdings)
        sell_notional = sell_units * (price * (1.0 - slip))
        sold = (sell_notional >= minimum) & (sell_notional > 0.0)
        sell_units = np.where(sold, sell_units, 0.0)
        sell_notional = np.where(sold, sell_notional, 0.0)
        sell_fees = sell_notional * fee
        cash = self.cash + (sell_notional - sell_fees).sum()

        # Buys: scaled down together if they want more than the cash; fee in the asset.
        wanted = np.maximum(delta, 0.0)
        wanted = np.where(wanted >= minimum, wanted, 0.0)
        total = wanted.sum()
        available = max(cash, 0.0)
        buy_notional = wanted * (available / total if total > available else 1.0)
        bought = (buy_notional >= minimum) & (buy_notional > 0.0)
        buy_notional = np.where(bought, buy_notional, 0.0)
        buy_fees = buy_notional * fee
        buy_units = (buy_notional - buy_fees) / (price * (1.0 + slip))

        self.cash = cash - buy_notional.sum()
        self.holdings = self.holdings - sell_units + buy_units
        self.t += 1
        self.steps += 1
        value = self.cash + (self.holdings * self.close[self.t]).sum()
        growth = value / self.value
        reward = growth - 1.0 if cfg.reward == "simple_return" else np.log(growth)
        if cfg.reward == "excess_log_return":
            if self.bh_holdings is None:  # equal parts at the first fill, as buy_and_hold_equity
                per = cfg.initial_cash / n if cfg.initial_cash / n >= minimum else 0.0
                self.bh_holdings = np.full(n, per * (1 - fee)) / (price * (1 + slip))
                self.bh_cash = cfg.initial_cash - per * n
            bh_value = self.bh_cash + (self.bh_holdings * self.close[self.t]).sum()
            reward -= np.log(bh_value / self.bh_value)
            self.bh_value = bh_value
        turnover = (buy_notional.sum() + sell_notional.sum()) / self.value
        reward = (reward - cfg.turnover_penalty * turnover) * cfg.reward_scale
        self.value = value
        fees = sell_fees.sum() + buy_fees.sum()
        self.total_fees += fees
        info = {
            "value": value,
            "cash": self.cash,
            "holdings": self.holdings.copy(),
            "fees": fees,
            "total_fees": self.total_fees,
            "trades": int(sold.sum() + bought.sum()),
            "turnover": turnover,
            "buy_notional": buy_notional,
            "sell_notional": sell_notional,
            "weights": weights,
        }
        return self._state(), float(reward), self.steps >= cfg.episode_length, info
