"""The operator's ServiceAccount can do what the operator does, and nothing else
(`kubectl auth can-i --as=system:serviceaccount:cappuccino-system:cappuccino-operator`)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.controlplane.conftest import OperatorDeployment
from tests.support.controlplane import RBAC_FILE, REPO_ROOT, ControlPlane

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
    # blockOwnerDeletion under OwnerReferencesPermissionEnforcement (issue 10.6).
    ("update", "trainingsweeps.cappuccino.dev/finalizers"),
    ("update", "arenas.cappuccino.dev/finalizers"),
    ("update", "ensembles.cappuccino.dev/finalizers"),
    ("create", "jobs.batch"),
    ("patch", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("create", "services"),
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("list", "pods"),
    ("create", "events"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
]

DENIED = [
    ("update", "studies.cappuccino.dev/finalizers"),  # a Study owns no children
    ("update", "trainingsweeps.cappuccino.dev/status"),  # status is patched, never replaced
    ("get", "secrets"),  # only the Secrets named in resourceNames (test below)
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
    """`kubectl auth can-i`; "kind/sub" is a subresource (can-i reads "x/y" as a name)."""
    kind, _, sub = resource.partition("/")
    args = [kind, f"--subresource={sub}"] if sub else [kind]
    proc = cp.kubectl("auth", "can-i", verb, *args, "-n", ns, as_user=SA, check=False)
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


@pytest.mark.parametrize("ns", ["default", "cappuccino-system"])
def test_operator_gets_only_the_named_secrets(
    operator_deployment: OperatorDeployment, control_plane: ControlPlane, ns: str
) -> None:
    """Issue 10.7, cluster-wide install: `get` on the installation's Secret names (and the
    examples' optuna-db), in any namespace; any other Secret, list and watch are refused."""

    def can(name: str) -> str:
        proc = control_plane.kubectl(
            "auth", "can-i", "get", f"secrets/{name}", "-n", ns, as_user=SA, check=False
        )
        return proc.stdout.strip()

    for name in ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly", "optuna-db"):
        assert can(name) == "yes", name
    for name in ("someone-elses", "cappuccino-postgresql-auth", "default-token"):
        assert can(name) == "no", name


NAMESPACED_FILE = REPO_ROOT / "operator" / "deploy" / "rbac-namespaced.yaml"
CLUSTER_ONLY = {"customresourcedefinitions", "clusterkopfpeerings"}


def _docs(path: Any) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return next(d for d in docs if d["kind"] == kind)["rules"]


def test_namespaced_rules_are_the_cluster_rules_with_secrets_by_name() -> None:
    """Issue 10.7: the Role of a namespaced install grants what the ClusterRole grants for
    namespaced resources, except that Secrets are readable only by name."""
    cluster = _rules(_docs(RBAC_FILE), "ClusterRole")
    role = _rules(_docs(NAMESPACED_FILE), "Role")

    def flat(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {
            (g, r.replace("clusterkopfpeerings", "kopfpeerings"), v)
            for rule in rules
            for g in rule["apiGroups"]
            for r in rule["resources"]
            for v in rule["verbs"]
            if r != "customresourcedefinitions"
        }

    secrets = [r for r in role if "secrets" in r["resources"]]
    assert secrets and all(r.get("resourceNames") for r in secrets)
    assert flat(role) == flat(cluster)


def test_namespaced_install_reconciles_only_its_namespace(
    control_plane: ControlPlane,
    operator_deployment: OperatorDeployment,
    namespace: str,
    postgres_url: str,
    tmp_path: Any,
) -> None:
    """An operator bound only by rbac-namespaced.yaml (Role in one namespace, no cluster-wide
    Secret access) runs `--namespace NS` and creates the children of its resources there,
    with OwnerReferencesPermissionEnforcement on."""
    from cappuccino_operator.testing import seed_trials

    from tests.controlplane.test_operator_level import _apply, _try_get, _wait_cond
    from tests.support.controlplane import OperatorProcess

    cp = control_plane
    sa_ns = f"{namespace}-op"
    text = NAMESPACED_FILE.read_text().replace("cappuccino-workloads", namespace)
    text = text.replace("cappuccino-system", sa_ns).replace(
        "cappuccino-operator-discovery", f"cappuccino-operator-discovery-{namespace}"
    )
    cp.kubectl("create", "namespace", sa_ns)
    try:
        cp.kubectl("apply", "-f", "-", input=text)
        sa = f"system:serviceaccount:{sa_ns}:cappuccino-operator"
        can = lambda *a: cp.kubectl("auth", "can-i", *a, as_user=sa, check=False).stdout.strip()  # noqa: E731
        assert can("create", "jobs.batch", "-n", namespace) == "yes"
        assert can("create", "jobs.batch", "-n", "default") == "no"
        assert can("get", "secrets/cappuccino-ledger", "-n", namespace) == "yes"
        assert can("get", "secrets/someone-elses", "-n", namespace) == "no"
        assert can("get", "secrets", "-n", "default") == "no"
        kubeconfig = cp.service_account_kubeconfig(sa_ns, "cappuccino-operator")
        op = OperatorProcess(
            kubeconfig,
            postgres_url,
            tmp_path / "operator.log",
            args=("run", "--namespace", namespace, "--standalone"),
            extra_env={"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"},
        )
        op.start()
        try:
            _apply(cp, namespace, "Study", "s", {})
            _wait_cond(op, cp, namespace, "study", "s", "Ready", status="True")
            seed_trials(postgres_url, f"{namespace}.s", [1.0, 2.0])
            _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 3})
            _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 2})
            op.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), 60, "Job")
            op.wait_until(lambda: _try_get(cp, namespace, "deployment", "e-trader"), 60, "trader")
            assert "403" not in op.logs(), op.logs()[-3000:]
        finally:
            op.stop()
    finally:
        cp.kubectl("delete", "-f", "-", input=text, check=False)
        cp.kubectl("delete", "namespace", sa_ns, "--wait=false")
