"""The Cappuccino API (group cappuccino.dev, version v1alpha1): spec/status models per kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cappuccino_operator.api.study import StudySpec, StudyStatus
from cappuccino_operator.api.sweep import TrainingSweepSpec, TrainingSweepStatus
from cappuccino_operator.api.trader import ArenaSpec, ArenaStatus, EnsembleSpec, EnsembleStatus

__all__ = [
    "ARENA",
    "CATEGORY",
    "ENSEMBLE",
    "GROUP",
    "KINDS",
    "STUDY",
    "TRAINING_SWEEP",
    "VERSION",
    "Kind",
]

GROUP = "cappuccino.dev"
VERSION = "v1alpha1"
CATEGORY = "cappuccino"


def _cond(type_: str, what: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].{what}'


def _col(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    col: dict[str, Any] = {
        "name": name,
        "type": type_,
        "jsonPath": path,
        "description": description,
    }
    if priority:
        col["priority"] = priority
    return col


AGE = _col("Age", "date", ".metadata.creationTimestamp", "Time since creation.")


@dataclass(frozen=True)
class Kind:
    """One custom resource kind: names, models and the columns `kubectl get` prints."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


STUDY = Kind(
    kind="Study",
    plural="studies",
    short_names=("cstudy",),
    spec=StudySpec,
    status=StudyStatus,
    columns=(
        _col("Study", "string", ".status.studyName", "Optuna study name."),
        _col("Complete", "integer", ".status.trials.complete", "COMPLETE trials."),
        _col("Running", "integer", ".status.trials.running", "RUNNING trials."),
        _col("Best", "number", ".status.bestValue", "Best trial value (mean Sharpe)."),
        _col("Best-Trial", "integer", ".status.bestTrialId", "trial_id of the best.", 1),
        _col("PBO", "number", ".status.report.pbo", "Probability of backtest overfitting."),
        _col("DSR", "number", ".status.report.dsr", "Deflated Sharpe ratio (empty: not computed)."),
        _col("Ready", "string", _cond("Ready", "status"), "Study exists and storage answers."),
        _col("Reason", "string", _cond("Ready", "reason"), "Why (not) ready.", 1),
        AGE,
    ),
)

TRAINING_SWEEP = Kind(
    kind="TrainingSweep",
    plural="trainingsweeps",
    short_names=("tsweep",),
    spec=TrainingSweepSpec,
    status=TrainingSweepStatus,
    columns=(
        _col("Study", "string", ".status.studyName", "Optuna study trained."),
        _col("Done", "string", ".status.progress", "Finished trials / budget."),
        _col("Workers", "integer", ".status.workers.active", "Active worker pods."),
        _col("GPUs", "integer", ".status.gpus", "GPUs requested by all workers."),
        _col("Best", "number", ".status.bestValue", "Best trial value."),
        _col("Succeeded", "string", _cond("Succeeded", "status"), "Budget reached."),
        _col("Failed", "string", _cond("Failed", "status"), "Failed, see Reason."),
        _col("Reason", "string", _cond("Failed", "reason"), "Why it failed.", 1),
        AGE,
    ),
)


def _trader_columns(models: str, *figures: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Arena and Ensemble print the same frame around their own figures."""
    return (
        _col("Study", "string", ".status.studyName", "Optuna study of the models."),
        _col("Models", "integer", ".status.models", models),
        *figures,
        _col("Ready", "string", _cond("Ready", "status"), "Trader running."),
        _col("Reason", "string", _cond("Ready", "reason"), "Why (not) ready.", 1),
        AGE,
    )


ARENA = Kind(
    kind="Arena",
    plural="arenas",
    short_names=("carena",),
    spec=ArenaSpec,
    status=ArenaStatus,
    columns=_trader_columns(
        "Portfolios in the arena.",
        _col("Leader", "integer", ".status.leaderTrialId", "trial_id ranked first."),
        _col("Sharpe", "number", ".status.leaderSharpe", "Leader's rolling Sharpe."),
    ),
)

ENSEMBLE = Kind(
    kind="Ensemble",
    plural="ensembles",
    short_names=("ens",),
    spec=EnsembleSpec,
    status=EnsembleStatus,
    columns=_trader_columns(
        "Voting models.",
        _col("Equity", "number", ".status.equity", "Current equity."),
        _col("Return", "number", ".status.returnPct", "Return on initial cash, %."),
    ),
)

KINDS: tuple[Kind, ...] = (STUDY, TRAINING_SWEEP, ARENA, ENSEMBLE)
