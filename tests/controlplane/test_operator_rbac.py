"""The operator's ServiceAccount can do what the operator does, and nothing else
(`kubectl auth can-i --as=system:serviceaccount:cappuccino-system:cappuccino-operator`)."""

from __future__ import annotations

import pytest

from tests.controlplane.conftest import OperatorDeployment
from tests.support.controlplane import ControlPlane

SA = "system:serviceaccount:cappuccino-system:cappuccino-operator"

ALLOWED = [
    ("watch", "studies.cappuccino.dev"),
    ("list", "trainingsweeps.cappuccino.dev"),
    ("patch", "arenas.cappuccino.dev"),
    ("get", "ensembles.cappuccino.dev"),
    ("patch", "studies.cappuccino.dev/status"),
    ("patch", "trainingsweeps.cappuccino.dev/status"),
    ("patch", "arenas.cappuccino.dev/status"),
    ("patch", "ensembles.cappuccino.dev/status"),
    ("create", "jobs.batch"),
    ("patch", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("create", "services"),
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("list", "pods"),
    ("get", "secrets"),
    ("create", "events"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
]

DENIED = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("create", "pods"),
    ("delete", "pods"),
    ("delete", "nodes"),
    ("get", "nodes"),
    ("delete", "deployments.apps"),
    ("update", "deployments.apps"),
    ("create", "studies.cappuccino.dev"),
    ("delete", "arenas.cappuccino.dev"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("create", "pods/exec"),
    ("list", "namespaces"),
    ("*", "*"),
]


def _can(cp: ControlPlane, verb: str, resource: str, ns: str) -> str:
    proc = cp.kubectl("auth", "can-i", verb, resource, "-n", ns, as_user=SA, check=False)
    return proc.stdout.strip()


@pytest.mark.parametrize(("verb", "resource"), ALLOWED)
def test_operator_may(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, verb: str, resource: str
) -> None:
    assert _can(control_plane, verb, resource, "default") == "yes"


@pytest.mark.parametrize(("verb", "resource"), DENIED)
def test_operator_may_not(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, verb: str, resource: str
) -> None:
    assert _can(control_plane, verb, resource, "default") == "no"
