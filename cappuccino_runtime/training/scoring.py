"""Sharpe of the agent and of equal-weight buy-and-hold over a split's held-out episodes.

Each held-out segment is run as its own episode (cappuccino_runtime.env.evaluate_policy), so
no return ever spans two segments. A split's Sharpe is the annualised Sharpe ratio of the
per-bar returns of all its episodes pooled: the returns are computed within each episode and
then concatenated, never the prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cappuccino_runtime.env import EnvConfig, PolicyRun, buy_and_hold_equity, run_policy
from cappuccino_runtime.metrics import annualised_sharpe, bars_per_year, returns_from_equity
from cappuccino_runtime.training.cpcv import Segment

__all__ = [
    "SplitScore",
    "agent_run",
    "agent_sharpe",
    "hodl_curves",
    "hodl_sharpe",
    "pooled_sharpe",
    "run_summary",
    "score_split",
]


def pooled_sharpe(curves: Sequence[np.ndarray], timeframe: str) -> float:
    """Annualised Sharpe of the per-bar returns of several equity curves, each on its own."""
    returns = np.concatenate([returns_from_equity(c) for c in curves])
    return float(annualised_sharpe(returns, bars_per_year(timeframe)))


@dataclass(frozen=True)
class SplitScore:
    """Sharpe of the agent and of buy-and-hold on one split's held-out episodes."""

    bot: float
    hodl: float


def agent_run(
    actor: torch.nn.Module,
    open: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    env: EnvConfig,
    test: Sequence[Segment],
    device: str,
    *,
    price_scale: float = 1.0,
    tradable: np.ndarray | None = None,
) -> PolicyRun:
    """The deterministic actor over the held-out segments, each its own episode."""
    return run_policy(
        actor,
        open,
        close,
        features,
        env,
        list(test),
        device=device,
        price_scale=price_scale,
        tradable=tradable,
    )


def agent_sharpe(
    actor: torch.nn.Module,
    open: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    env: EnvConfig,
    test: Sequence[Segment],
    timeframe: str,
    device: str,
    *,
    price_scale: float = 1.0,
    tradable: np.ndarray | None = None,
) -> float:
    """Sharpe of the deterministic actor over the held-out segments, each its own episode."""
    run = agent_run(
        actor, open, close, features, env, test, device, price_scale=price_scale, tradable=tradable
    )
    return pooled_sharpe(run.curves, timeframe)


def run_summary(
    run: PolicyRun, initial_cash: float, benchmark: Sequence[np.ndarray]
) -> dict[str, float]:
    """Per-bar turnover, fees (fraction of the starting book), exposure, trades per bar and
    tracking error (per-bar std of the return difference to `benchmark`, the buy-and-hold
    curves of the same segments) of a policy's held-out episodes, pooled over them."""
    bars = float(sum(len(c) - 1 for c in run.curves))
    gaps = np.concatenate(
        [
            returns_from_equity(c) - returns_from_equity(b)
            for c, b in zip(run.curves, benchmark, strict=True)
        ]
    )
    return {
        "tracking_error": float(np.std(gaps)),
        "turnover_per_bar": float(run.turnover.sum() / bars),
        "fees_fraction": float(run.fees.sum() / (initial_cash * len(run.curves))),
        "exposure": float(np.average(run.exposure, weights=[len(c) - 1 for c in run.curves])),
        "trades_per_bar": float(run.trades.sum() / bars),
    }


def hodl_curves(
    open: np.ndarray, close: np.ndarray, env: EnvConfig, test: Sequence[Segment]
) -> list[np.ndarray]:
    """Equal-weight buy-and-hold equity (net of its entry fee) over each segment."""
    return [buy_and_hold_equity(open, close, start, stop, env) for start, stop in test]


def hodl_sharpe(
    open: np.ndarray, close: np.ndarray, env: EnvConfig, test: Sequence[Segment], timeframe: str
) -> float:
    """Sharpe of equal-weight buy-and-hold (net of its entry fee) over the same segments."""
    return pooled_sharpe(hodl_curves(open, close, env, test), timeframe)


def score_split(
    actor: torch.nn.Module,
    open: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    env: EnvConfig,
    test: Sequence[Segment],
    timeframe: str,
    device: str,
) -> SplitScore:
    """Runs the deterministic actor on every held-out segment and scores it against buy-and-hold."""
    return SplitScore(
        bot=agent_sharpe(actor, open, close, features, env, test, timeframe, device),
        hodl=hodl_sharpe(open, close, env, test, timeframe),
    )
