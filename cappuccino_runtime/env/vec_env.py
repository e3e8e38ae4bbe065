"""VecTradingEnv: B parallel trading episodes over one market, stepped together in torch.

Each env b trades the same bars from its own start offset. Its decision bar t starts at the
episode's start s_b; step(action) fills at bar t+1's open (see execution.py), marks the new
portfolio at bar t+1's close, pays the reward and moves the decision bar to t+1. After
`episode_length` steps the episode is truncated (a time limit, never a terminal state: long-only
portfolios cannot go bankrupt, so `terminated` is always False and PPO should bootstrap from
`info["final_obs"]`). With autoreset on, truncated envs restart at once from new random starts
and `obs` holds their first states.

The B episodes run in lockstep: they start together (at different bars) and have the same
length, so they are truncated together and one host-side step counter serves them all. No
Python loop runs over B or over assets, and a step never reads device memory back to the host
(no GPU sync). Starts are drawn from a CPU generator, so one seed gives the same episodes on CPU
and CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.execution import execute, rebalance
from cappuccino_runtime.env.market import MarketTensors, TensorLike
from cappuccino_runtime.env.state import portfolio_columns, portfolio_state, state_dim
from cappuccino_runtime.settings import pick_device

__all__ = ["VecTradingEnv"]


class VecTradingEnv:
    """B parallel episodes; obs [B, obs_dim] float32, actions [B, A] raw actor outputs.

    Args:
        open, close: bar prices [T, A] (float64 is used for the accounting).
        features: normalised features [T, A, F].
        config: market rules and episode length.
        num_envs: B.
        device: "auto" (cuda when visible), "cpu", "cuda" or a torch.device.
        seed: seeds the CPU generator that draws episode starts.
        valid_starts: bars an episode may start at (e.g. only inside training groups); by default
            every bar from lookback-1 to T-1-episode_length.
        autoreset: restart truncated envs inside step(); when False, step() after a truncation
            raises until reset() is called.
        price_scale: train-fitted std of one-bar log returns (see state.py).
        tradable: bool [T, A]; False where a bar cannot be filled (forward-filled outage bars).
    """

    def __init__(
        self,
        open: TensorLike,
        close: TensorLike,
        features: TensorLike,
        config: EnvConfig,
        num_envs: int = 1,
        device: str | torch.device = "auto",
        seed: int = 0,
        valid_starts: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        autoreset: bool = True,
        price_scale: float = 1.0,
        tradable: TensorLike | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}.")
        self.config = config
        self.num_envs = num_envs
        self.autoreset = autoreset
        self.device = torch.device(pick_device(device) if isinstance(device, str) else device)
        self.market = MarketTensors(
            open,
            close,
            features,
            config.lookback,
            self.device,
            price_scale=price_scale,
            tradable=tradable,
        )
        self.n_bars = self.market.n_bars
        self.first_start = config.lookback - 1
        self.last_start = self.n_bars - 1 - config.episode_length
        if self.last_start < self.first_start:
            raise ValueError(
                f"episode_length={config.episode_length} with lookback={config.lookback} needs at "
                f"least {config.episode_length + config.lookback} bars, but the data has "
                f"{self.n_bars}."
            )
        if valid_starts is None:
            self.valid_starts = torch.arange(self.first_start, self.last_start + 1)
        else:
            self.valid_starts = self._check_starts(valid_starts, "valid_starts")
            if self.valid_starts.numel() == 0:
                raise ValueError("valid_starts is empty; give at least one start bar.")
        self._generator = torch.Generator().manual_seed(seed)
        self._false = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._true = torch.ones(num_envs, dtype=torch.bool, device=self.device)
        self._steps = 0  # steps taken in the current episodes (the same for every env)
        self._needs_reset = True

    @property
    def obs_dim(self) -> int:
        """Length of one state row (see state.py for the layout)."""
        return state_dim(self.market.n_assets, self.market.n_features, self.config.lookback)

    @property
    def t(self) -> torch.Tensor:
        """Decision bar of each env's current state [B] (int64, on the env's device)."""
        if not hasattr(self, "_t"):
            raise RuntimeError("the env has no state before reset(); call reset() first.")
        return self._t

    @property
    def action_dim(self) -> int:
        """One raw action per asset (see actions.py for the mapping to weights)."""
        return self.market.n_assets

    def _check_starts(
        self, starts: Sequence[int] | np.ndarray | torch.Tensor, name: str
    ) -> torch.Tensor:
        cpu = torch.as_tensor(starts).to("cpu", torch.int64).flatten()
        bad = cpu[(cpu < self.first_start) | (cpu > self.last_start)]
        if bad.numel():
            raise ValueError(
                f"{name} holds bar {int(bad[0])}, outside {self.first_start}..{self.last_start}: "
                f"an episode needs lookback-1={self.first_start} bars before its start and "
                f"episode_length={self.config.episode_length} bars after it."
            )
        return cpu

    def _draw_starts(self, n: int) -> torch.Tensor:
        idx = torch.randint(len(self.valid_starts), (n,), generator=self._generator)
        return self.valid_starts[idx]

    def _observe(self) -> torch.Tensor:
        close = self.market.close.index_select(0, self._t)
        book = portfolio_state(self._cash, self._holdings, close)
        self._weights = book[:, 1:]
        return self.market.observe(self._t, book)

    def reset(
        self,
        starts: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Starts B fresh episodes (cash only) and returns their first states [B, obs_dim].

        Args:
            starts: start bar per env [B]; drawn from valid_starts when None.
            generator: a CPU torch.Generator that draws starts from now on (this reset and
                later autoresets); the env's own seeded generator when None.
        """
        if generator is not None:
            self._generator = generator
        if starts is None:
            return self._start(self._draw_starts(self.num_envs))
        start_cpu = self._check_starts(starts, "starts")
        if start_cpu.numel() != self.num_envs:
            raise ValueError(
                f"starts has {start_cpu.numel()} entries but the env runs "
                f"num_envs={self.num_envs} episodes."
            )
        return self._start(start_cpu)

    def _start(self, start_cpu: torch.Tensor) -> torch.Tensor:
        """Puts every env at its start bar with cash only; returns the first states."""
        B, A = self.num_envs, self.market.n_assets
        self._t = start_cpu.to(self.device)
        self._cash = torch.full(
            (B,), self.config.initial_cash, dtype=torch.float64, device=self.device
        )
        # Per-asset state is stored asset by asset ([A, B] in memory, used as [B, A] views):
        # sums over the assets then add B-long rows instead of reducing 4-wide rows, ~20% faster
        # on CPU. action_to_weights returns this layout too; values are the same either way.
        self._holdings = torch.zeros((A, B), dtype=torch.float64, device=self.device).T
        self._value = self._cash.clone()
        self._total_fees = torch.zeros((B,), dtype=torch.float64, device=self.device)
        # The episode's equal-weight buy-and-hold book (the excess reward's benchmark).
        self._bh_cash = self._cash.clone()
        self._bh_holdings = torch.zeros((B, A), dtype=torch.float64, device=self.device)
        self._bh_value = self._cash.clone()
        self._steps = 0
        self._needs_reset = False
        return self._observe()

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Fills every env's order at the next open and returns (obs, reward, terminated,
        truncated, info); all tensors have B rows.

        info: value, cash, holdings (after the fill, marked at the next close), fees, trades and
        turnover (traded notional / value) of this step, total_fees of the episode,
        buy_notional, sell_notional, weights (target), t (bar of the new state) and final_obs
        (the state before any autoreset). `terminated`
        (always False) and `truncated` (all False, or all True at the time limit) are shared
        constant tensors: read them, do not modify them in place.
        """
        if self._needs_reset:
            raise RuntimeError(
                "step() was called before reset() or after the episodes were truncated with "
                "autoreset=False; call reset() first."
            )
        if tuple(action.shape) != (self.num_envs, self.action_dim):
            raise ValueError(
                f"action must have shape ({self.num_envs}, {self.action_dim}), got "
                f"{tuple(action.shape)}."
            )
        cfg = self.config
        # No autograd anywhere below: the action is detached and the market holds no history.
        weights = action_to_weights(action.detach().to(self.device), self._weights, torch.float64)
        t_next = self._t + 1
        # open and close of bar t+1, [2, A, B] in memory, used as two [B, A] views
        prices = self.market.prices.index_select(0, t_next).permute(1, 2, 0).contiguous()
        open_next, close_next = prices[0].T, prices[1].T
        fill = execute(
            cfg,
            self._cash,
            self._holdings,
            weights,
            open_next,
            tradable=self.market.tradable_at(t_next),
        )
        position = fill.holdings * close_next
        value = fill.cash + position.sum(dim=1)
        growth = value / self._value
        reward = torch.log(growth) if cfg.reward != "simple_return" else growth - 1.0
        if cfg.reward == "excess_log_return":
            reward = reward - self._benchmark_log_growth(open_next, close_next)
        turnover = (fill.buy_notional.sum(dim=1) + fill.sell_notional.sum(dim=1)) / self._value
        if cfg.turnover_penalty > 0.0:
            reward = reward - cfg.turnover_penalty * turnover
        if cfg.reward_scale != 1.0:
            reward = reward * cfg.reward_scale
        total_fees = self._total_fees + fill.fees

        self._t, self._cash, self._holdings = t_next, fill.cash, fill.holdings
        self._value, self._total_fees = value, total_fees
        self._weights = position / value.clamp_min(1e-12).unsqueeze(1)
        self._steps += 1
        book = portfolio_columns(fill.cash, position, value)
        obs = self.market.observe(t_next, book)  # == build_state on the windows ending at t+1
        info = {
            "value": value,
            "cash": fill.cash,
            "holdings": fill.holdings,
            "fees": fill.fees,
            "total_fees": total_fees,
            "trades": fill.trades,
            "turnover": turnover,
            "buy_notional": fill.buy_notional,
            "sell_notional": fill.sell_notional,
            "weights": weights,
            "t": t_next,
            "final_obs": obs,
        }
        if self._steps < cfg.episode_length:
            return obs, reward, self._false, self._false, info
        if self.autoreset:
            obs = self._start(self._draw_starts(self.num_envs))
        else:
            self._needs_reset = True
        return obs, reward, self._false, self._true, info

    def _benchmark_log_growth(
        self, open_next: torch.Tensor, close_next: torch.Tensor
    ) -> torch.Tensor:
        """log growth over this step of the episode's equal-weight buy-and-hold book: it buys
        equal parts at the first fill (buy_and_hold_equity's entry, same fees), then holds."""
        if self._steps == 0:
            n = self.market.n_assets
            equal = torch.full_like(open_next, 1.0 / n)
            cfg = self.config
            entry = rebalance(
                self._bh_cash,
                self._bh_holdings,
                equal,
                open_next,
                cfg.fee_rate,
                cfg.slippage,
                cfg.min_order_notional,
            )
            self._bh_cash, self._bh_holdings = entry.cash, entry.holdings
        bh_value = self._bh_cash + (self._bh_holdings * close_next).sum(dim=1)
        growth = torch.log(bh_value / self._bh_value)
        self._bh_value = bh_value
        return growth
