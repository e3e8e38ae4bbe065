"""Observed state -> status: pure functions over the dicts the API server and database return.

Timers call these; unit tests feed them hand-written Job/Pod/Deployment dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.conditions import condition
from cappuccino_operator.queries import StudySummary

__all__ = ["PodProblem", "pod_problems", "sweep_status", "trader_ready"]

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


def sweep_status(
    spec: TrainingSweepSpec,
    summary: StudySummary | None,
    job: Mapping[str, Any] | None,
    pods: Iterable[Mapping[str, Any]],
    generation: int | None,
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """(status fields, conditions, whether to suspend the Job) of a TrainingSweep.

    Order as in Katib: the Job's own outcome, then the failure budget, then the trial budget.
    """
    problems = pod_problems(pods)
    jstatus = (job or {}).get("status") or {}
    finished = summary.finished if summary else 0
    failed = summary.counts.get("failed", 0) if summary else 0
    fields: dict[str, Any] = {
        "done": finished,
        "failedTrials": failed,
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
    job_failed = _job_condition(job, "Failed")
    job_complete = _job_condition(job, "Complete")
    over_budget = (
        spec.max_failed_trials is not None and failed >= spec.max_failed_trials and failed > 0
    )
    if job_failed is not None:
        reason = job_failed.get("reason") or "JobFailed"
        message = f"The worker Job failed ({reason}): {job_failed.get('message', '')}".rstrip(": ")
        if problems:
            message += f". Pods: {_join(problems)}"
        return (
            fields,
            [
                condition("Failed", "True", reason, message, g),
                condition("Succeeded", "False", reason, message, g),
            ],
            False,
        )
    if over_budget:
        message = (
            f"{failed} trials of study {summary.study_name if summary else '?'} failed; "
            f"maxFailedTrials is {spec.max_failed_trials}. Workers are suspended."
        )
        return (
            fields,
            [
                condition("Failed", "True", "FailureBudgetSpent", message, g),
                condition("Succeeded", "False", "FailureBudgetSpent", message, g),
            ],
            True,
        )
    if job_complete is not None or finished >= spec.trials:
        message = f"The study holds {finished} finished trials; the budget is {spec.trials}."
        return (
            fields,
            [
                condition("Succeeded", "True", "BudgetReached", message, g),
                condition("Failed", "False", "BudgetReached", message, g),
            ],
            False,
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
                f"{failed} failed trials; maxFailedTrials is {budget}.",
                g,
            ),
        ],
        False,
    )


def trader_ready(
    deployment: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]], generation: int | None
) -> dict[str, Any]:
    """The Ready condition of an Arena/Ensemble from its Deployment and pods."""
    if deployment is None:
        return condition(
            "Ready", "False", "Deploying", "The trader Deployment does not exist yet.", generation
        )
    problems = pod_problems(pods)
    available = int(((deployment.get("status") or {}).get("availableReplicas")) or 0)
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
