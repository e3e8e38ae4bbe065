"""Observed Job/pod/Deployment dicts -> status and conditions."""

from __future__ import annotations

from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.conditions import merge_conditions
from cappuccino_operator.observe import pod_problems, sweep_status, trader_ready
from cappuccino_operator.queries import StudySummary

SPEC = TrainingSweepSpec.model_validate(
    {"studyRef": {"name": "s"}, "trials": 10, "parallelism": 2, "maxFailedTrials": 3}
)


def _pod(**status) -> dict:
    return {"metadata": {"name": "p"}, "status": status}


def test_pod_problems_name_the_reason() -> None:
    pods = [
        _pod(
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes have nvidia.com/gpu",
                }
            ]
        ),
        _pod(
            containerStatuses=[
                {"name": "w", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ]
        ),
        _pod(
            initContainerStatuses=[
                {
                    "name": "validate",
                    "state": {"terminated": {"exitCode": 1, "message": "sha256 mismatch"}},
                }
            ]
        ),
    ]
    reasons = [(p.reason, p.message) for p in pod_problems(pods)]
    assert reasons[0][0] == "Unschedulable" and "nvidia.com/gpu" in reasons[0][1]
    assert reasons[1][0] == "OOMKilled"
    assert reasons[2][0] == "InitContainerFailed" and "sha256 mismatch" in reasons[2][1]


def test_sweep_running_then_budget_reached() -> None:
    running = StudySummary("s", {"complete": 3, "running": 2})
    fields, conds, suspend = sweep_status(SPEC, running, {"status": {"active": 2}}, [], 1)
    assert fields["progress"] == "3/10" and fields["gpus"] == 0 and not suspend
    assert {c["type"]: c["reason"] for c in conds} == {
        "Succeeded": "Running",
        "Failed": "WithinFailureBudget",
    }
    done = StudySummary("s", {"complete": 8, "pruned": 2, "failed": 1}, 1.5, 42, 7)
    fields, conds, _ = sweep_status(SPEC, done, {"status": {}}, [], 1)
    assert fields["bestTrialId"] == 42
    assert {c["type"]: c["status"] for c in conds} == {"Succeeded": "True", "Failed": "False"}


def test_sweep_failure_budget_suspends_workers() -> None:
    _, conds, suspend = sweep_status(SPEC, StudySummary("s", {"failed": 3}), {"status": {}}, [], 2)
    failed = next(c for c in conds if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "FailureBudgetSpent" and suspend
    assert failed["observedGeneration"] == 2


def test_sweep_job_failure_reason_wins() -> None:
    job = {
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "too slow",
                }
            ]
        }
    }
    _, conds, _ = sweep_status(SPEC, None, job, [], 1)
    assert next(c for c in conds if c["type"] == "Failed")["reason"] == "DeadlineExceeded"


def test_trader_ready() -> None:
    assert trader_ready(None, [], 1)["reason"] == "Deploying"
    assert trader_ready({"status": {"availableReplicas": 1}}, [], 1)["status"] == "True"
    crash = _pod(initContainerStatuses=[{"name": "validate", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                         "lastState": {"terminated": {"exitCode": 1, "message": "trial 4 missing"}}}])  # fmt: skip
    ready = trader_ready({"status": {}}, [crash], 1)
    assert ready["reason"] == "InitContainerFailed" and "trial 4 missing" in ready["message"]


def test_last_transition_time_changes_only_on_flip() -> None:
    first = merge_conditions(
        [], [{"type": "Ready", "status": "False", "reason": "A", "message": ""}], now="t1"
    )
    same = merge_conditions(
        first, [{"type": "Ready", "status": "False", "reason": "B", "message": ""}], now="t2"
    )
    flip = merge_conditions(
        same, [{"type": "Ready", "status": "True", "reason": "C", "message": ""}], now="t3"
    )
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flip[0])] == ["t1", "t1", "t3"]
    assert same[0]["reason"] == "B"
