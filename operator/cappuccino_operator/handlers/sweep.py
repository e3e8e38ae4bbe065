"""TrainingSweep: an indexed Job of workers, reconciled level-based (every timer tick converges
the children to the spec) with sticky terminal states; a refit Job after success."""

from __future__ import annotations

from typing import Any

import kopf
from cappuccino_contracts.naming import refit_job_name
from cappuccino_contracts.naming import worker_job_name as job_name

from cappuccino_operator.api.sweep import TrainingSweepSpec, TrainingSweepStatus
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
    apply_child,
    normal_event,
    parse_spec,
    resolve_study,
    storage_url,
    write_status,
)
from cappuccino_operator.handlers.kinds import Event, OperatorMemo, register
from cappuccino_operator.kube import KubeError
from cappuccino_operator.metrics import inventory
from cappuccino_operator.observe import refit_condition, sweep_status, terminal_state
from cappuccino_operator.queries import StudySummary, study_summary, sweep_failures
from cappuccino_operator.storage import describe_error

__all__ = ["progress_message"]  # and registers its handlers (handlers.kinds.register)

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
    memo: OperatorMemo,
    namespace: str,
    study: StudyContext,
    sweep: TrainingSweepSpec,
    sid: str,
    body: Any,
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
    memo: OperatorMemo,
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


def _sync(ev: Event, from_timer: bool) -> None:
    """One level-based pass: observe everything, decide, converge the children."""
    name, namespace, body = ev.name, ev.namespace, ev.body
    status, patch, memo = ev.status, ev.patch, ev.memo
    gen = ev.generation
    sweep = parse_spec(TrainingSweepSpec, ev.spec, f"{KIND} {namespace}/{name}")
    owner = ev.owner
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
    if (
        terminal_state(status, gen) is not None
    ):  # sticky: never re-create a finished sweep's workers
        _sync_finished(ev, sweep, study, summary, failures, job, common)
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
    if message := progress_message(status.get("done"), summary, fields["done"], sweep.trials):
        normal_event(body, "TrialsProgressing", message)
    conditions = _drive(ev, sweep, study, job, outcome, conditions)
    inventory.set_children(owner, {"Job": 1, "ConfigMap": 1})
    write_status(
        patch, status, gen, conditions, TrainingSweepStatus.model_validate({**common, **fields})
    )


def progress_message(
    before: object, summary: StudySummary | None, done: int, trials: int
) -> str | None:
    """Pure: the TrialsProgressing event when more trials finished since the last status."""
    if summary is None or not isinstance(before, int) or done <= before:
        return None
    best = f"; best value {summary.best_value:.4g}" if summary.best_value is not None else ""
    return f"{done}/{trials} trials finished{best}."


def _sync_finished(
    ev: Event,
    sweep: TrainingSweepSpec,
    study: StudyContext,
    summary: StudySummary | None,
    failures: int,
    job: dict[str, Any] | None,
    common: dict[str, Any],
) -> None:
    """A finished sweep: progress figures and the refit only; its workers stay gone."""
    gen = ev.generation
    inventory.set_running(ev.owner, False)
    conditions = _refit(ev.name, ev.namespace, sweep, study, ev.status, ev.body, ev.memo, gen)
    fields: dict[str, Any] = {}
    if summary is not None:
        fields, _c, _o = sweep_status(sweep, summary, job, [], gen, sweep_failures=failures)
        fields.pop("workers", None)
    write_status(
        ev.patch,
        ev.status,
        gen,
        conditions,
        TrainingSweepStatus.model_validate({**common, **fields}),
    )
    inventory.set_children(ev.owner, {"Job": int(job is not None), "ConfigMap": 1})


def _drive(
    ev: Event,
    sweep: TrainingSweepSpec,
    study: StudyContext,
    job: dict[str, Any] | None,
    outcome: str | None,
    conditions: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Acts on the decided outcome: stops the workers (and refits) once it is reached, else
    converges the children; returns the conditions to write."""
    name, namespace, body, memo = ev.name, ev.namespace, ev.body, ev.memo
    if outcome is None:
        problem = _converge(memo, namespace, name, sweep, study, job, body)
        inventory.set_running(ev.owner, not sweep.suspend)
        if problem is None:
            return conditions
        return [c for c in conditions if c["type"] != "Succeeded"] + [problem]
    _stop_workers(memo, namespace, name, sweep, study, job, body)
    inventory.set_running(ev.owner, False)
    if outcome != "Succeeded":
        kopf.warn(body, reason="SweepFailed", message=conditions[0]["message"])
        return conditions
    conditions = conditions + _refit(
        name, namespace, sweep, study, ev.status, body, memo, ev.generation
    )
    normal_event(body, "SweepSucceeded", conditions[0]["message"])
    return conditions


def _stop_workers(
    memo: OperatorMemo,
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
    memo: OperatorMemo,
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
    config_map = build_train_config(name, namespace, study, sweep)
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


register(
    "trainingsweeps",
    KIND,
    _sync,
    short="sweep",
    timer_help="Level-based: progress from the database, outcome from the Job, reasons from its "
    "pods, and missing children re-created.",
)
