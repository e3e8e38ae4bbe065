"""TrainingSweep: an indexed Job of workers, reconciled level-based (every timer tick converges
the children to the spec) with sticky terminal states; a refit Job after success."""

from __future__ import annotations

from typing import Any

import kopf
from cappuccino_contracts.naming import refit_job_name
from cappuccino_contracts.naming import worker_job_name as job_name

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.builders.context import StudyContext
from cappuccino_operator.builders.sweep import (
    build_refit_job,
    build_sweep_job,
    build_train_config,
    job_apply_view,
    job_replacement,
    optuna_study_name,
    sweep_id,
)
from cappuccino_operator.conditions import condition, get_condition
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady, StudyOwnedElsewhere
from cappuccino_operator.handlers.common import (
    INTERVAL,
    apply_child,
    namespaced,
    normal_event,
    parse_spec,
    resolve_study,
    storage_url,
    write_status,
)
from cappuccino_operator.kube import KubeError
from cappuccino_operator.metrics import inventory, reconciled
from cappuccino_operator.observe import refit_condition, sweep_status, terminal_state
from cappuccino_operator.queries import StudySummary, study_summary, sweep_failures
from cappuccino_operator.storage import describe_error

__all__ = ["forget_sweep", "observe_sweep", "reconcile_sweep"]

RETRY = 10
KIND = "TrainingSweep"


def _phase_problem(sweep: TrainingSweepSpec, study: StudyContext) -> str | None:
    """Two-phase Studies run phase1 then phase2 sweeps; others run phase full."""
    if (sweep.phase == "full") != study.spec.two_phase:
        return None
    want = "phase1 or phase2" if study.spec.two_phase else "full"
    return (
        f"spec.phase={sweep.phase!r} does not fit Study {sweep.study_ref.name} "
        f"(twoPhase: {str(study.spec.two_phase).lower()}); use phase {want}."
    )


def _summary(
    memo: Any, namespace: str, study: StudyContext, sweep: TrainingSweepSpec, sid: str, body: Any
) -> tuple[StudySummary | None, int]:
    """The study's counts and this sweep's own trial failures; (None, 0) when unreadable."""
    name = optuna_study_name(study, sweep)
    try:
        url = storage_url(memo, namespace, study.spec.storage_secret_ref)
        with memo.db.connect(url) as conn:
            return study_summary(conn, name), sweep_failures(conn, name, sid)
    except (StorageUnavailable, StudyNotReady) as e:
        kopf.warn(body, reason="StorageUnavailable", message=str(e))
    except Exception as e:
        kopf.warn(body, reason="StorageUnavailable", message=describe_error(e))
    return None, 0


def _refit(
    name: str,
    namespace: str,
    sweep: TrainingSweepSpec,
    study: StudyContext,
    status: Any,
    body: Any,
    memo: Any,
    gen: int | None,
) -> list[dict[str, Any]]:
    """After success: ensures the refit Job (once: a finished refit is never re-run) and
    returns the Refitted condition."""
    if sweep.refit is None or sweep.phase == "phase1":
        return []
    done = get_condition((status or {}).get("conditions"), "Refitted") or {}
    if done.get("status") in ("True", "False") and done.get("observedGeneration") == gen:
        return []  # sticky, like the sweep's own outcome
    job = memo.kube.get("batch/v1", "Job", namespace, refit_job_name(name))
    if job is None:
        built = build_refit_job(name, namespace, sweep, study, memo.config)
        kopf.adopt(built, owner=body)
        job = apply_child(memo, built)
        normal_event(
            body,
            "RefitStarted",
            f"Job {refit_job_name(name)}: refitting the top {sweep.refit.top_n} trials with "
            f"{sweep.refit.seeds} seeds into study {study.refit_study_name!r}.",
        )
    return [refit_condition(job, gen)]


def _sync(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    *,
    from_timer: bool,
) -> None:
    """One level-based pass: observe everything, decide, converge the children."""
    gen = meta.get("generation")
    sweep = parse_spec(TrainingSweepSpec, spec, f"{KIND} {namespace}/{name}")
    owner = f"{namespace}/{name}"
    try:
        study = resolve_study(memo, namespace, sweep.study_ref.name)
    except (StudyNotReady, StudyOwnedElsewhere) as e:
        reason = "StudyNotFound" if isinstance(e, StudyNotReady) else "StudyOwnedElsewhere"
        write_status(patch, status, gen, [condition("Succeeded", "Unknown", reason, str(e), gen)])
        inventory.set_running(owner, False)
        if from_timer:
            return
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    if msg := _phase_problem(sweep, study):
        write_status(patch, status, gen, [condition("Failed", "True", "InvalidPhase", msg, gen)])
        if from_timer:
            return
        raise kopf.PermanentError(msg)
    sid = sweep_id(namespace, name, body["metadata"].get("uid", ""))
    summary, failures = _summary(memo, namespace, study, sweep, sid, body)
    job = memo.kube.get("batch/v1", "Job", namespace, job_name(name))
    common = {"studyName": optuna_study_name(study, sweep), "jobName": job_name(name)}
    ended = terminal_state(status, gen)
    if ended is not None:  # sticky: never re-create workers of a finished sweep
        inventory.set_running(owner, False)
        conditions = _refit(name, namespace, sweep, study, status, body, memo, gen)
        fields: dict[str, Any] = {}
        if summary is not None:
            fields, _c, _o = sweep_status(sweep, summary, job, [], gen, sweep_failures=failures)
            fields.pop("workers", None)
        write_status(patch, status, gen, conditions, **common, **fields)
        inventory.set_children(owner, {"Job": int(job is not None), "ConfigMap": 1})
        return
    pods = memo.kube.list("v1", "Pod", namespace, {"cappuccino.dev/trainingsweep": name})
    fields, conditions, outcome = sweep_status(
        sweep,
        summary,
        job,
        pods,
        gen,
        sweep_failures=failures,
        goal=study.spec.objective.goal,
        direction=study.spec.direction,
    )
    before = (status or {}).get("done")
    if summary is not None and isinstance(before, int) and fields["done"] > before:
        best = f"; best value {summary.best_value:.4g}" if summary.best_value is not None else ""
        normal_event(
            body,
            "TrialsProgressing",
            f"{fields['done']}/{sweep.trials} trials finished{best}.",
        )
    if outcome is not None:
        _stop_workers(memo, namespace, name, sweep, study, job, body)
        if outcome == "Succeeded":
            conditions += _refit(name, namespace, sweep, study, status, body, memo, gen)
            normal_event(body, "SweepSucceeded", conditions[0]["message"])
        else:
            kopf.warn(body, reason="SweepFailed", message=conditions[0]["message"])
        inventory.set_running(owner, False)
    else:
        problem = _converge(memo, namespace, name, sweep, study, job, body)
        if problem is not None:
            conditions = [c for c in conditions if c["type"] != "Succeeded"] + [problem]
        inventory.set_running(owner, not sweep.suspend)
    inventory.set_children(owner, {"Job": 1, "ConfigMap": 1})
    write_status(patch, status, gen, conditions, **common, **fields)


def _stop_workers(
    memo: Any,
    namespace: str,
    name: str,
    sweep: TrainingSweepSpec,
    study: StudyContext,
    job: dict[str, Any] | None,
    body: Any,
) -> None:
    """Suspends a still-active worker Job (budget spent, goal reached)."""
    if job is None or (job.get("spec") or {}).get("suspend"):
        return
    finished = any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )
    if finished:
        return
    built = build_sweep_job(
        name,
        namespace,
        sweep.model_copy(update={"suspend": True}),
        study,
        memo.config,
        body["metadata"].get("uid", ""),
    )
    kopf.adopt(built, owner=body)
    apply_child(memo, job_apply_view(job, built))


def _converge(
    memo: Any,
    namespace: str,
    name: str,
    sweep: TrainingSweepSpec,
    study: StudyContext,
    job: dict[str, Any] | None,
    body: Any,
) -> dict[str, Any] | None:
    """Applies the config and the worker Job (re-created when missing, replaced on real
    drift). Returns a Succeeded=Unknown condition when an apply was refused."""
    gen = body["metadata"].get("generation")
    config_map = build_train_config(name, namespace, study)
    built = build_sweep_job(
        name, namespace, sweep, study, memo.config, body["metadata"].get("uid", "")
    )
    kopf.adopt([config_map, built], owner=body)
    try:
        apply_child(memo, config_map)
        if why := job_replacement(job, built):
            memo.kube.delete("batch/v1", "Job", namespace, job_name(name))
            normal_event(body, "JobReplaced", f"Job {job_name(name)} is replaced: {why}.")
            return condition(
                "Succeeded", "Unknown", "Replacing", f"Job {job_name(name)}: {why}.", gen
            )
        apply_child(memo, job_apply_view(job, built))
    except KubeError as e:
        return condition("Succeeded", "Unknown", "ApplyFailed", f"{e}", gen)
    if job is None:
        normal_event(
            body,
            "JobCreated",
            f"Job {job_name(name)}: {sweep.parallelism} workers for study "
            f"{optuna_study_name(study, sweep)!r}, budget {sweep.trials} trials.",
        )
    return None


@kopf.on.resume(GROUP, VERSION, "trainingsweeps")
@kopf.on.create(GROUP, VERSION, "trainingsweeps")
@kopf.on.update(GROUP, VERSION, "trainingsweeps", field="spec")
def reconcile_sweep(
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    meta: kopf.Meta,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Converges the training-config ConfigMap and the worker Job (suspend/resume included)."""
    with reconciled(KIND):
        ns = namespaced(namespace, f"{KIND} {name}")
        _sync(name, ns, spec, meta, body, status, patch, memo, from_timer=False)


@kopf.timer(GROUP, VERSION, "trainingsweeps", interval=INTERVAL, initial_delay=1)
def observe_sweep(
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    meta: kopf.Meta,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Level-based: progress from the database, outcome from the Job, reasons from its pods,
    and missing children re-created."""
    with reconciled(KIND):
        ns = namespaced(namespace, f"{KIND} {name}")
        _sync(name, ns, spec, meta, body, status, patch, memo, from_timer=True)


@kopf.on.delete(GROUP, VERSION, "trainingsweeps", optional=True)
def forget_sweep(name: str, namespace: str | None, **_: Any) -> None:
    """Drops the sweep from the metrics (no finalizer: children go by garbage collection)."""
    inventory.forget(f"{namespace}/{name}")
