"""Features: causal, window-local technical indicators and the training-only normaliser.

The training environment and the live trader call the same `compute_features`, so a replay of
history reproduces the backtest exactly.
"""

from __future__ import annotations

from cappuccino_runtime.features.normalizer import Normalizer
from cappuccino_runtime.features.pipeline import (
    FEATURE_SETS,
    compute_features,
    feature_names,
    warmup_bars,
)

__all__ = ["FEATURE_SETS", "Normalizer", "compute_features", "feature_names", "warmup_bars"]
