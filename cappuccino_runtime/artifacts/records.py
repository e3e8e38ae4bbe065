"""Pydantic records written next to the weights: what a model is and how to rebuild it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ModelSpec", "NormalizerStats", "TrialRecord"]


class NormalizerStats(BaseModel):
    """Per-feature mean and std fitted on the training segment only (flattened feature order)."""

    model_config = ConfigDict(frozen=True)

    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _same_length(self) -> NormalizerStats:
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"normalizer mean has {len(self.mean)} entries but std has {len(self.std)}; "
                "they must describe the same features."
            )
        return self


class ModelSpec(BaseModel):
    """Everything needed to rebuild the networks and the state builder for one trained model."""

    model_config = ConfigDict(frozen=True)

    symbols: list[str] = Field(min_length=1)
    timeframe: str
    lookback: int = Field(ge=1)
    feature_set: str
    obs_dim: int = Field(ge=1)
    action_dim: int = Field(ge=1)
    net_dimension: int = Field(ge=1)
    normalizer: NormalizerStats | None = None
    initial_cash: float = 10_000.0
    fee_rate: float = 0.0025


class TrialRecord(BaseModel):
    """trial.json: the identity of a model and what the database said when it was written."""

    model_config = ConfigDict(frozen=True)

    study_name: str = Field(min_length=1)
    trial_id: int = Field(ge=0)
    number: int = Field(ge=0)
    value: float | None
    state: str = "COMPLETE"
    params: dict[str, Any] = Field(default_factory=dict)
    user_attrs: dict[str, Any] = Field(default_factory=dict)
    timeframe: str
    checksums: dict[str, str] = Field(
        description="sha256 hex digest per file name (actor.pth, critic.pth)."
    )
    model: ModelSpec
    code_version: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
