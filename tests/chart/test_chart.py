"""The Helm chart, rendered by the real helm binary: lint, security defaults, value checks, and
that its CRDs and RBAC are the single generated/declared sources, not copies that drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import find_bin_dir

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cappuccino"
KUBE_VERSION = "1.36.3"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(find_bin_dir() / "helm"), *args], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def render(*sets: str) -> list[dict[str, Any]]:
    argv = ["template", "t", str(CHART), "--namespace", "cappuccino-system"]
    argv += ["--kube-version", KUBE_VERSION]
    for s in sets:
        argv += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*argv).stdout) if d]


def test_chart_lints() -> None:
    out = helm("lint", str(CHART), "--kube-version", KUBE_VERSION).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def test_every_pod_is_non_root_with_read_only_root_filesystem() -> None:
    workloads = [d for d in render() if d["kind"] in {"Deployment", "StatefulSet"}]
    assert {d["kind"] for d in workloads} == {"Deployment", "StatefulSet"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, container["name"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]


def test_operator_reads_the_database_url_from_a_secret_never_a_literal() -> None:
    docs = render()
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CAPPUCCINO_STORAGE"]["valueFrom"]["secretKeyRef"] == {
        "name": "cappuccino-storage",
        "key": "url",
    }
    assert "value" not in env["CAPPUCCINO_STORAGE"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["run", "--all-namespaces", "--standalone"]


def test_models_go_to_a_shared_pvc_the_operator_knows() -> None:
    """Pods have read-only root filesystems: by default workers and traders share a PVC."""
    docs = render()
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "cappuccino-artifacts"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CAPPUCCINO_ARTIFACT_PVC"]["value"] == "cappuccino-artifacts"
    disabled = render("artifacts.pvc.enabled=false", "artifacts.root=s3://bucket/models")
    assert not [d for d in disabled if d["kind"] == "PersistentVolumeClaim"]
    deployment = next(d for d in disabled if d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "CAPPUCCINO_ARTIFACT_PVC" not in env
    assert env["CAPPUCCINO_ARTIFACT_ROOT"]["value"] == "s3://bucket/models"


def test_external_database_and_watched_namespaces() -> None:
    docs = render(
        "postgresql.enabled=false",
        "externalDatabase.urlSecret.name=my-db",
        "operator.watchNamespaces={research,trading}",
    )
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ref = next(e for e in container["env"] if e["name"] == "CAPPUCCINO_STORAGE")
    assert ref["valueFrom"]["secretKeyRef"]["name"] == "my-db"
    assert "--namespace=research" in container["args"]
    assert "--namespace=trading" in container["args"]
    assert not [d for d in docs if d["kind"] == "ClusterKopfPeering"]


def test_several_replicas_run_kopf_peering() -> None:
    docs = render("operator.replicas=2")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "--standalone" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    peering = next(d for d in docs if d["kind"] == "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "cappuccino"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["operator.replicas=0"], "operator.replicas: must be >= 1 (got 0)"),
        (["postgresql.enabled=false"], "externalDatabase.urlSecret.name: required"),
        (["operator.statusInterval=0"], "operator.statusInterval: must be > 0 seconds (got 0)"),
        (
            ["operator.replicas=2", "operator.watchNamespaces={a}"],
            "operator.watchNamespaces: must be empty when operator.replicas > 1",
        ),
        (
            ["artifacts.pvc.accessMode=ReadMany"],
            "artifacts.pvc.accessMode: must be ReadWriteMany, ReadWriteOnce or ReadWriteOncePod"
            ' (got "ReadMany")',
        ),
        (
            ["storageSecretName=Bad_Name"],
            'storageSecretName: must be a DNS-1123 name (got "Bad_Name")',
        ),
    ],
)
def test_bad_values_fail_naming_the_values_path(sets: list[str], message: str) -> None:
    argv = ["template", "t", str(CHART), "--kube-version", KUBE_VERSION]
    for s in sets:
        argv += ["--set", s]
    proc = helm(*argv, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_chart_crds_are_the_generated_crds() -> None:
    generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    shipped = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert shipped == generated, "run scripts/sync-chart"
    for name in generated:
        assert (CHART / "crds" / name).read_text() == (REPO / "crds" / name).read_text(), (
            f"charts/cappuccino/crds/{name} drifted from crds/{name}; run scripts/sync-chart"
        )


def test_chart_cluster_role_equals_the_operator_rbac() -> None:
    declared = next(
        d
        for d in yaml.safe_load_all((REPO / "operator" / "deploy" / "rbac.yaml").read_text())
        if d and d["kind"] == "ClusterRole"
    )
    rendered = next(d for d in render() if d["kind"] == "ClusterRole")
    assert rendered["rules"] == declared["rules"], "run scripts/sync-chart"


def test_values_table_in_readme_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "chart_values_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
