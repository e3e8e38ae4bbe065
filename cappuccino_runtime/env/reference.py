"""The oracle: a straightforward per-step, single-episode NumPy implementation of the env.

It re-implements, independently of the torch code and without any precomputation, exactly the
rules of docs/env.md: softmax-with-cash action mapping, fill at the next open with slippage, fee
in the received asset on buys and in cash on sells, sells before buys, buys scaled to the cash,
orders below the minimum notional skipped, value marked at the close, the state layout of
state.py. Tests check that VecTradingEnv matches it step by step; the env-throughput benchmark
uses it as the baseline. It is written to be read, not to be fast; do not use it for training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cappuccino_runtime.env.config import EnvConfig

__all__ = ["ReferenceTradingEnv", "reference_state"]


def reference_state(
    features: np.ndarray,
    close: np.ndarray,
    t: int,
    lookback: int,
    cash: float,
    holdings: np.ndarray,
    initial_cash: float,
) -> np.ndarray:
    """The state at decision bar t, read from bars t-lookback+1..t only (float32 [state_dim])."""
    window = slice(t - lookback + 1, t + 1)
    price = close[t]
    position = holdings * price
    value = max(cash + position.sum(), 1e-12)
    return np.concatenate(
        [
            np.array([cash / value, np.log(value / initial_cash)]),
            position / value,
            np.log(close[window][:-1] / price).reshape(-1),
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
            cfg.initial_cash,
        )

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        """Fills at the next open; returns (state, reward, truncated, info). No autoreset."""
        cfg = self.config
        slip, fee, minimum = cfg.slippage, cfg.fee_rate, cfg.min_order_notional
        logits = np.append(np.asarray(action, dtype=np.float64), 0.0)
        exp = np.exp(logits - logits.max())
        weights = (exp / exp.sum())[:-1]

        price = self.open[self.t + 1]
        position = self.holdings * price
        value_at_open = self.cash + position.sum()
        delta = weights * value_at_open - position

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
        reward = (np.log(growth) if cfg.reward == "log_return" else growth - 1.0) * cfg.reward_scale
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
            "buy_notional": buy_notional,
            "sell_notional": sell_notional,
            "weights": weights,
        }
        return self._state(), float(reward), self.steps >= cfg.episode_length, info
