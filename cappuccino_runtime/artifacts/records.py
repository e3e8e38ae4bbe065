"""Pydantic records written next to the weights: what a model is and how to rebuild it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ExecutionSpec", "ModelSpec", "NormalizerStats", "RewardName", "TrialRecord"]

RewardName = Literal["log_return", "simple_return", "excess_log_return"]
"""Per-step rewards the env can pay (docs/env.md, "Rewards")."""


class ExecutionSpec(BaseModel):
    """The execution rule and reward a model was trained and scored with, frozen with it.

    The env, CPCV scoring, the replay broker and the live trader all execute with these values
    (cappuccino_runtime.env.execution.rebalance); the trader never substitutes its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fee_rate: float = Field(default=0.0025, ge=0.0, lt=0.1)
    slippage_bps: float = Field(default=5.0, ge=0.0, lt=1000.0)
    min_order_notional: float = Field(default=1.0, ge=0.0)
    no_trade_band: float = Field(
        default=0.05,
        ge=0.0,
        lt=1.0,
        description="an asset trades only when |target - current weight| exceeds this",
    )
    rebalance_fraction: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="fraction of the distance to the target an asset that trades moves",
    )
    min_qty: dict[str, float] = Field(
        default_factory=dict,
        description="per-symbol minimum order size in units, where known (0 / absent: none)",
    )
    reward: RewardName = "log_return"
    reward_scale: float = Field(default=1.0, gt=0.0)
    turnover_penalty: float = Field(
        default=0.0, ge=0.0, description="reward -= this * traded notional / book value"
    )
    reward_normalization: bool = Field(
        default=True, description="training divided rewards by a running std of the returns"
    )

    @property
    def slippage(self) -> float:
        """Slippage as a fraction (slippage_bps * 1e-4)."""
        return self.slippage_bps * 1e-4


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
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec,
        description="the frozen execution rule and reward the model was trained and scored with",
    )
    price_scale: float = Field(
        default=1.0,
        gt=0.0,
        description="train-fitted std of one-bar log returns; the state's price ratios are "
        "divided by price_scale * sqrt(lag)",
    )

    @model_validator(mode="before")
    @classmethod
    def _execution_from_fee(cls, data: Any) -> Any:
        # A spec that names only fee_rate (older trial.json) gets the default rule at that fee.
        if isinstance(data, dict) and "execution" not in data and "fee_rate" in data:
            return {**data, "execution": {"fee_rate": data["fee_rate"]}}
        return data

    @model_validator(mode="after")
    def _one_fee(self) -> ModelSpec:
        if self.execution.fee_rate != self.fee_rate:
            raise ValueError(
                f"ModelSpec.fee_rate {self.fee_rate} differs from execution.fee_rate "
                f"{self.execution.fee_rate}; write the same fee in both."
            )
        return self


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
