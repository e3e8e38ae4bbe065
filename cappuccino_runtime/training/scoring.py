"""Trading diagnostics of a policy's held-out episodes, pooled over the episodes.

Each held-out segment is run as its own episode (cappuccino_runtime.env.run_policy), so no
return ever spans two segments; a split's Sharpe is training.oos.split_metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cappuccino_runtime.env import PolicyRun
from cappuccino_runtime.metrics import returns_from_equity

__all__ = ["run_summary"]


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
