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

from cappuccino_runtime.env import EnvConfig, buy_and_hold_equity, evaluate_policy
from cappuccino_runtime.metrics import annualised_sharpe, bars_per_year, returns_from_equity
from cappuccino_runtime.training.cpcv import Segment

__all__ = ["SplitScore", "agent_sharpe", "hodl_sharpe", "pooled_sharpe", "score_split"]


def pooled_sharpe(curves: Sequence[np.ndarray], timeframe: str) -> float:
    """Annualised Sharpe of the per-bar returns of several equity curves, each on its own."""
    returns = np.concatenate([returns_from_equity(c) for c in curves])
    return float(annualised_sharpe(returns, bars_per_year(timeframe)))


@dataclass(frozen=True)
class SplitScore:
    """Sharpe of the agent and of buy-and-hold on one split's held-out episodes."""

    bot: float
    hodl: float


def agent_sharpe(
    actor: torch.nn.Module,
    open: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    env: EnvConfig,
    test: Sequence[Segment],
    timeframe: str,
    device: str,
) -> float:
    """Sharpe of the deterministic actor over the held-out segments, each its own episode."""
    curves = evaluate_policy(actor, open, close, features, env, list(test), device=device)
    return pooled_sharpe(curves, timeframe)


def hodl_sharpe(
    open: np.ndarray, close: np.ndarray, env: EnvConfig, test: Sequence[Segment], timeframe: str
) -> float:
    """Sharpe of equal-weight buy-and-hold (net of its entry fee) over the same segments."""
    curves = [buy_and_hold_equity(open, close, start, stop, env) for start, stop in test]
    return pooled_sharpe(curves, timeframe)


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
