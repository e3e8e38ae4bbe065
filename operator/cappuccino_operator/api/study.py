"""Study: one Optuna study in PostgreSQL, its data settings and search-space overrides."""

from __future__ import annotations

from typing import Annotated, Literal

from cappuccino_contracts.naming import STUDY_NAME_PATTERN, STUDY_NAME_SPEC_MAX_LENGTH
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
    "AlgorithmSettings",
    "ArtifactSettings",
    "DataSettings",
    "EarlyStoppingSettings",
    "ObjectiveSettings",
    "ParamOverride",
    "StudyReport",
    "StudySpec",
    "StudyStatus",
    "TrainingSizes",
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
    goal: float | None = Field(
        default=None,
        description="Objective goal (Katib's objective.goal): a sweep ends Succeeded (reason "
        "GoalReached) as soon as a trial value reaches it (>= when maximising, <= when "
        "minimising).",
    )


class TrainingSizes(CrdModel):
    """Training sizes written into the workers' train config (contract 5); unset = defaults."""

    total_timesteps: int | None = Field(
        default=None, ge=1, le=10**10, description="PPO env steps per CPCV split."
    )
    num_envs: int | None = Field(
        default=None, ge=1, le=65536, description="Parallel training episodes."
    )
    episode_length: int | None = Field(
        default=None, ge=2, le=10**7, description="Decisions per training episode."
    )
    eval_interval: int | None = Field(
        default=None, ge=1, le=10**6, description="PPO updates between evaluations."
    )
    cpu_threads: int | None = Field(
        default=None, ge=1, le=256, description="torch threads when training on CPU."
    )


class AlgorithmSettings(CrdModel):
    """The search algorithm (Katib's `algorithm`): Optuna's sampler."""

    name: Literal["tpe", "random"] = Field(default="tpe", description="tpe or random.")
    n_startup_trials: int = Field(
        default=10, ge=0, le=10000, description="Random trials before TPE starts modelling."
    )


class EarlyStoppingSettings(CrdModel):
    """Early stopping of bad trials (Katib's `earlyStopping`): Optuna's pruner."""

    name: Literal["median", "none"] = Field(
        default="median", description="median (prune below the median) or none."
    )
    startup_trials: int = Field(
        default=5, ge=0, le=10000, description="Finished trials before pruning may start."
    )


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

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "has(self.studyName) == has(oldSelf.studyName)",
                    "studyName cannot be added or removed after creation; create a new Study.",
                    reason="FieldValueForbidden",
                )
            ]
        }
    }

    study_name: str | None = Field(
        default=None,
        min_length=1,
        # the shared rule (cappuccino_contracts.naming), with room for -phase1 / -refit
        max_length=STUDY_NAME_SPEC_MAX_LENGTH,
        pattern=STUDY_NAME_PATTERN,
        json_schema_extra=immutable("studyName"),
        description="Optuna study name; defaults to <namespace>.<metadata.name>. A study "
        "another namespace owns is refused. It names the artifact directory, so it has no "
        "'/' and no '..'.",
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
    data: DataSettings = Field(
        default_factory=DataSettings,
        json_schema_extra=immutable("data (what the study's trials were scored on)"),
        description="Training data; immutable.",
    )
    search_space: dict[str, ParamOverride] | None = Field(
        default=None,
        json_schema_extra={"maxProperties": 64},
        description="Overrides of the default search space, by hyperparameter name.",
    )
    objective: ObjectiveSettings = Field(
        default_factory=ObjectiveSettings,
        json_schema_extra=immutable("objective (how the study's trials were scored)"),
        description="Trial scoring; immutable.",
    )
    training: TrainingSizes = Field(
        default_factory=TrainingSizes, description="Training sizes for the workers."
    )
    algorithm: AlgorithmSettings = Field(
        default_factory=AlgorithmSettings, description="Search algorithm (sampler)."
    )
    early_stopping: EarlyStoppingSettings = Field(
        default_factory=EarlyStoppingSettings, description="Early stopping (pruner)."
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


class StudyReport(CrdModel):
    """`cappuccino study report` figures (Optuna study user attr `report`); absent = not
    computed yet, never a made-up number."""

    pbo: float | None = Field(default=None, description="Probability of backtest overfitting.")
    dsr: float | None = Field(default=None, description="Deflated Sharpe ratio of the selected.")
    psr: float | None = Field(default=None, description="Probabilistic Sharpe ratio.")
    n_trials: int | None = Field(default=None, ge=0, description="Configurations tried.")
    computed_at: str | None = None


class StudyStatus(CrdModel):
    """Observed state of a Study: summaries only, the trial list stays in PostgreSQL."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    study_name: str | None = Field(default=None, description="Resolved Optuna study name.")
    trials: TrialCounts | None = None
    best_value: float | None = Field(default=None, description="Best trial value (mean Sharpe).")
    best_trial_id: int | None = Field(default=None, description="Optuna trial_id of the best.")
    best_trial_number: int | None = Field(default=None, description="Display number of the best.")
    report: StudyReport | None = Field(default=None, description="PBO/DSR of the study.")
    refit_study_name: str | None = Field(
        default=None, description="Optuna study of the refit agents, when it has any."
    )
