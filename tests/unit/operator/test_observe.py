"""Observed Job/pod/Deployment dicts -> status and conditions."""

from __future__ import annotations

from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.conditions import merge_conditions
from cappuccino_operator.observe import (
    goal_reached,
    pod_problems,
    sweep_status,
    terminal_state,
    trader_ready,
)
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
    fields, conds, outcome = sweep_status(SPEC, running, {"status": {"active": 2}}, [], 1)
    assert fields["progress"] == "3/10" and fields["gpus"] == 0 and outcome is None
    assert {c["type"]: c["reason"] for c in conds} == {
        "Succeeded": "Running",
        "Failed": "WithinFailureBudget",
    }
    done = StudySummary("s", {"complete": 8, "pruned": 2, "failed": 1}, 1.5, 42, 7)
    fields, conds, _ = sweep_status(SPEC, done, {"status": {}}, [], 1)
    assert fields["bestTrialId"] == 42
    assert {c["type"]: c["status"] for c in conds} == {"Succeeded": "True", "Failed": "False"}


def test_sweep_failure_budget_counts_only_this_sweeps_failures() -> None:
    """Issue 10.4: FAIL trials of the study that this sweep did not raise (stale heartbeats,
    other sweeps) are in counts["failed"] but not in sweep_failures."""
    many = StudySummary("s", {"failed": 30})
    _, conds, outcome = sweep_status(SPEC, many, {"status": {}}, [], 2, sweep_failures=2)
    assert outcome is None
    _, conds, outcome = sweep_status(SPEC, many, {"status": {}}, [], 2, sweep_failures=3)
    failed = next(c for c in conds if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "FailureBudgetSpent"
    assert outcome == "Failed" and failed["observedGeneration"] == 2


def test_objective_goal_ends_the_sweep_early() -> None:
    summary = StudySummary("s", {"complete": 2}, 1.7, 5, 1)
    _, conds, outcome = sweep_status(SPEC, summary, {"status": {}}, [], 1, goal=1.5)
    assert outcome == "Succeeded"
    assert next(c for c in conds if c["type"] == "Succeeded")["reason"] == "GoalReached"
    _, _, outcome = sweep_status(SPEC, summary, {"status": {}}, [], 1, goal=2.0)
    assert outcome is None
    assert goal_reached(0.1, 0.2, "minimize") and not goal_reached(0.3, 0.2, "minimize")


def test_terminal_states_are_sticky_for_their_generation() -> None:
    """Issue 10.2: once Failed/Succeeded for generation g, a deleted Job (TTL) changes nothing;
    only a new generation (a spec edit) re-opens the sweep."""
    conds = merge_conditions(
        [],
        [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "", "observedGeneration": 3},
            {"type": "Succeeded", "status": "False", "reason": "BackoffLimitExceeded",
             "message": "", "observedGeneration": 3},
        ],
    )  # fmt: skip
    assert terminal_state({"conditions": conds}, 3) == "Failed"
    assert terminal_state({"conditions": conds}, 4) is None
    assert terminal_state({}, 1) is None


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
    _, conds, outcome = sweep_status(SPEC, None, job, [], 1)
    assert outcome == "Failed"
    assert next(c for c in conds if c["type"] == "Failed")["reason"] == "DeadlineExceeded"


def test_trader_ready() -> None:
    assert trader_ready(None, [], 1)["reason"] == "Deploying"
    up = {"metadata": {"generation": 2}, "status": {"availableReplicas": 1, "updatedReplicas": 1}}
    assert trader_ready(up, [], 1)["status"] == "True"
    stale = {**up, "status": {**up["status"], "observedGeneration": 1}}
    assert trader_ready(stale, [], 1)["status"] == "False"  # old pod, new spec not rolled out
    assert trader_ready(up, [], 1, suspended=True)["reason"] == "Suspended"
    crash = _pod(initContainerStatuses=[{"name": "validate", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                         "lastState": {"terminated": {"exitCode": 1, "message": "trial 4 missing"}}}])  # fmt: skip
    ready = trader_ready({"status": {}}, [crash], 1)
    assert ready["reason"] == "InitContainerFailed" and "trial 4 missing" in ready["message"]
    # A Secret the pod mounts by name is missing (the operator never reads it: issue 10.7).
    missing = _pod(containerStatuses=[{"name": "trader", "state": {"waiting": {
        "reason": "CreateContainerConfigError",
        "message": 'secret "alpaca-paper" not found'}}}])  # fmt: skip
    ready = trader_ready({"status": {}}, [missing], 1)
    assert ready["status"] == "False" and ready["reason"] == "CreateContainerConfigError"
    assert 'secret "alpaca-paper" not found' in ready["message"]


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


def test_a_failed_index_ends_the_sweep_only_short_of_its_budget() -> None:
    """Issue 10.4: with backoffLimitPerIndex one worker giving up fails its index only; the
    Job reports FailedIndexes once all are done. Budget reached: Succeeded; short: Failed."""
    job = {"status": {"conditions": [{"type": "Failed", "status": "True",
                                      "reason": "FailedIndexes", "message": "Job has failed indexes"}]}}  # fmt: skip
    done = StudySummary("s", counts={"complete": 10}, best_value=1.0, best_trial_id=1,
                        best_trial_number=0)  # fmt: skip
    _f, conds, outcome = sweep_status(SPEC, done, job, [], 1)
    assert outcome == "Succeeded"
    short = StudySummary("s", counts={"complete": 4})
    _f, conds, outcome = sweep_status(SPEC, short, job, [], 1)
    assert outcome == "Failed"
    assert next(c for c in conds if c["type"] == "Failed")["reason"] == "FailedIndexes"
