"""The whole flow on a real kube-apiserver + PostgreSQL (DESIGN.md "Testing levels", e2e):
`kubectl apply` a Study, a TrainingSweep with `spec.refit`, an Arena and an Ensemble; act as
the kubelet (tests/e2e/kubelet.py) to run the operator's worker, refit, validate (init) and
trader containers as local processes; report outcomes into Job/Deployment/Pod status like a
kubelet and the job controller would; and read the real results back with `kubectl get`.

Issue 9 on the way: after the workers Job completes the operator starts the refit Job
(`cappuccino models refit`); once it ran, the Study shows `refitStudyName` `<study>-refit` and
the PBO/DSR the refit stored, and `kubectl get studies` prints the same PBO and DSR as
`cappuccino study report --json` run against the same PostgreSQL. The Arena and the Ensemble
then select the refit agents: with two trials the DSR is low, so each is first refused by the
DSR gate (the message names `allowLowDsr`), then `allowLowDsr: true` lets them through and the
frozen manifest records the override, `<study>-refit`, the refit trial ids and each model's own
hold-out numbers (equal to the refit trials' user attrs in PostgreSQL). The traders run on
those agents, and the tampered weights are a refit agent's.

Test-only deviation from a cluster, explicit (training sizes come from the Study's
spec.training, as a user sets them):
- `--max-polls 5` is appended to the trader argv: a real trader runs until it is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cappuccino_contracts.manifests import ARENA_FILE, ENSEMBLE_FILE
from kubernetes import client

from tests.e2e.kubelet import CAPPUCCINO, resolve_env, run_pod_container
from tests.support.controlplane import ControlPlane, OperatorProcess

TIMEOUT = 60
STUDY = "e2e-study"
SWEEP = "e2e-sweep"
REFIT_STUDY = f"{STUDY}-refit"
MIN_DSR = 0.95  # the Arena/Ensemble default of spec.minDsr

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
                 "resources": {"gpu": 0, "cpu": "1", "memory": "1Gi"},
                 "refit": {"topN": 2, "seeds": 1}},
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
    complete_job(cp, ns, f"{SWEEP}-workers")

    def trials_done() -> dict[str, Any] | None:
        s = get(cp, ns, "study", STUDY).get("status") or {}
        return s if (s.get("trials") or {}).get("complete") == 2 else None

    def searched() -> dict[str, Any] | None:
        s = trials_done()
        report = (s or {}).get("report") or {}
        return s if "pbo" in report and "dsr" in report else None

    # The last worker stored the study's PBO/DSR: the Study shows them before any refit.
    study = operator.wait_until(searched, TIMEOUT, "2 COMPLETE trials and PBO/DSR in Study status")
    assert study["report"]["nTrials"] == 2
    best = study["bestValue"]
    assert isinstance(best, float | int)
    out = cp.kubectl("get", "studies", "-n", ns).stdout
    print(out)
    assert out.splitlines()[1].split()[:3] == [STUDY, STUDY, "2"]
    sweep_out = cp.kubectl("get", "trainingsweeps", "-n", ns).stdout
    print(sweep_out)
    assert sweep_out.splitlines()[1].split()[:3] == [SWEEP, STUDY, "2/2"]

    # The refit Job the operator starts after the sweep succeeded: run its pod like the kubelet.
    refit_container = run_refit_job(operator, cp, ns, artifact_root, tmp_path)
    refit_trials = _refit_trials(postgres_url)
    assert len(refit_trials) == 2, refit_trials  # topN 2 x seeds 1
    refit_ids = {t._trial_id for t in refit_trials}
    check_study_report(operator, cp, ns, refit_container, tmp_path)

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
    traders = (("arena", "e2e-arena"), ("ensemble", "e2e-ensemble"))
    low = dsr_gate_refuses_then_override(operator, cp, ns, traders, refit_trials)
    manifests = {
        kind: check_manifest(operator, cp, ns, kind, name, refit_trials, low)
        for kind, name in traders
    }
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

    arena = operator.wait_until(arena_leader, TIMEOUT, "arena leader from the trading tables")
    assert arena["leaderTrialId"] in refit_ids  # the leader is a refit agent
    out = cp.kubectl("get", "arenas", "-n", ns).stdout
    print(out)
    row = out.splitlines()[1].split()
    assert row[:3] == ["e2e-arena", REFIT_STUDY, "2"] and row[3].isdigit()
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
    # (a refit agent's weights: the first model of the Arena's frozen manifest)
    actor = artifact_root / manifests["arena"]["models"][0]["source_dir"] / "actor.pth"
    assert actor.is_file(), actor
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


def run_refit_job(
    operator: OperatorProcess, cp: ControlPlane, ns: str, artifact_root: Path, tmp_path: Path
) -> dict[str, Any]:
    """Waits for the operator's refit Job, runs its container like the kubelet, reports the Job
    Complete and waits for the sweep's Refitted=True. Returns the refit container."""
    refit_job = operator.wait_until(
        lambda: try_get(cp, ns, "job", f"{SWEEP}-refit"), TIMEOUT, "refit Job"
    )
    pod = refit_job["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    assert container["command"][:5] == ["cappuccino", "models", "refit", "--study", STUDY]
    argv = container["command"]
    assert argv[argv.index("--top-n") + 1] == "2" and argv[argv.index("--seeds") + 1] == "1"
    workdir = tmp_path / "refit"
    workdir.mkdir()
    t0 = time.monotonic()
    done = run_pod_container(
        cp.api_client(), ns, pod, container["name"], workdir=workdir,
        shared_paths=[artifact_root], timeout=300,
    )  # fmt: skip
    print(f"refit: rc={done.returncode} in {time.monotonic() - t0:.1f}s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    complete_job(cp, ns, f"{SWEEP}-refit")
    operator.wait_until(
        lambda: cond(get(cp, ns, "trainingsweep", SWEEP), "Refitted").get("status") == "True",
        TIMEOUT,
        "TrainingSweep Refitted=True",
    )
    return container


def check_study_report(
    operator: OperatorProcess,
    cp: ControlPlane,
    ns: str,
    refit_container: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Study status: refitStudyName and the PBO/DSR; `kubectl get studies` prints the same
    PBO and DSR as `cappuccino study report --json` on the pods' PostgreSQL and artifacts."""

    def study_refit() -> dict[str, Any] | None:
        s = get(cp, ns, "study", STUDY).get("status") or {}
        report = s.get("report") or {}
        ok = s.get("refitStudyName") == REFIT_STUDY and "pbo" in report and "dsr" in report
        return s if ok else None

    study = operator.wait_until(study_refit, TIMEOUT, "refitStudyName and PBO/DSR in Study status")
    out = cp.kubectl("get", "studies", "-n", ns).stdout
    print(out)
    columns = dict(zip(out.splitlines()[0].split(), out.splitlines()[1].split(), strict=True))
    assert float(columns["PBO"]) == pytest.approx(study["report"]["pbo"])
    assert float(columns["DSR"]) == pytest.approx(study["report"]["dsr"])
    # The CLI with the storage and artifact root the refit pod got (its Secret-resolved env).
    pod_env = resolve_env(client.CoreV1Api(cp.api_client()), ns, refit_container, pod_name="cli")
    cli = subprocess.run(
        [str(CAPPUCCINO), "study", "report", "--study", STUDY, "--json"],
        env={**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")},
             "HOME": str(tmp_path), "CAPPUCCINO_HOME": str(tmp_path / "cli-home"),
             "CAPPUCCINO_STORAGE": pod_env["CAPPUCCINO_STORAGE"],
             "CAPPUCCINO_ARTIFACT_ROOT": pod_env["CAPPUCCINO_ARTIFACT_ROOT"]},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    report = json.loads(cli.stdout)
    print("cappuccino study report --json:", {k: report[k] for k in ("pbo", "dsr", "n_trials")})
    assert float(columns["PBO"]) == pytest.approx(report["pbo"])
    assert float(columns["DSR"]) == pytest.approx(report["dsr"])


def dsr_gate_refuses_then_override(
    operator: OperatorProcess,
    cp: ControlPlane,
    ns: str,
    traders: tuple[tuple[str, str], ...],
    refit_trials: list[Any],
) -> list[Any]:
    """The DSR gate (spec.minDsr, default 0.95) on the refit agents' own DSR (PostgreSQL):
    each trader CR refuses the low ones with a message naming allowLowDsr, and the override
    `allowLowDsr: true` is set. Returns the refit trials below the threshold."""
    dsrs = {t._trial_id: t.user_attrs.get("dsr") for t in refit_trials}
    assert all(isinstance(d, float) for d in dsrs.values()), f"refit agents' own DSR: {dsrs}"
    low = [t for t in refit_trials if t.user_attrs["dsr"] < MIN_DSR]
    if not low:
        print("every refit agent has DSR >= minDsr: nothing for the gate to refuse")
        return low
    for kind, name in traders:  # two trials of a tiny training: a low DSR, as it should be

        def refused(k: str = kind, n: str = name) -> dict[str, Any] | None:
            c = cond(get(cp, ns, k, n), "Ready")
            return c if c.get("reason") == "SelectionFailed" else None

        c = operator.wait_until(refused, TIMEOUT, f"{kind}/{name} refused by the DSR gate")
        print(f"{kind}/{name} Ready:", c["message"])
        assert f"Models below minDsr {MIN_DSR}" in c["message"] and "allowLowDsr" in c["message"]
        for t in low:
            assert f"{REFIT_STUDY}:{t._trial_id} (DSR {t.user_attrs['dsr']:.3f})" in c["message"]
        assert try_get(cp, ns, "deployment", f"{name}-trader") is None
        cp.kubectl("patch", kind, name, "-n", ns, "--type=merge",
                   "-p", json.dumps({"spec": {"allowLowDsr": True}}))  # fmt: skip
    return low


def check_manifest(
    operator: OperatorProcess,
    cp: ControlPlane,
    ns: str,
    kind: str,
    name: str,
    refit_trials: list[Any],
    low: list[Any],
) -> dict[str, Any]:
    """The frozen manifest trades the refit agents: `<study>-refit`, their trial ids, each
    model's own hold-out numbers equal to its user attrs, and the DSR gate as it was decided."""
    m = operator.wait_until(lambda: manifest(cp, ns, kind, name), TIMEOUT, f"{kind} manifest")
    print(f"{kind}/{name} manifest:", json.dumps(
        {k: m[k] for k in ("study_name", "model_count", "dsr_gate")}))  # fmt: skip
    assert m["study_name"] == REFIT_STUDY
    assert m["dsr_gate"] == {"threshold": MIN_DSR, "overridden": bool(low)}
    if kind == "ensemble":
        ids, numbers, dirs = m["trial_ids"], m["model_numbers"], m["source_dirs"]
    else:
        ids = [x["trial_id"] for x in m["models"]]
        numbers = [x["numbers"] for x in m["models"]]
        dirs = [x["source_dir"] for x in m["models"]]
    by_id = {t._trial_id: t for t in refit_trials}
    assert sorted(ids) == sorted(by_id), (ids, sorted(by_id))
    assert all(d.startswith(f"{REFIT_STUDY}/") for d in dirs), dirs
    for trial_id, got in zip(ids, numbers, strict=True):
        a = by_id[trial_id].user_attrs
        assert got["sharpe_kind"] == "holdout"
        assert got["sharpe"] == pytest.approx(a["holdout_sharpe"])
        assert got["holdout_sharpe"] == pytest.approx(a["holdout_sharpe"])
        assert got["holdout_bars"] == a["holdout_bars"] > 0
        assert (got["holdout_start"], got["holdout_end"]) == (a["holdout_start"], a["holdout_end"])
        assert got["dsr"] == pytest.approx(a["dsr"])
    return m


def complete_job(cp: ControlPlane, ns: str, job: str) -> None:
    """Reports a one-pod Job Complete, as the job controller would."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cp.kubectl(
        "patch", "job", job, "-n", ns, "--subresource=status", "--type=merge",
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


def _refit_trials(storage_url: str) -> list[Any]:
    """The COMPLETE trials of the refit study, read straight from PostgreSQL."""
    import optuna

    study = optuna.load_study(study_name=REFIT_STUDY, storage=storage_url)
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def manifest(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    """The frozen manifest of a trader CR, from the ConfigMap its status names (the one the
    trader Deployment mounts)."""
    ref = (get(cp, ns, kind, name).get("status") or {}).get("manifest") or {}
    cm = try_get(cp, ns, "configmap", ref["configMap"]) if ref.get("configMap") else None
    if cm is None:
        return None
    key = ENSEMBLE_FILE if kind == "ensemble" else ARENA_FILE
    data: dict[str, Any] = json.loads(cm["data"][key])
    return data


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return c
    return {}
