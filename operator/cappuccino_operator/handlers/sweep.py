"""TrainingSweep: an indexed Job of workers; a timer mirrors progress and outcomes."""

from __future__ import annotations

from typing import Any

import kopf

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.builders.context import StudyContext
from cappuccino_operator.builders.sweep import (
    build_sweep_job,
    build_train_config,
    job_mutable_patch,
    job_name,
    optuna_study_name,
    template_drifted,
)
from cappuccino_operator.conditions import condition, get_condition
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady
from cappuccino_operator.handlers.common import (
    INTERVAL,
    parse_spec,
    resolve_study,
    storage_url,
    write_status,
)
from cappuccino_operator.observe import sweep_status
from cappuccino_operator.queries import study_summary
from cappuccino_operator.storage import describe_error

__all__ = ["observe_sweep", "reconcile_sweep"]

RETRY = 10


def _phase_problem(sweep: TrainingSweepSpec, study: StudyContext) -> str | None:
    """Two-phase Studies run phase1 then phase2 sweeps; others run phase full."""
    if (sweep.phase == "full") != study.spec.two_phase:
        return None
    want = "phase1 or phase2" if study.spec.two_phase else "full"
    return (
        f"spec.phase={sweep.phase!r} does not fit Study {sweep.study_ref.name} "
        f"(twoPhase: {str(study.spec.two_phase).lower()}); use phase {want}."
    )


def _budget_spent(status: Any, generation: int | None) -> bool:
    failed = get_condition((status or {}).get("conditions"), "Failed") or {}
    return (
        failed.get("status") == "True"
        and failed.get("reason") == "FailureBudgetSpent"
        and failed.get("observedGeneration") == generation
    )


def _sweep_and_study(
    name: str, namespace: str, spec: Any, gen: Any, status: Any, patch: kopf.Patch, memo: Any
) -> tuple[TrainingSweepSpec, Any]:
    """Parses the spec and resolves its Study; a missing Study is written into the Succeeded
    condition (reason StudyNotFound) before StudyNotReady propagates."""
    sweep = parse_spec(TrainingSweepSpec, spec, f"TrainingSweep {namespace}/{name}")
    try:
        return sweep, resolve_study(memo, namespace, sweep.study_ref.name)
    except StudyNotReady as e:
        write_status(
            patch, status, gen, [condition("Succeeded", "Unknown", "StudyNotFound", str(e), gen)]
        )
        raise


@kopf.on.resume(GROUP, VERSION, "trainingsweeps")
@kopf.on.create(GROUP, VERSION, "trainingsweeps")
@kopf.on.update(GROUP, VERSION, "trainingsweeps", field="spec")
def reconcile_sweep(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Applies the training-config ConfigMap and the worker Job (suspend/resume included)."""
    gen = meta.get("generation")
    try:
        sweep, study = _sweep_and_study(name, namespace, spec, gen, status, patch, memo)
    except StudyNotReady as e:
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    if msg := _phase_problem(sweep, study):
        write_status(patch, status, gen, [condition("Failed", "True", "InvalidPhase", msg, gen)])
        raise kopf.PermanentError(msg)
    if _budget_spent(status, gen):  # keep the workers stopped across operator restarts
        sweep = sweep.model_copy(update={"suspend": True})
    config_map = build_train_config(name, namespace, study)
    job = build_sweep_job(name, namespace, sweep, study, memo.config)
    kopf.adopt([config_map, job], owner=body)
    memo.kube.create_or_patch(config_map)
    if template_drifted(memo.kube.get("batch/v1", "Job", namespace, job_name(name)), job):
        memo.kube.delete("batch/v1", "Job", namespace, job_name(name))
        raise kopf.TemporaryError(
            f"The worker template changed; Job {job_name(name)} is being replaced.", delay=1
        )
    memo.kube.create_or_patch(job, job_mutable_patch(job))
    first = [
        condition("Succeeded", "Unknown", "Pending", f"Job {job_name(name)} created.", gen),
        condition("Failed", "False", "WithinFailureBudget", "No failure observed yet.", gen),
    ]
    write_status(
        patch,
        status,
        gen,
        first if not (status or {}).get("conditions") else [],
        studyName=optuna_study_name(study, sweep),
        jobName=job_name(name),
        gpus=sweep.resources.gpu * sweep.parallelism,
    )


@kopf.timer(GROUP, VERSION, "trainingsweeps", interval=INTERVAL, initial_delay=1)
def observe_sweep(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Progress from the database, outcome from the Job, reasons from its pods."""
    gen = meta.get("generation")
    try:
        sweep, study = _sweep_and_study(name, namespace, spec, gen, status, patch, memo)
    except StudyNotReady:
        return  # the condition says why; the next tick looks again
    if _phase_problem(sweep, study):
        return  # the reconcile handler reported it; there is nothing to observe
    summary = None
    try:
        url = storage_url(memo, namespace, study.spec.storage_secret_ref)
        with memo.db.connect(url) as conn:
            summary = study_summary(conn, optuna_study_name(study, sweep))
    except (StorageUnavailable, StudyNotReady) as e:
        kopf.warn(body, reason="StorageUnavailable", message=str(e))
    except Exception as e:
        kopf.warn(body, reason="StorageUnavailable", message=describe_error(e))
    job = memo.kube.get("batch/v1", "Job", namespace, job_name(name))
    pods = memo.kube.list("v1", "Pod", namespace, {"cappuccino.dev/trainingsweep": name})
    fields, conditions, suspend = sweep_status(sweep, summary, job, pods, gen)
    if suspend and job is not None and not (job.get("spec") or {}).get("suspend"):
        memo.kube.patch("batch/v1", "Job", namespace, job_name(name), {"spec": {"suspend": True}})
    write_status(
        patch, status, gen, conditions, studyName=optuna_study_name(study, sweep), **fields
    )
