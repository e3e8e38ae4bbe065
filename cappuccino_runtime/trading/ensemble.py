"""Ensemble decision rules: N models' target weights -> the one target the portfolio executes.

Majority vote (the default), per asset, relative to the portfolio's current weight w:
- model i votes BUY if its target t_i > w + dead_band, SELL if t_i < w - dead_band, else HOLD;
- the side with the most votes wins (a plurality of BUY / SELL / HOLD);
- BUY or SELL winning: the executed target is the mean of the winning voters' targets;
- HOLD winning, or a tie between the top sides: the asset keeps its current weight w.
  A tie is no consensus, and doing nothing is the cheap, reversible choice.
Assets are voted on independently, so the winning targets may sum above 1 (all cash spent);
then every asset target is scaled down by the same factor so the sum is exactly 1.

Mean-action rule (the option): the mean of the models' raw actions goes through the env's
action_to_weights, as if one model had produced it.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import torch
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

from cappuccino_runtime.env.actions import action_to_weights

__all__ = ["EnsembleRule", "Side", "VoteResult", "mean_action_target", "vote_targets"]


class EnsembleRule(StrEnum):
    """How the ensemble combines its models."""

    MAJORITY = "majority"
    MEAN_ACTION = "mean_action"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class VoteResult(BaseModel):
    """The executed target per asset, the winning side and the vote counts (for logs)."""

    model_config = ConfigDict(frozen=True)

    target: list[float]
    sides: list[Side]
    votes: list[dict[Side, int]] = Field(description="per asset: votes for buy, sell and hold")


def vote_targets(targets: ArrayLike, current: ArrayLike, dead_band: float = 0.01) -> VoteResult:
    """Majority vote over N models' target weights; see the module docstring for the rule.

    Args:
        targets: target weights [N, A] (>= 0, rows summing to <= 1), one row per model.
        current: the portfolio's current asset weights [A] at the decision price.
        dead_band: a target within this distance of the current weight is a HOLD vote.
    """
    t = np.asarray(targets, dtype=np.float64)
    w = np.asarray(current, dtype=np.float64)
    if t.ndim != 2 or w.shape != (t.shape[1],):
        raise ValueError(f"targets must be [N, A] and current [A]; got {t.shape} and {w.shape}.")
    if dead_band < 0:
        raise ValueError(f"dead_band must be >= 0, got {dead_band}.")
    buy = t > w + dead_band
    sell = t < w - dead_band
    hold = ~(buy | sell)
    target = w.copy()
    sides: list[Side] = []
    votes: list[dict[Side, int]] = []
    for a in range(t.shape[1]):
        counts = {
            Side.BUY: int(buy[:, a].sum()),
            Side.SELL: int(sell[:, a].sum()),
            Side.HOLD: int(hold[:, a].sum()),
        }
        votes.append(counts)
        top = max(counts.values())
        winners = [s for s, c in counts.items() if c == top]
        side = winners[0] if len(winners) == 1 else Side.HOLD
        sides.append(side)
        if side is Side.BUY:
            target[a] = t[buy[:, a], a].mean()
        elif side is Side.SELL:
            target[a] = t[sell[:, a], a].mean()
    total = target.sum()
    if total > 1.0:
        target = target / total
    return VoteResult(target=target.tolist(), sides=sides, votes=votes)


def mean_action_target(actions: torch.Tensor, current: torch.Tensor) -> list[float]:
    """The mean-action rule: mean of raw actions [N, A] mapped by the env's action_to_weights
    from the book's current asset weights [A]."""
    if actions.ndim != 2:
        raise ValueError(f"actions must be [N, A], got shape {tuple(actions.shape)}.")
    mean = actions.to(torch.float64).mean(dim=0, keepdim=True)
    return action_to_weights(mean, current.to(torch.float64).reshape(1, -1))[0].tolist()
