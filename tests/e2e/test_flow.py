"""The whole flow on a real kube-apiserver + PostgreSQL (DESIGN.md "Testing levels", e2e):
`kubectl apply` a Study, a TrainingSweep, an Arena and an Ensemble; act as the kubelet
(tests/e2e/kubelet.py) to run the operator's worker, validate (init) and trader containers
as local processes; report outcomes into Job/Deployment/Pod status like a kubelet and the
job controller would; and read the real results back with `kubectl get`.

Test-only deviation from a cluster, explicit (training sizes come from the Study's
spec.training, as a user sets them):
- `--max-polls 5` is appended to the trader argv: a real trader runs until it is stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kubelet import run_pod_container
from tests.support.controlplane import ControlPlane, OperatorProcess

TIMEOUT = 60
STUDY = "e2e-study"
SWEEP = "e2e-sweep"

# Small training sizes set through the Study itself (spec.training, spec.algorithm,
# spec.earlyStopping), as a user sizes training: a trial finishes in seconds.
SMALL_TRAINING: dict[str, Any] = {
    "training": {"numEnvs": 4, "episodeLength": 64, "totalTimesteps": 512,
                 "evalInterval": 1000, "cpuThreads": 1},
    "algorithm": {"name": "tpe", "nStartupTrials": 2},
    "earlyStopping": {"name": "median", "startupTrials": 2},
}  # fmt: skip


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    d = tmp_path / "artifacts"
    d.mkdir()
    return d


@pytest.fixture
def operator_env(artifact_root: Path) -> dict[str, str]:
    return {
        "CAPPUCCINO_ARTIFACT_ROOT": str(artifact_root),
        "CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1",
    }


def kubectl_apply(cp: ControlPlane, ns: str, obj: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def get(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)


def try_get(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    out = cp.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_flow(
    operator: OperatorProcess,
    control_plane: ControlPlane,
    namespace: str,
    postgres_url: str,
    artifact_root: Path,
    tmp_path: Path,
) -> None:
    cp, ns = control_plane, namespace
    started = time.monotonic()
    cp.kubectl(
        "create", "secret", "generic", "cappuccino-storage", "-n", ns,
        f"--from-literal=url={postgres_url}",
    )  # fmt: skip
    kubectl_apply(cp, ns, {
        "apiVersion": "cappuccino.dev/v1alpha1",
        "kind": "Study",
        "metadata": {"name": STUDY},
        "spec": {
            "studyName": STUDY,
            "direction": "maximize",
            **SMALL_TRAINING,
            "data": {"source": "sample", "symbols": ["BTC/USD", "ETH/USD"], "timeframe": "1h",
                     "start": "2018-06-01", "end": "2019-05-05"},
            "objective": {"cpcvGroups": 3, "cpcvTestGroups": 1, "fee": 0.0025},
            "searchSpace": {
                "net_dimension": {"choices": ["32"]},
                "batch_size": {"choices": ["128"]},
                "num_steps": {"choices": ["32"]},
                "update_epochs": {"low": 1, "high": 2},
            },
        },
    })  # fmt: skip
    kubectl_apply(cp, ns, {
        "apiVersion": "cappuccino.dev/v1alpha1",
        "kind": "TrainingSweep",
        "metadata": {"name": SWEEP},
        "spec": {"studyRef": {"name": STUDY}, "trials": 2, "parallelism": 1,
                 "resources": {"gpu": 0, "cpu": "1", "memory": "1Gi"}},
    })  # fmt: skip

    # Act as the kubelet: run the Job's worker pod locally.
    job = operator.wait_until(lambda: try_get(cp, ns, "job", f"{SWEEP}-workers"), TIMEOUT, "Job")
    pod = job["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    config_vol = next(v for v in pod["volumes"] if "configMap" in v)
    cm = get(cp, ns, "configmap", config_vol["configMap"]["name"])
    config_dir = tmp_path / "train-config"
    config_dir.mkdir()
    for key, value in cm["data"].items():
        (config_dir / key).write_text(value)
    t0 = time.monotonic()
    done = run_pod_container(
        cp.api_client(), ns, pod, worker["name"], workdir=tmp_path,
        volume_dirs={config_vol["name"]: config_dir}, shared_paths=[artifact_root], timeout=150,
    )  # fmt: skip
    print(f"worker: rc={done.returncode} in {time.monotonic() - t0:.1f}s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # Report the outcome like the job controller would.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cp.kubectl(
        "patch", "job", f"{SWEEP}-workers", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {
            "startTime": now, "completionTime": now, "succeeded": 1, "active": 0,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now,
                 "lastProbeTime": now},
                {"type": "Complete", "status": "True", "lastTransitionTime": now,
                 "lastProbeTime": now},
            ],
        }}),
    )  # fmt: skip

    def trials_done() -> dict[str, Any] | None:
        s = get(cp, ns, "study", STUDY).get("status") or {}
        return s if (s.get("trials") or {}).get("complete") == 2 else None

    study = operator.wait_until(trials_done, TIMEOUT, "2 COMPLETE trials in Study status")
    best = study["bestValue"]
    assert isinstance(best, float | int)
    out = cp.kubectl("get", "studies", "-n", ns).stdout
    print(out)
    assert out.splitlines()[1].split()[:3] == [STUDY, STUDY, "2"]
    sweep_out = cp.kubectl("get", "trainingsweeps", "-n", ns).stdout
    print(sweep_out)
    assert sweep_out.splitlines()[1].split()[:3] == [SWEEP, STUDY, "2/2"]

    # Arena + Ensemble: run each Deployment's init container and trader locally.
    trader_spec: dict[str, Any] = {
        "studyRef": {"name": STUDY}, "topN": 2, "minSharpe": -1.0e9, "pollInterval": "1s",
        "broker": {"type": "replay", "replay": {"secondsPerBar": 0}},
    }  # fmt: skip
    kubectl_apply(cp, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Arena",
                           "metadata": {"name": "e2e-arena"},
                           "spec": {**trader_spec, "promoteTop": 2}})  # fmt: skip
    ens_spec = {k: v for k, v in trader_spec.items() if k != "minSharpe"}
    kubectl_apply(cp, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Ensemble",
                           "metadata": {"name": "e2e-ensemble"}, "spec": ens_spec})  # fmt: skip
    for name in ("e2e-arena", "e2e-ensemble"):
        dep = operator.wait_until(
            lambda n=name: try_get(cp, ns, "deployment", f"{n}-trader"), TIMEOUT, "Deployment"
        )
        pod = dep["spec"]["template"]["spec"]
        workdir = tmp_path / name
        workdir.mkdir()
        init = pod["initContainers"][0]
        done = run_pod_container(
            cp.api_client(), ns, pod, init["name"], workdir=workdir, shared_paths=[artifact_root]
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # --max-polls: a test-only bound; a real trader runs until it is stopped.
        done = run_pod_container(
            cp.api_client(), ns, pod, pod["containers"][0]["name"], workdir=workdir,
            extra_args=["--max-polls", "5"], shared_paths=[artifact_root], timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        cp.kubectl(
            "patch", "deployment", f"{name}-trader", "-n", ns, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {
                "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}}),
        )  # fmt: skip

    def arena_leader() -> dict[str, Any] | None:
        s = get(cp, ns, "arena", "e2e-arena").get("status") or {}
        return s if s.get("leaderTrialId") is not None and "leaderSharpe" in s else None

    operator.wait_until(arena_leader, TIMEOUT, "arena leader from the trading tables")
    out = cp.kubectl("get", "arenas", "-n", ns).stdout
    print(out)
    row = out.splitlines()[1].split()
    assert row[0] == "e2e-arena" and row[2] == "2" and row[3].isdigit()
    assert float(row[4]) == pytest.approx(
        get(cp, ns, "arena", "e2e-arena")["status"]["leaderSharpe"]
    )

    def ensemble_equity() -> dict[str, Any] | None:
        s = get(cp, ns, "ensemble", "e2e-ensemble").get("status") or {}
        return s if s.get("equity") is not None else None

    ens = operator.wait_until(ensemble_equity, TIMEOUT, "ensemble equity from the ledger")
    print(cp.kubectl("get", "ensembles", "-n", ns).stdout)
    assert ens["equity"] > 0
    for kind, name in (("arena", "e2e-arena"), ("ensemble", "e2e-ensemble")):
        operator.wait_until(
            lambda k=kind, n=name: cond(get(cp, ns, k, n), "Ready").get("status") == "True",
            TIMEOUT,
            f"{kind}/{name} Ready=True",
        )

    # Negative path: tampered weights fail the init container with a one-line reason, and the
    # pod status reported to the API reaches the Arena's Ready condition.
    actor = sorted(artifact_root.rglob("actor.pth"))[0]
    actor.write_bytes(actor.read_bytes() + b"tampered")
    dep = get(cp, ns, "deployment", "e2e-arena-trader")
    pod = dep["spec"]["template"]["spec"]
    workdir = tmp_path / "tampered"
    workdir.mkdir()
    done = run_pod_container(
        cp.api_client(), ns, pod, pod["initContainers"][0]["name"], workdir=workdir,
        shared_paths=[artifact_root],
    )  # fmt: skip
    assert done.returncode != 0
    reason = done.stderr.strip().splitlines()[-1]
    print("init container:", reason)
    assert "actor.pth hashes to" in reason and "\n" not in reason
    cp.kubectl(
        "patch", "deployment", "e2e-arena-trader", "-n", ns, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {
            "replicas": 1, "readyReplicas": 0, "availableReplicas": 0, "updatedReplicas": 1,
            "unavailableReplicas": 1}}),
    )  # fmt: skip
    labels = dep["spec"]["template"]["metadata"]["labels"]
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e2e-arena-0", "labels": labels},
        "spec": {"initContainers": [{"name": pod["initContainers"][0]["name"], "image": "x"}],
                 "containers": [{"name": pod["containers"][0]["name"], "image": "x"}]},
    }))  # fmt: skip
    cp.kubectl(
        "patch", "pod", "e2e-arena-0", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"initContainerStatuses": [{
            "name": pod["initContainers"][0]["name"], "ready": False, "restartCount": 1,
            "image": "x", "imageID": "",
            "state": {"terminated": {"exitCode": done.returncode, "reason": "Error",
                                     "message": reason}},
        }]}}),
    )  # fmt: skip

    def init_failed() -> dict[str, Any] | None:
        c = cond(get(cp, ns, "arena", "e2e-arena"), "Ready")
        return (
            c
            if c.get("status") == "False" and "actor.pth hashes to" in c.get("message", "")
            else None
        )

    ready = operator.wait_until(init_failed, TIMEOUT, "Arena Ready=False with the init reason")
    print("arena Ready:", ready)
    assert ready["reason"] == "InitContainerFailed" and reason in ready["message"]
    print(f"e2e total {time.monotonic() - started:.1f}s")


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return c
    return {}
