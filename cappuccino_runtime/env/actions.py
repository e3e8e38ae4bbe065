"""From the actor's raw output to target portfolio weights (long-only, the rest stays in cash).

The actor emits one unbounded real number per asset. We append a fixed logit of 0 for cash and
take a softmax over the A + 1 entries, then drop the cash entry:

    weights[i] = exp(a[i]) / (1 + sum_j exp(a[j]))      cash weight = 1 / (1 + sum_j exp(a[j]))

so every weight is in (0, 1), their sum is below 1, and the remainder is held as cash. An
all-zero action means "equal parts in every asset and in cash"; large negative actions mean
"all cash". The map is smooth everywhere, so a Gaussian policy over raw actions works unchanged.
"""

from __future__ import annotations

import torch

__all__ = ["CASH_LOGIT", "action_to_weights"]

CASH_LOGIT = 0.0
"""The fixed logit of the cash entry in the softmax."""


def action_to_weights(action: torch.Tensor) -> torch.Tensor:
    """Maps raw actions [B, A] to target asset weights [B, A] (>= 0, row sums <= 1).

    The dtype and device of the result are those of `action`; the env calls it in float64.
    """
    if action.ndim != 2:
        raise ValueError(
            f"action must have shape [B, A] (batch, assets), got shape {tuple(action.shape)}."
        )
    # softmax over [action, CASH_LOGIT] written out: torch.softmax over a 5-wide last dim is
    # ~20x slower on CPU than these few elementwise ops. Shifting by the row max (at least the
    # cash logit) keeps exp() from overflowing.
    shift = action.amax(dim=1, keepdim=True).clamp_min(CASH_LOGIT)
    asset = torch.exp(action - shift)
    return asset / (asset.sum(dim=1, keepdim=True) + torch.exp(CASH_LOGIT - shift))
