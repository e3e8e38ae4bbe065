"""From the actor's raw output to target portfolio weights; the zero action is the benchmark.

The actor emits one unbounded real number a_i per asset. The target is a multiplicative update
of a reference book, the current portfolio with its cash spread equally over the assets:

    w        current asset weights (marked at the decision bar's close), c = 1 - sum(w) the cash
    ref_i  = w_i + c / A                                   (sums to 1: fully invested)
    logit_i = log(ref_i + FLOOR) + a_i,  logit_cash = log(FLOOR)
    target = softmax(logit_1 .. logit_A, logit_cash), cash entry dropped

So the zero action keeps an invested book as it is (its weights drift with prices exactly like
buy-and-hold) and invests a cash book in equal parts, which is the equal-weight buy-and-hold
benchmark's entry. An untrained actor (outputs near 0, see agent/networks.py) therefore holds
what buy-and-hold holds and, inside the execution rule's no-trade band, does not trade. Cash is
a learned choice: a_i about log(FLOOR / ref_i) below zero on every asset moves half the book to
cash. FLOOR keeps every asset reachable from weight 0 (a_i about log(ref_j / FLOOR) gives it as
much as asset j) and bounds how far the zero action's target is from `ref`: at most about
A * FLOOR per asset, well inside the default band. The map is smooth in `a`, so a Gaussian
policy over raw actions works unchanged.
"""

from __future__ import annotations

import math

import torch

__all__ = ["FLOOR", "action_to_weights"]

FLOOR = 0.01
"""Weight floor of the reference book inside the logits (see the module docstring)."""

_LOG_FLOOR = math.log(FLOOR)


def action_to_weights(
    action: torch.Tensor, current: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Maps raw actions [B, A] and the current asset weights [B, A] to target weights [B, A].

    Args:
        action: raw actor outputs [B, A].
        current: the book's asset weights at the decision bar [B, A] (>= 0, row sums <= 1; the
            rest is cash); zeros for a book that holds only cash.
        dtype: dtype of the result (the env asks for float64); the action's dtype when None.

    Returns:
        Target weights (>= 0, row sums < 1) on the action's device.
    """
    if action.ndim != 2:
        raise ValueError(
            f"action must have shape [B, A] (batch, assets), got shape {tuple(action.shape)}."
        )
    if tuple(current.shape) != tuple(action.shape):
        raise ValueError(
            f"current weights have shape {tuple(current.shape)} but the action has "
            f"{tuple(action.shape)}; give one weight per asset and row."
        )
    dtype = dtype or action.dtype
    n_rows, n_assets = action.shape
    w = current.to(device=action.device, dtype=dtype).clamp_min(0.0)
    cash = (1.0 - w.sum(dim=1, keepdim=True)).clamp_min(0.0)
    logits = torch.empty((n_rows, n_assets + 1), dtype=dtype, device=action.device)
    logits[:, :n_assets] = torch.log(w + cash / n_assets + FLOOR) + action.to(dtype)
    logits[:, n_assets] = _LOG_FLOOR
    return torch.softmax(logits, dim=1)[:, :n_assets]
