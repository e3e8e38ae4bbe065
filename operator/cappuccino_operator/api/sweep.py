"""TrainingSweep: an indexed Job of workers running `cappuccino train` against a Study."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cappuccino_operator.api.common import Condition, CrdModel, LocalObjectRef, immutable, rule

__all__ = [
    "SweepResources",
    "Toleration",
    "TrainingSweepSpec",
    "TrainingSweepStatus",
    "WorkerCounts",
]

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class SweepResources(CrdModel):
    """Resources of one worker pod."""

    gpu: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu per worker.")
    cpu: str = Field(default="2", max_length=32, pattern=QUANTITY, description="CPU request.")
    memory: str = Field(
        default="8Gi", max_length=32, pattern=QUANTITY, description="Memory request and limit."
    )


class Toleration(CrdModel):
    """corev1.Toleration."""

    key: str | None = Field(default=None, max_length=253)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=253)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class TrainingSweepSpec(CrdModel):
    """Desired state of a TrainingSweep."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "self.parallelism <= self.trials",
                    "parallelism must not exceed trials: more workers than trials would idle.",
                    reason="FieldValueInvalid",
                    field_path=".parallelism",
                ),
            ]
        }
    }

    study_ref: LocalObjectRef = Field(
        json_schema_extra=immutable("studyRef"), description="The Study to train against."
    )
    trials: int = Field(ge=1, le=100000, description="Trial budget: the study stops at this many.")
    parallelism: int = Field(default=1, ge=1, le=1000, description="Worker pods running at once.")
    max_failed_trials: int | None = Field(
        default=None, ge=0, description="Failed trials after which the sweep is Failed."
    )
    resources: SweepResources = Field(default_factory=SweepResources)
    image: str | None = Field(
        default=None,
        max_length=512,
        description="Worker image; defaults to the operator's runtime (CUDA when gpu > 0) image.",
    )
    node_selector: dict[str, str] | None = Field(
        default=None, json_schema_extra={"maxProperties": 32}
    )
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Wall-clock limit of the Job."
    )
    backoff_limit: int = Field(default=3, ge=0, le=100, description="Pod retries of the Job.")
    suspend: bool = Field(default=False, description="Pause (true) or resume (false) the workers.")
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Delete the finished Job after this many seconds."
    )
    phase: Literal["full", "phase1", "phase2"] = Field(
        default="full", description="Search phase for two-phase studies."
    )


class WorkerCounts(CrdModel):
    """Pods of the Job."""

    active: int = Field(default=0, ge=0)
    succeeded: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)


class TrainingSweepStatus(CrdModel):
    """Observed state of a TrainingSweep."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    study_name: str | None = None
    job_name: str | None = None
    done: int | None = Field(default=None, ge=0, description="Finished trials of the study.")
    failed_trials: int | None = Field(default=None, ge=0)
    running_trials: int | None = Field(default=None, ge=0)
    progress: str | None = Field(default=None, description="done/total, for kubectl get.")
    workers: WorkerCounts | None = None
    gpus: int | None = Field(default=None, ge=0, description="GPUs requested by all workers.")
    best_value: float | None = None
    best_trial_id: int | None = None
    best_trial_number: int | None = None
