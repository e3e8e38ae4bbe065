"""Real pods from the project's runtime image, without the operator: what the kubelet makes of
a failing `cappuccino` command (the termination message the operator copies into conditions)
and how promptly a running one stops on `kubectl delete pod` (SIGTERM to PID 1)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.controlplane import wait_for
from tests.support.realcluster import RealCluster

SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}


def pod(name: str, image: str, command: list[str], restart: str = "Never") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "securityContext": POD_SECURITY,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": command,
                    "securityContext": SECURITY,
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def status(rc: RealCluster, ns: str, name: str) -> dict[str, Any]:
    out = rc.kubectl("get", "pod", name, "-n", ns, "-o", "json")
    return json.loads(out.stdout).get("status") or {}


def test_failing_command_reason_is_the_termination_message(
    real_cluster: RealCluster, real_namespace: str
) -> None:
    rc, ns = real_cluster, real_namespace
    cmd = ["cappuccino", "validate", "--manifest", "/tmp/no-such-manifest.json"]
    rc.kubectl(
        "apply", "-n", ns, "-f", "-", input=json.dumps(pod("fails", rc.images["runtime"], cmd))
    )

    def terminated() -> dict[str, Any] | None:
        for cs in status(rc, ns, "fails").get("containerStatuses") or ():
            if t := (cs.get("state") or {}).get("terminated"):
                return t
        return None

    t = wait_for(terminated, 180, "the pod's container to terminate", interval=1)
    print("terminated:", t)
    assert t["exitCode"] != 0
    assert "no-such-manifest.json" in t["message"] and "\n" not in t["message"].strip()


def test_running_cappuccino_stops_promptly_on_delete(
    real_cluster: RealCluster, real_namespace: str
) -> None:
    """`cappuccino demo` (training, CPU-bound) as PID 1, as in the operator's pods (they set
    `command`, so no init process runs): `kubectl delete pod` must not wait out the grace period."""
    rc, ns = real_cluster, real_namespace
    spec = pod("busy", rc.images["runtime"], ["cappuccino", "demo"], restart="Always")
    rc.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(spec))
    rc.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/busy", "--timeout=180s")
    wait_for(
        lambda: rc.kubectl("logs", "busy", "-n", ns, check=False).stdout.strip(),
        120,
        "the demo to start working (first log line)",
        interval=1,
    )
    t0 = time.monotonic()
    rc.kubectl("delete", "pod", "busy", "-n", ns, "--wait=true", "--timeout=60s")
    elapsed = time.monotonic() - t0
    print(f"pod gone {elapsed:.1f} s after delete (grace period 30 s)")
    assert elapsed < 15, f"{elapsed:.1f} s: SIGTERM was not handled (the grace period ran out)"
