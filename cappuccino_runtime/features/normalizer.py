"""Feature normalisation fitted on the training segment only, stored with the model.

Statistics are per feature, POOLED over every leading axis (time and assets): one mean and
one std per feature name, so the policy sees all assets on the same scale and the stats do not
depend on the asset order. Fit on the training bars only (e.g. `features[train_slice]`),
never on validation or test bars; save `to_stats()` in the ModelSpec and rebuild with
`from_stats` when trading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cappuccino_contracts.artifacts import NormalizerStats

from cappuccino_runtime.errors import ConfigError

__all__ = ["MIN_STD", "Normalizer"]

MIN_STD = 1e-8
"""A feature whose std is below this (constant in training) is centred but not scaled."""


@dataclass(frozen=True, eq=False)
class Normalizer:
    """z = (x - mean) / std per feature (last axis); NaN stays NaN."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        """Fits on `x` (`[..., F]`, e.g. `[T_train, A, F]`), ignoring NaN (warmup rows).

        Raises ConfigError if a feature has no finite value to fit on.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] == 0:
            raise ConfigError(f"Normalizer.fit needs an array [..., F] with F >= 1, got {x.shape}.")
        flat = x.reshape(-1, x.shape[-1])
        flat = np.where(np.isfinite(flat), flat, np.nan)
        finite = np.isfinite(flat).sum(axis=0)
        if (finite == 0).any():
            empty = [int(i) for i in np.flatnonzero(finite == 0)]
            raise ConfigError(
                f"Normalizer.fit: feature column(s) {empty} have no finite values in the training "
                "segment; make the segment longer than the feature warmup."
            )
        mean = np.nanmean(flat, axis=0)
        std = np.nanstd(flat, axis=0)
        std = np.where(std < MIN_STD, 1.0, std)
        return cls(mean=mean, std=std)

    @property
    def n_features(self) -> int:
        """F, the length of the last axis this normaliser expects."""
        return len(self.mean)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / std over the last axis, as float32."""
        x = np.asarray(x)
        if x.shape[-1:] != (self.n_features,):
            raise ConfigError(
                f"Normalizer was fitted on {self.n_features} features but got an array whose last "
                f"axis has {x.shape[-1] if x.ndim else 0}; use the same feature_set."
            )
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_stats(self) -> NormalizerStats:
        """The fitted statistics as stored in ModelSpec.normalizer (per feature, pooled over assets)."""
        return NormalizerStats(mean=[float(v) for v in self.mean], std=[float(v) for v in self.std])

    @classmethod
    def from_stats(cls, stats: NormalizerStats) -> Normalizer:
        """Rebuilds the normaliser saved with a model."""
        std = np.asarray(stats.std, dtype=np.float64)
        if (std <= 0).any() or not np.isfinite(std).all():
            raise ConfigError("NormalizerStats.std must be positive and finite for every feature.")
        return cls(mean=np.asarray(stats.mean, dtype=np.float64), std=std)
