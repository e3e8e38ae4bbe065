"""`helm install` of charts/cappuccino into the real kube-apiserver: the chart's objects are
accepted by the API server, the database Secret is stable across upgrades, and the chart's
ServiceAccount gets exactly the operator's privileges."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.support.controlplane import ControlPlane

CHART = Path(__file__).resolve().parents[2] / "charts" / "cappuccino"


def helm(cp: ControlPlane, *args: str) -> str:
    proc = subprocess.run(
        [str(cp.bin_dir / "helm"), f"--kubeconfig={cp.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def get(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def test_helm_install_and_upgrade_on_a_real_api_server(control_plane: ControlPlane) -> None:
    ns = f"chart-{uuid.uuid4().hex[:8]}"
    release = f"capp-{uuid.uuid4().hex[:6]}"
    helm(control_plane, "install", release, str(CHART), "--namespace", ns, "--create-namespace")
    try:
        crds = get(control_plane, "crd")["items"]
        names = {c["metadata"]["name"] for c in crds}
        assert {"studies.cappuccino.dev", "arenas.cappuccino.dev"} <= names
        deployment = get(control_plane, "deployment", f"{release}-cappuccino-operator", "-n", ns)
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "cappuccino-operator"
        get(control_plane, "statefulset", f"{release}-cappuccino-postgresql", "-n", ns)

        def url() -> str:
            secret = get(control_plane, "secret", "cappuccino-storage", "-n", ns)
            return base64.b64decode(secret["data"]["url"]).decode()

        first = url()
        assert first.startswith("postgresql+psycopg://cappuccino:")
        assert f"@{release}-cappuccino-postgresql.{ns}.svc:5432/cappuccino" in first
        helm(control_plane, "upgrade", release, str(CHART), "--namespace", ns)
        assert url() == first, "helm upgrade must keep the generated database password"

        sa = f"system:serviceaccount:{ns}:cappuccino-operator"

        def can(verb: str, resource: str) -> bool:
            proc = control_plane.kubectl(
                "auth", "can-i", verb, resource, "--as", sa, "-A", check=False
            )
            return proc.stdout.strip() == "yes"

        assert can("create", "jobs.batch")
        assert can("patch", "arenas.cappuccino.dev/status")
        assert not can("list", "secrets")
        assert not can("create", "pods")
    finally:
        helm(control_plane, "uninstall", release, "--namespace", ns)
