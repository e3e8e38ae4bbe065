"""Issue 10.10 against a real API server: `kubectl describe` shows Normal events for the
lifecycle of a sweep (Job created, trials progressing) and of a trader (models selected,
trader created, trader ready), with no refused child involved (that case is
test_operator_level's ApplyFailed test)."""

from __future__ import annotations

import json

import pytest
from cappuccino_operator.testing import seed_trials

from tests.controlplane.test_operator_level import (
    TIMEOUT,
    _apply,
    _deployment_available,
    _study,
    _try_get,
)
from tests.support.controlplane import ControlPlane, OperatorProcess


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"}


def _normal_events(cp: ControlPlane, ns: str, name: str) -> dict[str, str]:
    out = cp.kubectl("get", "events", "-n", ns, "-o", "json",
                     f"--field-selector=involvedObject.name={name},type=Normal").stdout  # fmt: skip
    return {ev["reason"]: ev["message"] for ev in json.loads(out)["items"]}


def test_lifecycle_steps_are_normal_events(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    study_name = _study(cp, operator, namespace)
    seed_trials(operator.storage_url, study_name, [1.0, 2.0])
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 5})
    _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 1})

    sweep = operator.wait_until(
        lambda: "JobCreated" in (ev := _normal_events(cp, namespace, "sw")) and ev,
        TIMEOUT,
        "a JobCreated event",
    )
    assert "sw-workers" in sweep["JobCreated"]
    seed_trials(operator.storage_url, study_name, [3.0])
    sweep = operator.wait_until(
        lambda: "TrialsProgressing" in (ev := _normal_events(cp, namespace, "sw")) and ev,
        TIMEOUT,
        "a TrialsProgressing event",
    )
    assert "3/5 trials finished" in sweep["TrialsProgressing"]

    trader = operator.wait_until(
        lambda: (
            {"ModelsSelected", "TraderCreated"} <= set(ev := _normal_events(cp, namespace, "e"))
            and ev
        ),
        TIMEOUT,
        "ModelsSelected and TraderCreated events",
    )
    assert "e-trader" in trader["TraderCreated"]
    operator.wait_until(
        lambda: _try_get(cp, namespace, "deployment", "e-trader"), TIMEOUT, "trader"
    )
    _deployment_available(cp, namespace, "e-trader")
    operator.wait_until(
        lambda: "TraderReady" in _normal_events(cp, namespace, "e"), TIMEOUT, "a TraderReady event"
    )
