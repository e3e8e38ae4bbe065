"""`helm install`/`upgrade`/`uninstall` of charts/cappuccino against the real kube-apiserver: the
objects are accepted, the generated database passwords survive upgrades and re-installs, the
artifacts PVC survives `helm uninstall`, the schema rejects typos, an external database Secret
is checked, and `kubectl auth can-i` proves the RBAC of the operator, the dashboard and the
aggregated user roles in cluster-wide and namespaced installs."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import ControlPlane, wait_for

CHART = Path(__file__).resolve().parents[2] / "charts" / "cappuccino"
DB_SECRETS = ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly")


def helm(cp: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(cp.bin_dir / "helm"), f"--kubeconfig={cp.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stderr}"
    return proc


def get(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def exists(cp: ControlPlane, *args: str) -> bool:
    return cp.kubectl("get", *args, "-o", "name", check=False).returncode == 0


def urls(cp: ControlPlane, ns: str) -> dict[str, str]:
    out = {}
    for name in DB_SECRETS:
        out[name] = base64.b64decode(get(cp, "secret", name, "-n", ns)["data"]["url"]).decode()
    return out


def can(cp: ControlPlane, who: str, verb: str, resource: str, *where: str) -> bool:
    """`kubectl auth can-i`; `resource` may name a subresource as `kind.group/status`."""
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    proc = cp.kubectl("auth", "can-i", verb, resource, *extra, "--as", who, *where, check=False)
    answer = proc.stdout.strip()
    assert answer in {"yes", "no"}, proc.stderr
    return answer == "yes"


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cleanup(control_plane: ControlPlane) -> Iterator[list[tuple[str, str]]]:
    """Releases (name, namespace) to uninstall and namespaces to delete after the test."""
    releases: list[tuple[str, str]] = []
    yield releases
    for release, ns in releases:
        helm(control_plane, "uninstall", release, "--namespace", ns, check=False)
        control_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_install_upgrade_uninstall_cluster_wide(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chart"), fresh("capp")
    cleanup.append((release, ns))
    # Every optional component: the API server validates each object (PDB, NetworkPolicy, ...).
    components = (
        "dashboard.enabled=true",
        "optunaDashboard.enabled=true",
        "networkPolicy.enabled=true",
        "monitoring.serviceMonitor.enabled=true",
        "monitoring.podMonitor.enabled=true",
        "monitoring.grafanaDashboard.enabled=true",
        "operator.podDisruptionBudget.enabled=true",
    )
    sets = [arg for c in components for arg in ("--set", c)]
    rwx = ["--set", "artifacts.pvc.accessMode=ReadWriteMany"]
    helm(cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace", *sets, *rwx)

    names = {c["metadata"]["name"] for c in get(cp, "crd")["items"]}
    assert {"studies.cappuccino.dev", "arenas.cappuccino.dev"} <= names
    deployment = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "cappuccino-operator"
    get(cp, "statefulset", f"{release}-cappuccino-postgresql", "-n", ns)
    get(cp, "deployment", f"{release}-cappuccino-dashboard", "-n", ns)
    get(cp, "deployment", f"{release}-cappuccino-optuna-dashboard", "-n", ns)
    assert len(get(cp, "networkpolicy", "-n", ns)["items"]) == 4
    get(cp, "poddisruptionbudget", f"{release}-cappuccino-operator", "-n", ns)
    board = get(cp, "configmap", f"{release}-cappuccino-grafana-dashboard", "-n", ns)
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    # No Prometheus Operator CRDs on this cluster: the ServiceMonitor is skipped, not an error.
    assert "monitoring.coreos.com" not in cp.kubectl("api-versions").stdout

    first = urls(cp, ns)
    host = f"@{release}-cappuccino-postgresql.{ns}.svc:5432/cappuccino"
    for name, role in zip(DB_SECRETS, ("worker", "trader", "readonly"), strict=True):
        assert first[name].startswith(f"postgresql+psycopg://cappuccino_{role}:")
        assert first[name].endswith(host)

    # A typo is rejected by values.schema.json and the release stays as it was.
    bad = helm(cp, "upgrade", release, str(CHART), "-n", ns, "--set", "operatr.replicas=2",
               check=False)  # fmt: skip
    assert bad.returncode != 0
    assert "additional properties 'operatr' not allowed" in bad.stderr
    helm(
        cp, "upgrade", release, str(CHART), "-n", ns, *sets, *rwx, "--set", "operator.verbose=true"
    )
    assert urls(cp, ns) == first, "helm upgrade must keep the generated database passwords"
    revision = json.loads(helm(cp, "status", release, "-n", ns, "-o", "json").stdout)["version"]
    assert revision == 2

    # RBAC: the operator as in operator/deploy/rbac.yaml, cluster-wide.
    operator = f"system:serviceaccount:{ns}:cappuccino-operator"
    assert can(cp, operator, "create", "jobs.batch", "-A")
    assert can(cp, operator, "patch", "arenas.cappuccino.dev/status", "-A")
    assert can(cp, operator, "get", "secrets", "-n", "default")
    assert not can(cp, operator, "list", "secrets", "-A")
    assert not can(cp, operator, "create", "pods", "-A")
    # The dashboard: read-only on the four kinds, nothing else.
    dashboard = f"system:serviceaccount:{ns}:{release}-cappuccino-dashboard"
    assert can(cp, dashboard, "list", "studies.cappuccino.dev", "-A")
    assert can(cp, dashboard, "watch", "ensembles.cappuccino.dev", "-A")
    assert not can(cp, dashboard, "create", "studies.cappuccino.dev", "-A")
    assert not can(cp, dashboard, "patch", "arenas.cappuccino.dev/status", "-A")
    assert not can(cp, dashboard, "get", "secrets", "-n", ns)
    # People: the built-in view/edit roles now cover Cappuccino's kinds (aggregation).
    team = fresh("team")
    cp.kubectl("create", "namespace", team)
    cleanup.append(("-", team))
    cp.kubectl("create", "rolebinding", "v", "--clusterrole=view", "--user=viewer", "-n", team)
    cp.kubectl("create", "rolebinding", "e", "--clusterrole=edit", "--user=editor", "-n", team)

    def aggregated() -> bool:
        return can(cp, "viewer", "list", "studies.cappuccino.dev", "-n", team) and can(
            cp, "editor", "create", "trainingsweeps.cappuccino.dev", "-n", team
        )

    wait_for(aggregated, 30, "view/edit to aggregate cappuccino-view/cappuccino-edit")
    assert not can(cp, "viewer", "create", "studies.cappuccino.dev", "-n", team)
    assert not can(cp, "editor", "patch", "studies.cappuccino.dev/status", "-n", team)
    assert not can(cp, "viewer", "list", "studies.cappuccino.dev", "-n", ns)

    # Uninstall keeps every trained model and the password the database volume was made with.
    pvc_uid = get(cp, "pvc", "cappuccino-artifacts", "-n", ns)["metadata"]["uid"]
    helm(cp, "uninstall", release, "--namespace", ns)
    assert not exists(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)
    assert not exists(cp, "secret", "cappuccino-storage", "-n", ns)
    assert get(cp, "pvc", "cappuccino-artifacts", "-n", ns)["metadata"]["uid"] == pvc_uid
    assert exists(cp, "secret", f"{release}-cappuccino-postgresql-auth", "-n", ns)
    # Re-installing the same release adopts them: same PVC, same passwords. The new default
    # (ReadWriteOnce) does not fight the kept PVC's immutable access mode.
    helm(cp, "install", release, str(CHART), "--namespace", ns)
    pvc = get(cp, "pvc", "cappuccino-artifacts", "-n", ns)
    assert pvc["metadata"]["uid"] == pvc_uid
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert urls(cp, ns) == first


def test_namespaced_install_has_no_cluster_wide_access(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartns"), fresh("capp")
    research, trading, other = fresh("research"), fresh("trading"), fresh("other")
    for name in (research, trading, other):
        cp.kubectl("create", "namespace", name)
        cleanup.append(("-", name))
    cleanup.append((release, ns))
    helm(
        cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
        "--set", f"operator.watchNamespaces={{{research},{trading}}}",
        "--set", "dashboard.enabled=true",
    )  # fmt: skip
    args = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    assert f"--namespace={research}" in args
    assert "--all-namespaces" not in args

    operator = f"system:serviceaccount:{ns}:cappuccino-operator"
    for watched in (research, trading):
        assert can(cp, operator, "create", "jobs.batch", "-n", watched)
        assert can(cp, operator, "patch", "ensembles.cappuccino.dev/status", "-n", watched)
        assert can(cp, operator, "get", "secrets", "-n", watched)
        assert can(cp, operator, "create", "deployments.apps", "-n", watched)
    for outside in (other, ns, "default"):
        assert not can(cp, operator, "get", "secrets", "-n", outside)
        assert not can(cp, operator, "create", "jobs.batch", "-n", outside)
        assert not can(cp, operator, "list", "studies.cappuccino.dev", "-n", outside)
    assert not can(cp, operator, "list", "studies.cappuccino.dev", "-A")
    assert not can(cp, operator, "get", "secrets", "-A")
    assert not can(cp, operator, "patch", "clusterkopfpeerings.kopf.dev", "-A")
    assert can(cp, operator, "watch", "customresourcedefinitions.apiextensions.k8s.io", "-A")
    assert not can(cp, operator, "create", "customresourcedefinitions.apiextensions.k8s.io", "-A")
    assert not [
        r
        for r in get(cp, "clusterrolebinding")["items"]
        if any(s.get("namespace") == ns for s in r.get("subjects") or [])
        and r["roleRef"]["name"] != f"{release}-cappuccino-operator"
    ], "only the CRD-read ClusterRole may be bound cluster-wide"

    dashboard = f"system:serviceaccount:{ns}:{release}-cappuccino-dashboard"
    assert can(cp, dashboard, "list", "arenas.cappuccino.dev", "-n", research)
    assert not can(cp, dashboard, "list", "arenas.cappuccino.dev", "-n", other)
    assert not can(cp, dashboard, "list", "arenas.cappuccino.dev", "-A")


def test_external_database_secret_is_checked_at_install(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartext"), fresh("capp")
    cp.kubectl("create", "namespace", ns)
    cleanup.append((release, ns))
    url = "postgresql+psycopg://u:p@db.example:5432/cappuccino"
    for name in DB_SECRETS:
        cp.kubectl("create", "secret", "generic", name, f"--from-literal=uri={url}", "-n", ns)
    external = ["--set", "postgresql.enabled=false"]
    wrong = helm(cp, "install", release, str(CHART), "-n", ns, *external, check=False)
    assert wrong.returncode != 0
    assert (
        'database.storageSecret: Secret "cappuccino-storage" has no key "url" (keys: uri)'
        in wrong.stderr
    )
    helm(cp, "install", release, str(CHART), "-n", ns, *external, "--set", "database.secretKey=uri")
    env = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)["spec"]["template"][
        "spec"
    ]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "CAPPUCCINO_STORAGE")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "cappuccino-storage", "key": "uri"}
    assert get(cp, "statefulset", "-n", ns)["items"] == []


def monitoring_crd(kind: str, plural: str) -> dict[str, Any]:
    """A minimal stand-in for the Prometheus Operator's CRD (same group, version and kind)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def test_monitors_are_created_once_the_monitoring_api_exists(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartmon"), fresh("capp")
    cleanup.append((release, ns))
    crds = [monitoring_crd("ServiceMonitor", "servicemonitors"),
            monitoring_crd("PodMonitor", "podmonitors")]  # fmt: skip
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": crds})
    cp.kubectl("apply", "-f", "-", input=manifest)
    try:
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                   "crd/servicemonitors.monitoring.coreos.com",
                   "crd/podmonitors.monitoring.coreos.com")  # fmt: skip
        helm(
            cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
            "--set", "monitoring.serviceMonitor.enabled=true",
            "--set", "monitoring.podMonitor.enabled=true",
        )  # fmt: skip
        monitor = get(cp, "servicemonitor", f"{release}-cappuccino-operator", "-n", ns)
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        pods = get(cp, "podmonitor", f"{release}-cappuccino-workloads", "-n", ns)
        assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
        helm(cp, "uninstall", release, "--namespace", ns)
    finally:
        cp.kubectl("delete", "-f", "-", "--wait=true", input=manifest, check=False)
