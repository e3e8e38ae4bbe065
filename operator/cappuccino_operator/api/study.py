"""Study: one Optuna study in PostgreSQL, its data settings and search-space overrides."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cappuccino_operator.api.common import (
    SYMBOL,
    Condition,
    CrdModel,
    SecretKeyRef,
    SecretRef,
    immutable,
    rule,
)

__all__ = [
    "ArtifactSettings",
    "DataSettings",
    "ObjectiveSettings",
    "ParamOverride",
    "StudySpec",
    "StudyStatus",
    "TrialCounts",
]

ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z?)?$"


class DataSettings(CrdModel):
    """Market data the workers train on (`cappuccino train --data/--symbols/--timeframe/...`)."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "!has(self.start) || !has(self.end) || self.start < self.end",
                    "data.start must be earlier than data.end.",
                    reason="FieldValueInvalid",
                )
            ]
        }
    }

    source: str = Field(
        default="sample",
        min_length=1,
        max_length=1024,
        description="`sample` (bundled set), `alpaca`, or a path/fsspec URL of bar files.",
    )
    symbols: list[SYMBOL] = Field(
        default_factory=lambda: ["BTC/USD"],
        min_length=1,
        max_length=32,
        description="Trading pairs, e.g. BTC/USD.",
    )
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"] = Field(
        default="1h", description="Bar size."
    )
    start: str | None = Field(
        default=None, max_length=32, pattern=ISO_DATE, description="First bar (ISO date or time)."
    )
    end: str | None = Field(
        default=None, max_length=32, pattern=ISO_DATE, description="Last bar (ISO date or time)."
    )


class ParamOverride(CrdModel):
    """Narrows one hyperparameter of the search space: a range or a list of choices."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "!has(self.low) || !has(self.high) || self.low <= self.high",
                    "low must not exceed high.",
                ),
                rule(
                    "!has(self.choices) || (!has(self.low) && !has(self.high))",
                    "set either choices or low/high, not both.",
                ),
            ]
        }
    }

    low: float | None = Field(default=None, description="Lower bound of the range.")
    high: float | None = Field(default=None, description="Upper bound of the range.")
    log: bool | None = Field(default=None, description="Sample on a log scale.")
    step: float | None = Field(default=None, gt=0, description="Step of a discrete range.")
    choices: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Categorical choices (YAML scalars, written as strings).",
    )


class ObjectiveSettings(CrdModel):
    """How a trial is scored: mean Sharpe over CPCV validation episodes, after fees.

    Combinatorial purged cross-validation splits the data into `cpcvGroups` contiguous groups
    and holds out `cpcvTestGroups` at a time, so a trial is validated on
    C(cpcvGroups, cpcvTestGroups) episodes (4 and 2 give 6)."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "self.cpcvTestGroups < self.cpcvGroups",
                    "cpcvTestGroups must be smaller than cpcvGroups: some data must be left to train on.",
                    reason="FieldValueInvalid",
                )
            ]
        }
    }

    cpcv_groups: int = Field(default=4, ge=2, le=16, description="CPCV contiguous groups.")
    cpcv_test_groups: int = Field(default=2, ge=1, le=8, description="Groups held out per split.")
    fee: float = Field(default=0.0025, ge=0, lt=0.1, description="Transaction cost per trade.")


class ArtifactSettings(CrdModel):
    """Where trained models are written and read (an fsspec URL, optionally on a PVC)."""

    root: str | None = Field(
        default=None,
        max_length=1024,
        description="Artifact root URL; defaults to the PVC mount or the operator's setting.",
    )
    pvc_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="PersistentVolumeClaim mounted at /var/lib/cappuccino/artifacts.",
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        description="Secret whose keys become env vars of every pod (e.g. object-store keys).",
    )


class StudySpec(CrdModel):
    """Desired state of a Study."""

    study_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        json_schema_extra=immutable("studyName"),
        description="Optuna study name; defaults to metadata.name.",
    )
    direction: Literal["maximize", "minimize"] = Field(
        default="maximize",
        json_schema_extra=immutable("direction"),
        description="Optimisation direction of the trial value (mean Sharpe).",
    )
    storage_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the Optuna storage URL; defaults to the operator's.",
    )
    artifacts: ArtifactSettings | None = Field(default=None, description="Artifact storage.")
    data: DataSettings = Field(default_factory=DataSettings, description="Training data.")
    search_space: dict[str, ParamOverride] | None = Field(
        default=None,
        json_schema_extra={"maxProperties": 64},
        description="Overrides of the default search space, by hyperparameter name.",
    )
    objective: ObjectiveSettings = Field(
        default_factory=ObjectiveSettings, description="Trial scoring."
    )
    two_phase: bool = Field(
        default=False,
        description="Two-phase search: sweeps run phase1 (market view, study <name>-phase1), "
        "then phase2 (PPO hyperparameters); otherwise sweeps run phase full.",
    )


class TrialCounts(CrdModel):
    """Trials of the study by state."""

    complete: int = Field(default=0, ge=0)
    running: int = Field(default=0, ge=0)
    pruned: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    waiting: int = Field(default=0, ge=0)


class StudyStatus(CrdModel):
    """Observed state of a Study: summaries only, the trial list stays in PostgreSQL."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    study_name: str | None = Field(default=None, description="Resolved Optuna study name.")
    trials: TrialCounts | None = None
    best_value: float | None = Field(default=None, description="Best trial value (mean Sharpe).")
    best_trial_id: int | None = Field(default=None, description="Optuna trial_id of the best.")
    best_trial_number: int | None = Field(default=None, description="Display number of the best.")
