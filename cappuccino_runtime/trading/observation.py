"""The policy's observation for a live or replayed book, built with the env's own functions.

History -> `compute_features` (the one feature function) -> the model's Normalizer ->
`build_state` (the one state builder). Features have finite support, so a window of
warmup_bars + lookback bars gives exactly the values the env computed over the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from cappuccino_contracts.artifacts import ModelSpec

from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.env.state import build_state, portfolio_state
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars

__all__ = ["MarketWindow", "history_bars"]


def history_bars(spec: ModelSpec) -> int:
    """Bars of history one observation needs: the features' warm-up plus the lookback."""
    return warmup_bars(spec.feature_set) + spec.lookback


class MarketWindow:
    """The market part of every model's state at one decision bar, computed once per spec."""

    def __init__(self, history: MarketData) -> None:
        self.history = history
        self._cache: dict[tuple[str, int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def _windows(self, spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
        key = (
            spec.feature_set,
            spec.lookback,
            spec.normalizer.model_dump_json() if spec.normalizer else "",
        )
        if key not in self._cache:
            if self.history.n_bars < history_bars(spec):
                raise ConfigError(
                    f"the trader has {self.history.n_bars} bars of history but feature_set "
                    f"{spec.feature_set!r} with lookback {spec.lookback} needs "
                    f"{history_bars(spec)}."
                )
            features = compute_features(self.history, spec.feature_set)
            if spec.normalizer is not None:
                features = Normalizer.from_stats(spec.normalizer).transform(features)
            L = spec.lookback
            window = np.ascontiguousarray(features[-L:], dtype=np.float32)
            if not np.isfinite(window).all():
                raise ConfigError(
                    "the features of the decision window hold NaN; the history is shorter than "
                    "the warm-up or has gaps."
                )
            self._cache[key] = (
                torch.from_numpy(window)[None],
                torch.from_numpy(np.ascontiguousarray(self.history.close[-L:]))[None],
            )
        return self._cache[key]

    def observe(
        self,
        spec: ModelSpec,
        cash: float,
        holdings: Sequence[float],
        initial_cash: float | None = None,
    ) -> torch.Tensor:
        """The state row [obs_dim] of a book with `cash` and `holdings` (units, spec symbol order).

        `initial_cash` is accepted for older callers and not used: the state holds no wealth
        since inception any more (see env/state.py).
        """
        features, prices = self._windows(spec)
        state = build_state(
            features,
            prices,
            torch.tensor([cash], dtype=torch.float64),
            torch.tensor([list(holdings)], dtype=torch.float64),
            spec.price_scale,
        )[0]
        if state.shape[0] != spec.obs_dim:
            raise ConfigError(
                f"the state has {state.shape[0]} entries but the model expects obs_dim "
                f"{spec.obs_dim}; the model was trained with another feature set, symbols or "
                "state layout (models from before the benchmark-neutral action need retraining)."
            )
        return state

    def weights(self, cash: float, holdings: Sequence[float]) -> torch.Tensor:
        """The book's asset weights [A] (float64) marked at the decision bar's close, as the env
        computes them for action_to_weights."""
        close = torch.from_numpy(np.ascontiguousarray(self.history.close[-1:], dtype=np.float64))
        book = portfolio_state(
            torch.tensor([cash], dtype=torch.float64),
            torch.tensor([list(holdings)], dtype=torch.float64),
            close,
        )
        return book[0, 1:]
