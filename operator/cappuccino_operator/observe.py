"""Observed state -> status: pure functions over the dicts the API server and database return.

Timers call these; unit tests feed them hand-written Job/Pod/Deployment dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.conditions import condition, get_condition
from cappuccino_operator.queries import StudySummary

__all__ = [
    "PodProblem",
    "goal_reached",
    "pod_problems",
    "refit_condition",
    "sweep_status",
    "terminal_state",
    "trader_ready",
]

_WAITING_PROBLEMS = {
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass(frozen=True)
class PodProblem:
    """Why one pod is stuck or failed: a CamelCase reason and a message naming the pod."""

    reason: str
    message: str


def _container_problems(
    pod_name: str, statuses: Iterable[Mapping[str, Any]], init: bool
) -> list[PodProblem]:
    out = []
    for cs in statuses or ():
        what = f"{'init container' if init else 'container'} {cs.get('name')} of pod {pod_name}"
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") in _WAITING_PROBLEMS:
            reason = waiting["reason"]
            detail = waiting.get("message") or ""
            if init and reason == "CrashLoopBackOff":
                reason = "InitContainerFailed"
                detail = last.get("message") or detail
                if last:
                    detail = f"exit code {last.get('exitCode')}: {detail}".rstrip(": ")
            out.append(PodProblem(reason, f"{what}: {waiting['reason']}: {detail}".rstrip(": ")))
        elif terminated.get("reason") == "OOMKilled" or last.get("reason") == "OOMKilled":
            out.append(PodProblem("OOMKilled", f"{what} was OOMKilled (raise resources.memory)."))
        elif init and terminated and terminated.get("exitCode", 0) != 0:
            msg = terminated.get("message") or terminated.get("reason") or "no message"
            out.append(
                PodProblem(
                    "InitContainerFailed",
                    f"{what} exited with code {terminated.get('exitCode')}: {msg}",
                )
            )
    return out


def pod_problems(pods: Iterable[Mapping[str, Any]]) -> list[PodProblem]:
    """Why pods are stuck: image pulls, scheduling, OOM kills, failed init containers."""
    out: list[PodProblem] = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        for cond in status.get("conditions") or ():
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                out.append(
                    PodProblem(
                        cond.get("reason") or "Unschedulable",
                        f"pod {name} is {cond.get('reason') or 'Unschedulable'}: {cond.get('message', '')}".rstrip(
                            ": "
                        ),
                    )
                )
        out += _container_problems(name, status.get("initContainerStatuses") or (), init=True)
        out += _container_problems(name, status.get("containerStatuses") or (), init=False)
    return out


def _job_condition(job: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for c in ((job or {}).get("status") or {}).get("conditions") or ():
        if c.get("type") == type_ and c.get("status") == "True":
            return c
    return None


def _join(problems: list[PodProblem]) -> str:
    return "; ".join(p.message for p in problems[:5])


def terminal_state(status: Mapping[str, Any] | None, generation: int | None) -> str | None:
    """ "Succeeded" or "Failed" when the sweep already ended for this generation of its spec.

    Terminal states are sticky: a Job deleted by ttlSecondsAfterFinished, an operator restart
    or a database outage never turns a finished sweep back into a running one. Only an edit of
    the spec (a new generation, e.g. a raised trial budget) re-opens it."""
    conditions = (status or {}).get("conditions")
    for type_ in ("Failed", "Succeeded"):
        c = get_condition(conditions, type_) or {}
        if c.get("status") == "True" and c.get("observedGeneration") == generation:
            return type_
    return None


def goal_reached(best: float | None, goal: float | None, direction: str) -> bool:
    """Whether the best trial value reaches the objective goal (direction-aware)."""
    if best is None or goal is None:
        return False
    return best >= goal if direction == "maximize" else best <= goal


def _job_failure(
    job: Mapping[str, Any] | None, finished: int, trials: int
) -> Mapping[str, Any] | None:
    """The Job's Failed condition, unless only some workers (indexes) gave up while the others
    reached the budget (backoffLimitPerIndex: reason FailedIndexes): that sweep succeeded."""
    failed = _job_condition(job, "Failed")
    if failed is not None and failed.get("reason") == "FailedIndexes" and finished >= trials:
        return None
    return failed


def sweep_status(
    spec: TrainingSweepSpec,
    summary: StudySummary | None,
    job: Mapping[str, Any] | None,
    pods: Iterable[Mapping[str, Any]],
    generation: int | None,
    *,
    sweep_failures: int = 0,
    goal: float | None = None,
    direction: str = "maximize",
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(status fields, conditions, outcome) of a TrainingSweep; outcome is "Succeeded" or
    "Failed" when the sweep ends now (the caller stops its workers), else None.

    Order as in Katib: the Job's own outcome, then the failure budget (this sweep's own trial
    failures only), then the objective goal, then the trial budget.
    """
    problems = pod_problems(pods)
    jstatus = (job or {}).get("status") or {}
    finished = summary.finished if summary else 0
    fields: dict[str, Any] = {
        "done": finished,
        "failedTrials": sweep_failures,
        "runningTrials": summary.counts.get("running", 0) if summary else 0,
        "progress": f"{finished}/{spec.trials}",
        "workers": {
            "active": int(jstatus.get("active") or 0),
            "succeeded": int(jstatus.get("succeeded") or 0),
            "failed": int(jstatus.get("failed") or 0),
        },
        "gpus": spec.resources.gpu * spec.parallelism,
    }
    if summary and summary.best_trial_id is not None:
        fields |= {
            "bestValue": summary.best_value,
            "bestTrialId": summary.best_trial_id,
            "bestTrialNumber": summary.best_trial_number,
        }
    g = generation

    def ended(kind: str, reason: str, message: str) -> tuple[Any, list[dict[str, Any]], str]:
        other = "Succeeded" if kind == "Failed" else "Failed"
        return (
            fields,
            [
                condition(kind, "True", reason, message, g),
                condition(other, "False", reason, message, g),
            ],
            kind,
        )

    job_failed = _job_failure(job, finished, spec.trials)
    if job_failed is not None:
        reason = job_failed.get("reason") or "JobFailed"
        message = f"The worker Job failed ({reason}): {job_failed.get('message', '')}".rstrip(": ")
        if problems:
            message += f". Pods: {_join(problems)}"
        return ended("Failed", reason, message)
    if spec.max_failed_trials is not None and 0 < spec.max_failed_trials <= sweep_failures:
        return ended(
            "Failed",
            "FailureBudgetSpent",
            f"{sweep_failures} trials of this sweep failed; maxFailedTrials is "
            f"{spec.max_failed_trials}. Workers are stopped.",
        )
    best = summary.best_value if summary else None
    if goal_reached(best, goal, direction):
        return ended(
            "Succeeded",
            "GoalReached",
            f"Best trial value {best} reached the objective goal {goal}; workers are stopped "
            f"after {finished} finished trials.",
        )
    if summary is not None and finished >= spec.trials:
        return ended(
            "Succeeded",
            "BudgetReached",
            f"The study holds {finished} finished trials; the budget is {spec.trials}.",
        )
    if spec.suspend:
        reason, message = "Suspended", "spec.suspend is true; workers are stopped."
    elif problems:
        reason, message = problems[0].reason, _join(problems)
    elif fields["workers"]["active"] > 0:
        reason, message = (
            "Running",
            f"{fields['workers']['active']} workers running; {finished}/{spec.trials} trials finished.",
        )
    else:
        reason, message = "Pending", "Waiting for worker pods to start."
    budget = "unlimited" if spec.max_failed_trials is None else str(spec.max_failed_trials)
    return (
        fields,
        [
            condition("Succeeded", "Unknown", reason, message, g),
            condition(
                "Failed",
                "False",
                "WithinFailureBudget",
                f"{sweep_failures} trials of this sweep failed; maxFailedTrials is {budget}.",
                g,
            ),
        ],
        None,
    )


def refit_condition(job: Mapping[str, Any] | None, generation: int | None) -> dict[str, Any]:
    """The Refitted condition from the refit Job."""
    if job is None:
        return condition(
            "Refitted", "Unknown", "RefitPending", "Creating the refit Job.", generation
        )
    if (c := _job_condition(job, "Complete")) is not None:
        return condition(
            "Refitted", "True", "RefitComplete", "The refit Job completed.", generation
        )
    if (c := _job_condition(job, "Failed")) is not None:
        msg = f"The refit Job failed ({c.get('reason')}): {c.get('message', '')}".rstrip(": ")
        return condition("Refitted", "False", "RefitFailed", msg, generation)
    return condition("Refitted", "Unknown", "RefitRunning", "The refit Job is running.", generation)


def trader_ready(
    deployment: Mapping[str, Any] | None,
    pods: Iterable[Mapping[str, Any]],
    generation: int | None,
    *,
    suspended: bool = False,
) -> dict[str, Any]:
    """The Ready condition of an Arena/Ensemble from its Deployment and pods: True only while
    the Deployment exists, has seen its newest spec and has an available, updated pod."""
    if deployment is None:
        return condition(
            "Ready", "False", "Deploying", "The trader Deployment does not exist yet.", generation
        )
    if suspended:
        return condition(
            "Ready",
            "False",
            "Suspended",
            "spec.suspend is true: the trader is stopped (replicas 0); its ledger is kept.",
            generation,
        )
    problems = pod_problems(pods)
    dstatus = deployment.get("status") or {}
    available = int(dstatus.get("availableReplicas") or 0)
    updated = int(dstatus.get("updatedReplicas") or 0)
    seen = dstatus.get("observedGeneration")
    if seen is not None and int(seen) < int(
        (deployment.get("metadata") or {}).get("generation") or 0
    ):
        available = 0  # the Deployment controller has not acted on the newest spec yet
    if updated < 1:
        available = 0
    if problems:
        return condition("Ready", "False", problems[0].reason, _join(problems), generation)
    if available >= 1:
        return condition(
            "Ready", "True", "TraderRunning", "The trader pod is available.", generation
        )
    return condition(
        "Ready",
        "False",
        "Deploying",
        "Waiting for the trader pod (validation runs first).",
        generation,
    )
