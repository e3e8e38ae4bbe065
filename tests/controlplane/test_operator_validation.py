"""Invalid specs are rejected by the API server itself (OpenAPI schema + CEL rules generated
from the pydantic models), with messages a user understands. No operator needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controlplane.conftest import OperatorDeployment
from tests.support.controlplane import ControlPlane

API = "cappuccino.dev/v1alpha1"


def _apply(cp: ControlPlane, ns: str, kind: str, spec: dict[str, Any], name: str = "x") -> str:
    doc = {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}
    proc = cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc), check=False)
    return proc.stderr if proc.returncode else ""


REF = {"studyRef": {"name": "s"}}


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        (
            "TrainingSweep",
            {**REF, "trials": 2, "parallelism": 5},
            "parallelism must not exceed trials",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 0},
            "spec.trials: Invalid value: 0: spec.trials in body should be greater than or equal to 1",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 5, "phase": "phase3"},
            'spec.phase: Unsupported value: "phase3"',
        ),
        ("TrainingSweep", {**REF, "trials": 5, "resources": {"gpu": -1}}, "spec.resources.gpu"),
        ("TrainingSweep", {"trials": 5}, "spec.studyRef: Required value"),
        (
            "Arena",
            {**REF, "topN": 3, "trialIds": [1, 2]},
            "set exactly one of topN (best N trials) or trialIds",
        ),
        ("Arena", {**REF}, "set exactly one of topN (best N trials) or trialIds"),
        (
            "Arena",
            {**REF, "topN": 0},
            "spec.topN: Invalid value: 0: spec.topN in body should be greater than or equal to 1",
        ),
        (
            "Arena",
            {**REF, "topN": 2, "promoteTop": 3},
            "promoteTop must not exceed the number of models",
        ),
        ("Arena", {**REF, "topN": 2, "pollInterval": "1 minute"}, "spec.pollInterval"),
        (
            "Arena",
            {**REF, "topN": 5, "broker": {"type": "alpaca"}},
            "broker.type alpaca needs broker.credentialsSecretRef",
        ),
        (
            "Ensemble",
            {**REF, "topN": 3, "voting": "plurality"},
            'spec.voting: Unsupported value: "plurality"',
        ),
        ("Ensemble", {**REF, "topN": 3, "initialCash": 0}, "spec.initialCash"),
        (
            "Study",
            {"data": {"start": "2024-01-01", "end": "2023-01-01"}},
            "data.start must be earlier than data.end",
        ),
        (
            "Study",
            {"objective": {"cpcvGroups": 3, "cpcvTestGroups": 3}},
            "cpcvTestGroups must be smaller than cpcvGroups",
        ),
        ("Study", {"direction": "up"}, 'spec.direction: Unsupported value: "up"'),
        ("Study", {"searchSpace": {"lr": {"low": 1, "high": 0.1}}}, "low must not exceed high"),
        ("Study", {"bogus": 1}, 'unknown field "spec.bogus"'),
        # Issue 10.9: what used to pass admission and fail later as a 422 on the child.
        (
            "TrainingSweep",
            {**REF, "trials": 5, "tolerations": [{"key": "a", "operator": "Exists", "value": "x"}]},
            "a toleration with operator Exists must not set a value",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 5, "tolerations": [{"operator": "Equal", "value": "x"}]},
            "a toleration without a key must use operator Exists",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 5, "tolerations": [{"key": "a", "tolerationSeconds": 5}]},
            "tolerationSeconds needs effect NoExecute",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 5, "nodeSelector": {"bad key!": "x"}},
            "nodeSelector keys must be label keys",
        ),
        (
            "TrainingSweep",
            {**REF, "trials": 5, "nodeSelector": {"gpu": "not a value"}},
            "spec.nodeSelector.gpu",
        ),
        ("TrainingSweep", {**REF, "trials": 5, "resources": {"cpu": "lots"}}, "spec.resources.cpu"),
        ("Ensemble", {**REF, "topN": 1, "resources": {"cpu": "lots"}}, "spec.resources.cpu"),
        ("Arena", {**REF, "topN": 1, "resources": {"memory": "1 GB"}}, "spec.resources.memory"),
        (
            "Study",
            {"algorithm": {"name": "grid"}},
            'spec.algorithm.name: Unsupported value: "grid"',
        ),
        ("Study", {"studyName": "a/b"}, "spec.studyName"),
        ("Study", {"studyName": "../etc"}, "spec.studyName"),
        ("Study", {"studyName": "a..b"}, "spec.studyName"),
        ("Study", {"studyName": "x" * 121}, "spec.studyName"),
    ],
)
def test_invalid_spec_is_rejected_with_a_clear_message(
    operator_deployment: OperatorDeployment,
    control_plane: ControlPlane,
    namespace: str,
    kind: str,
    spec: dict[str, Any],
    message: str,
) -> None:
    err = _apply(control_plane, namespace, kind, spec)
    assert message in err, err


def test_study_ref_and_study_name_are_immutable(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    assert _apply(cp, namespace, "Ensemble", {**REF, "topN": 2}) == ""
    err = _apply(cp, namespace, "Ensemble", {"studyRef": {"name": "other"}, "topN": 2})
    assert "studyRef is immutable; create a new resource instead." in err
    assert _apply(cp, namespace, "Study", {"studyName": "a"}, name="st") == ""
    assert "studyName is immutable" in _apply(cp, namespace, "Study", {"studyName": "b"}, name="st")
    assert _apply(cp, namespace, "TrainingSweep", {**REF, "trials": 3}, name="sw") == ""
    assert "studyRef is immutable" in _apply(
        cp, namespace, "TrainingSweep", {"studyRef": {"name": "t"}, "trials": 3}, name="sw"
    )


def test_study_data_objective_and_name_presence_are_immutable(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, namespace: str
) -> None:
    """Issue 10.5/10.9: what a study's trials were scored on cannot change under it, and a
    studyName cannot be added later to point the Study at another study."""
    cp = control_plane
    assert _apply(cp, namespace, "Study", {"data": {"timeframe": "1h"}}, name="st") == ""
    assert "data (what the study's trials were scored on) is immutable" in _apply(
        cp, namespace, "Study", {"data": {"timeframe": "4h"}}, name="st"
    )
    assert "objective (how the study's trials were scored) is immutable" in _apply(
        cp, namespace, "Study", {"data": {"timeframe": "1h"}, "objective": {"fee": 0.01}}, name="st"
    )
    assert "studyName cannot be added or removed after creation" in _apply(
        cp, namespace, "Study", {"data": {"timeframe": "1h"}, "studyName": "theirs"}, name="st"
    )
    # Training sizes, the sampler and the pruner may change (they apply to new trials).
    assert (
        _apply(
            cp,
            namespace,
            "Study",
            {"data": {"timeframe": "1h"}, "training": {"totalTimesteps": 1000},
             "algorithm": {"name": "random"}, "earlyStopping": {"name": "none"}},
            name="st",
        )
        == ""
    )  # fmt: skip


def test_defaults_are_filled_by_the_api_server(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    assert _apply(cp, namespace, "Arena", {**REF, "topN": 4}, name="a") == ""
    spec = json.loads(cp.kubectl("get", "arena", "a", "-n", namespace, "-o", "json").stdout)["spec"]
    assert spec["initialCash"] == 10000
    assert (
        spec["pollInterval"] == "60s" and spec["rankingWindow"] == "7d" and spec["promoteTop"] == 3
    )
    assert spec["broker"] == {"type": "replay", "replay": {"secondsPerBar": 1.0}}
    assert spec["risk"]["maxDrawdown"] == 0.2


def test_names_too_long_for_children_are_rejected(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, namespace: str
) -> None:
    err = _apply(control_plane, namespace, "Ensemble", {**REF, "topN": 2}, name="e" * 60)
    assert "metadata.name" in err and "45" in err, err
