"""A bank of models evaluated together: grouped by architecture, one batched pass per group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from cappuccino_contracts.artifacts import ModelSpec
from cappuccino_contracts.naming import model_id

from cappuccino_runtime.agent.networks import Actor
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.trading.batched import StackedActors

__all__ = ["ModelBank", "ModelSlot"]


@dataclass(frozen=True)
class ModelSlot:
    """One model with its identity: `(study_name, trial_id)` and the sha256 of its weights."""

    study_name: str
    trial_id: int
    sha256: str
    spec: ModelSpec
    actor: Actor

    @property
    def model_id(self) -> str:
        return model_id(self.study_name, self.trial_id)


class ModelBank:
    """N models trading the same symbols and timeframe; `actions` runs them batched."""

    def __init__(self, slots: Sequence[ModelSlot]) -> None:
        if not slots:
            raise ConfigError("a trader needs at least one model; the manifest lists none.")
        first = slots[0].spec
        for slot in slots[1:]:
            if (slot.spec.symbols, slot.spec.timeframe) != (first.symbols, first.timeframe):
                raise ConfigError(
                    f"model {slot.model_id} trades {slot.spec.symbols} on {slot.spec.timeframe} "
                    f"but {slots[0].model_id} trades {first.symbols} on {first.timeframe}; one "
                    "trader needs one market."
                )
        self.slots = list(slots)
        self.symbols = tuple(first.symbols)
        self.timeframe = first.timeframe
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, slot in enumerate(self.slots):
            key = (slot.spec.obs_dim, slot.spec.net_dimension, slot.spec.action_dim)
            groups.setdefault(key, []).append(i)
        self._groups = [
            (idx, StackedActors([self.slots[i].actor for i in idx])) for idx in groups.values()
        ]

    def actions(self, observations: Sequence[torch.Tensor]) -> torch.Tensor:
        """Raw actions [N, A] (float64) for one observation per slot, in slot order."""
        if len(observations) != len(self.slots):
            raise ValueError(
                f"{len(observations)} observations for {len(self.slots)} models; give one each."
            )
        out = torch.empty((len(self.slots), len(self.symbols)), dtype=torch.float64)
        for idx, stacked in self._groups:
            obs = torch.stack([observations[i] for i in idx])
            out[idx] = stacked(obs).to(torch.float64)
        return out
