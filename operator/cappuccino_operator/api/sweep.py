"""TrainingSweep: an indexed Job of workers running `cappuccino train` against a Study."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from cappuccino_operator.api.common import Condition, CrdModel, LocalObjectRef, immutable, rule

__all__ = [
    "LABEL_KEY",
    "LABEL_VALUE",
    "RefitSettings",
    "SweepResources",
    "Toleration",
    "TrainingSweepSpec",
    "TrainingSweepStatus",
    "WorkerCounts",
    "quantity",
]

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


def quantity(default: str, description: str) -> Any:
    """A resource quantity field, checked by the API server's own parser (CEL isQuantity)."""
    return Field(
        default=default,
        max_length=32,
        pattern=QUANTITY,
        json_schema_extra={
            "x-kubernetes-validations": [
                rule(
                    "isQuantity(self)",
                    "must be a Kubernetes quantity such as 500m, 2 or 8Gi.",
                    reason="FieldValueInvalid",
                )
            ]
        },
        description=description,
    )


class SweepResources(CrdModel):
    """Resources of one worker pod."""

    gpu: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu per worker.")
    cpu: str = quantity("2", "CPU request.")
    memory: str = quantity("8Gi", "Memory request and limit.")


LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"


class Toleration(CrdModel):
    """corev1.Toleration, with the API server's own rules checked at admission (a bad one
    would otherwise only fail when the Job is created)."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "!has(self.operator) || self.operator != 'Exists' || !has(self.value) "
                    "|| self.value == ''",
                    "a toleration with operator Exists must not set a value.",
                    reason="FieldValueInvalid",
                ),
                rule(
                    "(has(self.key) && self.key != '') || "
                    "(has(self.operator) && self.operator == 'Exists')",
                    "a toleration without a key must use operator Exists.",
                    reason="FieldValueInvalid",
                ),
                rule(
                    "!has(self.tolerationSeconds) || (has(self.effect) && "
                    "self.effect == 'NoExecute')",
                    "tolerationSeconds needs effect NoExecute.",
                    reason="FieldValueInvalid",
                ),
            ]
        }
    }

    key: str | None = Field(default=None, max_length=316, pattern=LABEL_KEY)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=63, pattern=LABEL_VALUE)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class RefitSettings(CrdModel):
    """After the sweep succeeds, a Job runs `cappuccino models refit`: the best trials'
    hyperparameters retrained on all pre-hold-out bars with several seeds, each scored once on
    the hold-out (study `<study>-refit`, which Arenas and Ensembles then trade)."""

    top_n: int = Field(default=3, ge=1, le=64, description="Best trials to refit.")
    seeds: int = Field(default=3, ge=1, le=32, description="Seeds per refit trial.")


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
        default=None,
        ge=0,
        description="Trials of this sweep that raised, after which the sweep is Failed. Trials "
        "killed by suspend, preemption or a lost worker (stale heartbeat) and failures of other "
        "sweeps do not count.",
    )
    resources: SweepResources = Field(default_factory=SweepResources)
    image: str | None = Field(
        default=None,
        max_length=512,
        description="Worker image; defaults to the operator's runtime (CUDA when gpu > 0) image.",
    )
    node_selector: dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]] | None = (
        Field(
            default=None,
            json_schema_extra={
                "maxProperties": 32,
                "x-kubernetes-validations": [
                    rule(
                        "self.all(k, size(k) <= 316 && k.matches(r'" + LABEL_KEY + "'))",
                        "nodeSelector keys must be label keys ([prefix/]name, name at most 63 "
                        "characters of A-Z, a-z, 0-9, -, _ and .).",
                        reason="FieldValueInvalid",
                    )
                ],
            },
        )
    )
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Wall-clock limit of the Job."
    )
    backoff_limit: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Pod failures each worker (Job index) tolerates; a worker past it ends, the "
        "others go on (backoffLimitPerIndex, fixed when the Job is created). Pods evicted or "
        "preempted (DisruptionTarget) do not count; a worker exiting 2 (bad config) fails the "
        "Job at once.",
    )
    suspend: bool = Field(default=False, description="Pause (true) or resume (false) the workers.")
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Delete the finished Job after this many seconds."
    )
    phase: Literal["full", "phase1", "phase2"] = Field(
        default="full", description="Search phase for two-phase studies."
    )
    refit: RefitSettings | None = Field(
        default=None,
        description="Refit the best trials after the sweep succeeds (phase full or phase2).",
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
    failed_trials: int | None = Field(
        default=None, ge=0, description="Trials of THIS sweep that raised (maxFailedTrials)."
    )
    running_trials: int | None = Field(default=None, ge=0)
    progress: str | None = Field(default=None, description="done/total, for kubectl get.")
    workers: WorkerCounts | None = None
    gpus: int | None = Field(default=None, ge=0, description="GPUs requested by all workers.")
    best_value: float | None = None
    best_trial_id: int | None = None
    best_trial_number: int | None = None
    refit_job_name: str | None = Field(default=None, description="The refit Job, once created.")
