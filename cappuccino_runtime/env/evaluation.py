"""Equity curves of a policy and of buy-and-hold over contiguous test segments.

A segment (start, stop) is the half-open bar range start..stop-1, run as one contiguous episode
with the env's execution convention: the portfolio starts as cash at bar `start`'s close,
decides on every close from `start` to `stop-2` and fills at the next open. Its equity curve has
stop - start points, marked at the closes of bars start..stop-1 (point 0 is initial_cash), so a
policy curve and the buy-and-hold curve of one segment line up bar for bar. The state at `start`
reads the lookback window before it (features of past bars only), so start >= lookback - 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.execution import execute, rebalance
from cappuccino_runtime.env.market import MarketTensors, TensorLike
from cappuccino_runtime.env.state import portfolio_state
from cappuccino_runtime.settings import pick_device

__all__ = ["PolicyRun", "buy_and_hold_equity", "run_policy"]


@dataclass(frozen=True)
class PolicyRun:
    """What a policy did over each segment (one entry per segment, in segment order)."""

    curves: list[np.ndarray]
    """equity curves, float64, length stop - start"""
    fees: np.ndarray
    """fees paid per segment, in quote"""
    turnover: np.ndarray
    """sum over bars of traded notional / book value (1.0 = the whole book traded once)"""
    exposure: np.ndarray
    """mean invested fraction (1 - cash weight) after each fill"""
    trades: np.ndarray
    """filled orders per segment (int)"""


Policy = Callable[[torch.Tensor], torch.Tensor]


def _check_segments(segments: Sequence[tuple[int, int]], n_bars: int, lookback: int) -> None:
    if not segments:
        raise ValueError("segments is empty; give at least one (start, stop) bar range.")
    for start, stop in segments:
        if start < lookback - 1 or stop > n_bars or stop - start < 2:
            raise ValueError(
                f"segment ({start}, {stop}) is not usable: it needs start >= lookback-1="
                f"{lookback - 1}, stop <= {n_bars} bars and at least 2 bars."
            )


@torch.no_grad()
def run_policy(
    policy: Policy,
    open: TensorLike,
    close: TensorLike,
    features: TensorLike,
    config: EnvConfig,
    segments: Sequence[tuple[int, int]],
    device: str | torch.device = "auto",
    *,
    price_scale: float = 1.0,
    tradable: TensorLike | None = None,
) -> PolicyRun:
    """Runs `policy` over every segment at once (one batch row per segment).

    Args:
        policy: maps states [B, obs_dim] (float32, on `device`) to raw actions [B, A], e.g. a
            deterministic Actor in eval mode.
        open, close, features: the market, as for VecTradingEnv.
        config: market rules (episode_length is ignored: each segment is its own length).
        segments: (start, stop) half-open bar ranges, e.g. the CPCV test segments.
        device: where to run; the policy must live there too.
        price_scale, tradable: as for VecTradingEnv.

    Returns:
        Equity curves, fees, turnover, exposure and trades per segment.
    """
    dev = torch.device(pick_device(device) if isinstance(device, str) else device)
    market = MarketTensors(
        open, close, features, config.lookback, dev, price_scale=price_scale, tradable=tradable
    )
    _check_segments(segments, market.n_bars, config.lookback)
    B = len(segments)
    n_steps = np.array([stop - start - 1 for start, stop in segments], dtype=np.int64)
    t = torch.tensor([start for start, _ in segments], dtype=torch.int64, device=dev)
    last_decision = torch.tensor([stop - 2 for _, stop in segments], device=dev)
    cash = torch.full((B,), config.initial_cash, dtype=torch.float64, device=dev)
    holdings = torch.zeros((B, market.n_assets), dtype=torch.float64, device=dev)
    equity = torch.empty((B, int(n_steps.max()) + 1), dtype=torch.float64, device=dev)
    equity[:, 0] = config.initial_cash
    fees, turnover, exposure = (torch.zeros(B, dtype=torch.float64, device=dev) for _ in range(3))
    trades = torch.zeros(B, dtype=torch.int64, device=dev)
    for k in range(int(n_steps.max())):
        t = torch.minimum(t, last_decision)  # finished segments stay parked on their last bar
        book = portfolio_state(cash, holdings, market.close.index_select(0, t))
        action = policy(market.observe(t, book))
        if tuple(action.shape) != (B, market.n_assets):
            raise ValueError(
                f"policy returned shape {tuple(action.shape)}, expected ({B}, {market.n_assets})."
            )
        value_before = cash + (holdings * market.close.index_select(0, t)).sum(dim=1)
        fill = execute(
            config,
            cash,
            holdings,
            action_to_weights(action, book[:, 1:], torch.float64),
            market.open.index_select(0, t + 1),
            tradable=market.tradable_at(t + 1),
        )
        active = torch.from_numpy(n_steps > k).to(dev)
        cash = torch.where(active, fill.cash, cash)
        holdings = torch.where(active.unsqueeze(1), fill.holdings, holdings)
        t = t + 1
        marked = holdings * market.close.index_select(0, t)
        value = cash + marked.sum(dim=1)
        equity[:, k + 1] = value
        traded = fill.buy_notional.sum(dim=1) + fill.sell_notional.sum(dim=1)
        fees += torch.where(active, fill.fees, 0.0)
        turnover += torch.where(active, traded / value_before, 0.0)
        exposure += torch.where(active, marked.sum(dim=1) / value, 0.0)
        trades += torch.where(active, fill.trades, 0)
    curves = equity.cpu().numpy()
    return PolicyRun(
        curves=[curves[b, : n_steps[b] + 1].copy() for b in range(B)],
        fees=fees.cpu().numpy(),
        turnover=turnover.cpu().numpy(),
        exposure=(exposure.cpu().numpy() / n_steps),
        trades=trades.cpu().numpy(),
    )


def buy_and_hold_equity(
    open: TensorLike, close: TensorLike, start: int, stop: int, config: EnvConfig
) -> np.ndarray:
    """Equal-weight buy-and-hold over bars start..stop-1, net of its entry fee and slippage.

    All cash is put in equal parts into every asset by one rebalance at bar start+1's open (the
    same fill rule as the env: fee taken in the received asset), then held. Point 0 is
    initial_cash at bar start's close; point k is the holding marked at bar start+k's close.
    """
    o = torch.as_tensor(open, dtype=torch.float64)
    c = torch.as_tensor(close, dtype=torch.float64)
    if o.ndim != 2 or o.shape != c.shape:
        raise ValueError(
            f"open and close must both be [T, A]; got {tuple(o.shape)} and {tuple(c.shape)}."
        )
    _check_segments([(start, stop)], c.shape[0], 1)
    n_assets = c.shape[1]
    fill = rebalance(
        torch.tensor([config.initial_cash], dtype=torch.float64),
        torch.zeros((1, n_assets), dtype=torch.float64),
        torch.full((1, n_assets), 1.0 / n_assets, dtype=torch.float64),
        o[start + 1].unsqueeze(0),
        config.fee_rate,
        config.slippage,
        config.min_order_notional,
    )
    marked = fill.cash + (fill.holdings * c[start + 1 : stop]).sum(dim=1)
    return np.concatenate([[config.initial_cash], marked.numpy()])
