"""examples/*.yaml applied to a real kube-apiserver with the operator running as its
ServiceAccount: children, their specs, owner references, and status following simulated
Job/pod outcomes and database state (no kubelet: outcomes are patched into status)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cappuccino_operator.testing import seed_trials, write_ranking, write_report, write_snapshot

from tests.controlplane.conftest import OperatorDeployment
from tests.support.controlplane import REPO_ROOT, ControlPlane, OperatorProcess
from tests.support.postgres import PostgresServer

EXAMPLES = REPO_ROOT / "examples"
STUDY = "btc-hourly"
TIMEOUT = 45


@pytest.fixture(scope="module")
def storage_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


@pytest.fixture(scope="module")
def op(
    operator_deployment: OperatorDeployment,
    storage_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """One operator for the whole module (status timers every second)."""
    proc = OperatorProcess(
        operator_deployment.kubeconfig,
        storage_url,
        tmp_path_factory.mktemp("operator") / "operator.log",
        extra_env={"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"},
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def apply(cp: ControlPlane, ns: str, *files: str) -> None:
    for f in files:
        cp.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f))


def get(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)


def items(cp: ControlPlane, ns: str, kind: str, selector: str) -> list[dict[str, Any]]:
    return json.loads(cp.kubectl("get", kind, "-n", ns, "-l", selector, "-o", "json").stdout)[
        "items"
    ]


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return c
    return {}


def wait_cond(
    op: OperatorProcess,
    cp: ControlPlane,
    ns: str,
    kind: str,
    name: str,
    type_: str,
    status: str,
    reason: str | None = None,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = get(cp, ns, kind, name)
        c = cond(obj, type_)
        if c.get("status") == status and (reason is None or c.get("reason") == reason):
            return obj
        return None

    return op.wait_until(check, TIMEOUT, f"{kind}/{name} {type_}={status} {reason or ''}")


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    return any(
        r["uid"] == owner["metadata"]["uid"] and r["kind"] == owner["kind"] and r.get("controller")
        for r in refs
    )


def test_study_example_becomes_ready_and_mirrors_trials(
    op: OperatorProcess, control_plane: ControlPlane, namespace: str, storage_url: str
) -> None:
    apply(control_plane, namespace, "study.yaml")
    study = wait_cond(op, control_plane, namespace, "study", STUDY, "Ready", "True", "StudyReady")
    optuna_name = f"{namespace}.{STUDY}"  # the default is namespace-qualified
    assert study["status"]["studyName"] == optuna_name
    assert cond(study, "Ready")["observedGeneration"] == study["metadata"]["generation"]
    ids = seed_trials(storage_url, optuna_name, [0.4, 1.3, 0.9], failed=1)

    def mirrored() -> dict[str, Any] | None:
        s = get(control_plane, namespace, "study", STUDY)["status"]
        return s if s.get("trials", {}).get("complete") == 3 else None

    status = op.wait_until(mirrored, TIMEOUT, "trial counts in Study status")
    assert status["trials"]["failed"] == 1
    assert status["bestValue"] == pytest.approx(1.3)
    assert status["bestTrialId"] == ids[1]
    assert isinstance(status["bestTrialNumber"], int)
    out = control_plane.kubectl("get", "studies", "-n", namespace).stdout
    header = ["NAME", "STUDY", "COMPLETE", "RUNNING", "BEST", "PBO", "DSR", "READY", "AGE"]
    assert out.split()[:9] == header
    assert optuna_name in out and "True" in out
    assert "report" not in status  # not computed: absent, never a made-up number
    write_report(storage_url, optuna_name, {"pbo": 0.48, "dsr": 0.39, "psr": 0.99,
                 "n_trials": 3, "computed_at": "2026-01-01T00:00:00Z"})  # fmt: skip
    report = op.wait_until(
        lambda: get(control_plane, namespace, "study", STUDY)["status"].get("report"),
        TIMEOUT,
        "PBO and DSR in Study status",
    )
    assert report == {"pbo": 0.48, "dsr": 0.39, "psr": 0.99, "nTrials": 3,
                      "computedAt": "2026-01-01T00:00:00Z"}  # fmt: skip
    row = control_plane.kubectl("get", "studies", "-n", namespace).stdout.splitlines()[1].split()
    assert row[5:7] == ["0.48", "0.39"]


def use_study(cp: ControlPlane, ns: str, study_name: str) -> None:
    """examples/study.yaml with its own Optuna study name (the database is shared)."""
    doc = yaml.safe_load((EXAMPLES / "study.yaml").read_text())
    doc["spec"]["studyName"] = study_name
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))


def _pod(
    name: str, labels: dict[str, str], status: dict[str, Any], init: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "trader" if init else "worker", "image": "x"}]}
    if init:
        spec["initContainers"] = [{"name": "validate", "image": "x"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": status,
    }


def create_pod_with_status(cp: ControlPlane, ns: str, pod: dict[str, Any]) -> None:
    status = pod.pop("status")
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    cp.kubectl(
        "patch", "pod", pod["metadata"]["name"], "-n", ns, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def test_trainingsweep_example_creates_gpu_job_and_follows_outcomes(
    op: OperatorProcess, control_plane: ControlPlane, namespace: str, storage_url: str
) -> None:
    cp = control_plane
    apply(cp, namespace, "study.yaml", "trainingsweep.yaml")
    name = "btc-hourly-sweep"
    job = op.wait_until(lambda: get(cp, namespace, "job", f"{name}-workers"), TIMEOUT, "worker Job")
    sweep = get(cp, namespace, "trainingsweep", name)
    assert owned_by(job, sweep)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4
    # Issue 10.4: retries per worker (index), so one bad worker does not end the others; the
    # API server accepts it beside podFailurePolicy, defaults the Job-wide limit to unlimited
    # and refuses to change it later (the builder sets it at creation).
    assert spec["backoffLimitPerIndex"] == 3 and spec["activeDeadlineSeconds"] == 86400
    assert spec["backoffLimit"] == 2147483647
    refused = cp.kubectl(
        "patch", "job", f"{name}-workers", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"backoffLimitPerIndex":5}}', check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "field is immutable" in refused.stderr, refused.stderr
    # Accepted by the API server as built: evictions/preemptions do not use up backoffLimit.
    assert spec["podFailurePolicy"]["rules"][0]["action"] == "Ignore"
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["ttlSecondsAfterFinished"] == 86400 and spec["suspend"] is False
    pod = spec["template"]["spec"]
    (worker,) = pod["containers"]
    assert worker["image"] == "cappuccino-runtime-cuda:0.1.0"
    argv = worker["command"]
    assert argv[:4] == ["cappuccino", "train", "--study", f"{namespace}.{STUDY}"]
    # the budget is the ConfigMap key the workers re-read, never argv (issue 10.8)
    assert argv[argv.index("--study-budget-file") + 1] == "/etc/cappuccino/study_budget"
    assert "--study-budget" not in argv
    assert get(cp, namespace, "configmap", f"{name}-train-config")["data"]["study_budget"] == "100"
    assert argv[argv.index("--symbols") + 1] == "BTC/USD,ETH/USD"
    assert argv[argv.index("--device") + 1] == "cuda"
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    storage_env = next(e for e in worker["env"] if e["name"] == "CAPPUCCINO_STORAGE")
    assert storage_env["valueFrom"]["secretKeyRef"] == {"name": "cappuccino-storage", "key": "url"}
    assert "postgresql" not in json.dumps(job), "the storage URL leaked into the Job"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = worker["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in worker["volumeMounts"]
    config = get(cp, namespace, "configmap", f"{name}-train-config")
    assert owned_by(config, sweep)
    train_config = json.loads(config["data"]["train.json"])
    assert train_config["cpcv"] == {"n_groups": 4, "n_test_groups": 2}
    assert train_config["search_space"]["net_dimension"] == {
        "type": "categorical",
        "choices": [256, 512, 1024],
    }

    # A worker pod stuck pulling its image: the reason reaches the condition message.
    labels = job["spec"]["template"]["metadata"]["labels"]
    create_pod_with_status(cp, namespace, _pod("w-0", labels, {
        "containerStatuses": [{
            "name": "worker", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image x"}},
        }],
    }))  # fmt: skip
    s = wait_cond(
        op, cp, namespace, "trainingsweep", name, "Succeeded", "Unknown", "ImagePullBackOff"
    )
    assert "Back-off pulling image x" in cond(s, "Succeeded")["message"]
    assert s["status"]["gpus"] == 4 and s["status"]["progress"].endswith("/100")

    # suspend/resume passes through to the Job.
    cp.kubectl(
        "patch",
        "trainingsweep",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":true}}',
    )
    op.wait_until(
        lambda: get(cp, namespace, "job", f"{name}-workers")["spec"]["suspend"],
        TIMEOUT,
        "Job suspended",
    )
    cp.kubectl(
        "patch",
        "trainingsweep",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":false}}',
    )
    op.wait_until(
        lambda: not get(cp, namespace, "job", f"{name}-workers")["spec"]["suspend"],
        TIMEOUT,
        "Job resumed",
    )

    # The Job fails: Failed=True with the Job's reason.
    now = "2026-01-01T00:00:00Z"
    cp.kubectl(
        "patch", "job", f"{name}-workers", "-n", namespace, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"startTime": now, "failed": 4, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": now, "lastProbeTime": now},
        ]}}),
    )  # fmt: skip
    s = wait_cond(
        op, cp, namespace, "trainingsweep", name, "Failed", "True", "BackoffLimitExceeded"
    )
    assert "backoff limit" in cond(s, "Failed")["message"]
    assert cond(s, "Succeeded")["status"] == "False"
    out = cp.kubectl("get", "trainingsweeps", "-n", namespace).stdout
    assert out.split()[:9] == [
        "NAME",
        "STUDY",
        "DONE",
        "WORKERS",
        "GPUS",
        "BEST",
        "SUCCEEDED",
        "FAILED",
        "AGE",
    ]


def test_trainingsweep_failure_budget_and_success(
    op: OperatorProcess,
    control_plane: ControlPlane,
    namespace: str,
    postgres_server: PostgresServer,
) -> None:
    cp = control_plane
    # Each sweep here uses its own study (study names are global in the shared database).
    study_name = f"budget-{namespace}"
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "cappuccino.dev/v1alpha1", "kind": "Study",
        "metadata": {"name": "s"}, "spec": {"studyName": study_name},
    }))  # fmt: skip
    for sweep, limit in (("fails", 2), ("succeeds", None)):
        spec: dict[str, Any] = {"studyRef": {"name": "s"}, "trials": 5, "parallelism": 2}
        if limit is not None:
            spec["maxFailedTrials"] = limit
        cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
            "apiVersion": "cappuccino.dev/v1alpha1", "kind": "TrainingSweep",
            "metadata": {"name": sweep}, "spec": spec,
        }))  # fmt: skip
    wrong = {"studyRef": {"name": "s"}, "trials": 5, "phase": "phase1"}
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "cappuccino.dev/v1alpha1", "kind": "TrainingSweep",
        "metadata": {"name": "wrong-phase"}, "spec": wrong,
    }))  # fmt: skip
    s = wait_cond(
        op, cp, namespace, "trainingsweep", "wrong-phase", "Failed", "True", "InvalidPhase"
    )
    assert "use phase full" in cond(s, "Failed")["message"]
    job = op.wait_until(lambda: get(cp, namespace, "job", "fails-workers"), TIMEOUT, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "cappuccino-runtime:0.1.0"
    assert "nvidia.com/gpu" not in json.dumps(
        job["spec"]["template"]["spec"]["containers"][0]["resources"]
    )
    wait_cond(op, cp, namespace, "study", "s", "Ready", "True")
    fails_uid = get(cp, namespace, "trainingsweep", "fails")["metadata"]["uid"]
    # FAIL trials a stale heartbeat left (suspend, preemption) and another sweep's failures
    # do not spend this sweep's budget; its own workers' raised trials do.
    seed_trials(op.storage_url, study_name, [], failed=3)
    seed_trials(op.storage_url, study_name, [], failed=3, failed_by=f"{namespace}/other/x")
    seed_trials(op.storage_url, study_name, [0.5, 0.7], failed=1,
                failed_by=f"{namespace}/fails/{fails_uid}")  # fmt: skip
    # the seeding adds its trials one by one: wait for the status that has seen all of them
    s = op.wait_until(
        lambda: (
            (o := get(cp, namespace, "trainingsweep", "fails"))["status"].get("done") == 2
            and o["status"].get("failedTrials") == 1
            and o
        ),
        TIMEOUT,
        "the seeded trials counted (done 2, this sweep's failedTrials 1)",
    )
    assert cond(s, "Failed")["status"] == "False"
    seed_trials(op.storage_url, study_name, [], failed=1,
                failed_by=f"{namespace}/fails/{fails_uid}")  # fmt: skip
    s = wait_cond(
        op, cp, namespace, "trainingsweep", "fails", "Failed", "True", "FailureBudgetSpent"
    )
    assert "maxFailedTrials is 2" in cond(s, "Failed")["message"]
    op.wait_until(
        lambda: get(cp, namespace, "job", "fails-workers")["spec"]["suspend"],
        TIMEOUT,
        "workers stopped",
    )
    seed_trials(op.storage_url, study_name, [0.9, 0.1, 0.2])  # FAIL trials do not count
    s = wait_cond(
        op, cp, namespace, "trainingsweep", "succeeds", "Succeeded", "True", "BudgetReached"
    )
    assert s["status"]["progress"] == "5/5"
    assert s["status"]["bestValue"] == pytest.approx(0.9)

    # The workers stop at the budget and their Job completes (as the Job controller reports).
    now = "2026-01-01T00:00:00Z"
    cp.kubectl(
        "patch", "job", "succeeds-workers", "-n", namespace, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"startTime": now, "completionTime": now, "succeeded": 2,
                               "completedIndexes": "0,1", "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
             "message": "", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached",
             "message": "", "lastTransitionTime": now, "lastProbeTime": now},
        ]}}),
    )  # fmt: skip
    # Raising the budget resumes the sweep: the Job's template is immutable, so the finished
    # Job is replaced by one with the new budget.
    old_uid = get(cp, namespace, "job", "succeeds-workers")["metadata"]["uid"]
    cp.kubectl(
        "patch",
        "trainingsweep",
        "succeeds",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"trials":8}}',
    )

    def replaced() -> dict[str, Any] | None:
        job = cp.kubectl(
            "get", "job", "succeeds-workers", "-n", namespace, "-o", "json", check=False
        )
        if job.returncode:
            return None
        obj = json.loads(job.stdout)
        return obj if obj["metadata"]["uid"] != old_uid else None

    job = op.wait_until(replaced, TIMEOUT, "Job replaced with the new budget")
    assert get(cp, namespace, "configmap", "succeeds-train-config")["data"]["study_budget"] == "8"
    s = wait_cond(op, cp, namespace, "trainingsweep", "succeeds", "Succeeded", "Unknown")
    assert s["status"]["progress"] == "5/8"
    assert cp.kubectl("get", "job", "wrong-phase-workers", "-n", namespace, check=False).returncode


def _trader_checks(
    cp: ControlPlane, ns: str, owner: dict[str, Any], name: str, verb: str, manifest_file: str
) -> dict[str, Any]:
    dep = get(cp, ns, "deployment", f"{name}-trader")
    assert owned_by(dep, owner)
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    pod = dep["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"][:4] == [
        "cappuccino",
        "validate",
        "--manifest",
        f"/etc/cappuccino/manifest/{manifest_file}",
    ]
    (trader,) = pod["containers"]
    assert trader["command"][:2] == ["cappuccino", verb]
    argv = trader["command"]
    assert argv[argv.index("--portfolio-id") + 1] == f"{ns}/{name}"
    assert argv[argv.index("--broker") + 1] == "replay"
    assert argv[argv.index("--replay-data") + 1] == "sample"  # the Study's data source
    assert trader["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert trader["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for c in (init, trader):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    ledger = next(e for e in trader["env"] if e["name"] == "CAPPUCCINO_LEDGER_URL")
    assert "secretKeyRef" in ledger["valueFrom"]
    svc = get(cp, ns, "service", f"{name}-metrics")
    assert owned_by(svc, owner)
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    cm_name = pod["volumes"][1]["configMap"]["name"]
    cm = get(cp, ns, "configmap", cm_name)
    assert owned_by(cm, owner)
    assert dep["spec"]["template"]["metadata"]["annotations"][
        "cappuccino.dev/manifest-hash"
    ].startswith(cm_name.rsplit("-", 1)[-1])
    return {"deployment": dep, "configmap": cm, "manifest": json.loads(cm["data"][manifest_file])}


def test_arena_example_freezes_selection_and_reports_leader(
    op: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    study_name = f"arena-{namespace}"  # studies are global in the module's database
    seeded = seed_trials(op.storage_url, study_name, [0.2, 2.0, 1.5, -0.3, 1.1, 0.8, 1.7])
    use_study(cp, namespace, study_name)
    apply(cp, namespace, "arena.yaml")
    op.wait_until(
        lambda: get(cp, namespace, "deployment", "btc-arena-trader"), TIMEOUT, "arena Deployment"
    )
    arena = get(cp, namespace, "arena", "btc-arena")
    found = _trader_checks(cp, namespace, arena, "btc-arena", "arena", "arena_config.json")
    manifest = found["manifest"]
    assert manifest["arena_name"] == "btc-arena" and manifest["study_name"] == study_name
    by_value = sorted(zip([0.2, 2.0, 1.5, -0.3, 1.1, 0.8, 1.7], seeded, strict=True), reverse=True)
    top5 = [tid for v, tid in by_value if v >= 0.0][:5]
    assert [m["trial_id"] for m in manifest["models"]] == top5
    assert all(len(m["sha256"]) == 64 for m in manifest["models"])
    assert manifest["promote_top"] == 3 and manifest["initial_cash"] == 10000
    # An init container (validation) failure shows in Ready.
    labels = found["deployment"]["spec"]["template"]["metadata"]["labels"]
    create_pod_with_status(cp, namespace, _pod("arena-0", labels, {
        "initContainerStatuses": [{
            "name": "validate", "ready": False, "restartCount": 3, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "message": "trial 7: sha256 of actor.pth does not match"}},
        }],
    }, init=True))  # fmt: skip
    a = wait_cond(op, cp, namespace, "arena", "btc-arena", "Ready", "False", "InitContainerFailed")
    assert "sha256 of actor.pth does not match" in cond(a, "Ready")["message"]
    cp.kubectl("delete", "pod", "arena-0", "-n", namespace, "--grace-period=0", "--force")
    cp.kubectl(
        "patch", "deployment", "btc-arena-trader", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}}),
    )  # fmt: skip
    wait_cond(op, cp, namespace, "arena", "btc-arena", "Ready", "True", "TraderRunning")
    write_ranking(
        op.storage_url,
        f"{namespace}/btc-arena",
        study_name,
        [(top5[1], 2.5), (top5[0], 1.2), (top5[2], 0.3)],
    )

    def leader() -> dict[str, Any] | None:
        s = get(cp, namespace, "arena", "btc-arena")["status"]
        return s if s.get("leaderTrialId") == top5[1] else None

    status = op.wait_until(leader, TIMEOUT, "arena leader in status")
    assert status["leaderSharpe"] == pytest.approx(2.5) and status["models"] == 5
    # the leader's Optuna trial number (a fresh study: the seeding order) is written too
    assert status["leaderTrialNumber"] == seeded.index(top5[1])
    out = cp.kubectl("get", "arenas", "-n", namespace).stdout
    assert out.split()[:7] == ["NAME", "STUDY", "MODELS", "LEADER", "SHARPE", "READY", "AGE"]
    row = out.splitlines()[1].split()
    assert row[:6] == ["btc-arena", study_name, "5", str(top5[1]), "2.5", "True"]
    print(out)  # pasted into operator/README.md


def test_ensemble_example_equity_and_rollout_on_spec_change(
    op: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    study_name = f"ens-{namespace}"
    values = [0.3, 1.2, 0.9, 1.8]
    seeded = seed_trials(op.storage_url, study_name, values)
    study = {
        "apiVersion": "cappuccino.dev/v1alpha1",
        "kind": "Study",
        "metadata": {"name": STUDY},
        "spec": {"studyName": study_name},
    }
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(study))
    apply(cp, namespace, "ensemble.yaml")
    op.wait_until(
        lambda: get(cp, namespace, "deployment", "btc-ensemble-trader"),
        TIMEOUT,
        "ensemble Deployment",
    )
    ens = get(cp, namespace, "ensemble", "btc-ensemble")
    found = _trader_checks(cp, namespace, ens, "btc-ensemble", "trade", "ensemble_manifest.json")
    m = found["manifest"]
    assert m["study_name"] == study_name and m["model_count"] == 3
    assert m["trial_ids"] == [seeded[3], seeded[1], seeded[2]]
    assert (
        m["trial_values"] == [1.8, 1.2, 0.9] and len(m["sha256"]) == 3 and m["voting"] == "majority"
    )
    write_snapshot(op.storage_url, f"{namespace}/btc-ensemble", 10250.0)

    def equity() -> dict[str, Any] | None:
        s = get(cp, namespace, "ensemble", "btc-ensemble")["status"]
        return s if s.get("equity") == 10250.0 else None

    status = op.wait_until(equity, TIMEOUT, "ensemble equity")
    assert status["returnPct"] == pytest.approx(2.5)
    out = cp.kubectl("get", "ensembles", "-n", namespace).stdout
    assert out.split()[:7] == ["NAME", "STUDY", "MODELS", "EQUITY", "RETURN", "READY", "AGE"]

    # A spec change freezes a new manifest and rolls the Deployment.
    old_cm = found["configmap"]["metadata"]["name"]
    old_hash = found["deployment"]["spec"]["template"]["metadata"]["annotations"][
        "cappuccino.dev/manifest-hash"
    ]
    cp.kubectl(
        "patch",
        "ensemble",
        "btc-ensemble",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"topN":2}}',
    )

    def rolled() -> dict[str, Any] | None:
        dep = get(cp, namespace, "deployment", "btc-ensemble-trader")
        h = dep["spec"]["template"]["metadata"]["annotations"]["cappuccino.dev/manifest-hash"]
        return dep if h != old_hash else None

    dep = op.wait_until(rolled, TIMEOUT, "Deployment rolled to the new manifest")
    new_cm = dep["spec"]["template"]["spec"]["volumes"][1]["configMap"]["name"]
    assert new_cm != old_cm
    assert json.loads(get(cp, namespace, "configmap", new_cm)["data"]["ensemble_manifest.json"])[
        "trial_ids"
    ] == [seeded[3], seeded[1]]
    op.wait_until(
        lambda: cp.kubectl("get", "configmap", old_cm, "-n", namespace, check=False).returncode != 0,
        TIMEOUT, "old manifest removed",
    )  # fmt: skip
    e = op.wait_until(
        lambda: (x := get(cp, namespace, "ensemble", "btc-ensemble"))["status"].get("models") == 2 and x,
        TIMEOUT, "models=2",
    )  # fmt: skip
    assert e["status"]["manifest"]["configMap"] == new_cm


def test_kubectl_get_category_lists_every_kind(
    op: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    seed_trials(op.storage_url, f"cat-{namespace}", [1.0, 2.0, 3.0, 4.0, 5.0])
    use_study(cp, namespace, f"cat-{namespace}")
    apply(cp, namespace, "trainingsweep.yaml", "arena.yaml", "ensemble.yaml")
    wait_cond(op, cp, namespace, "study", STUDY, "Ready", "True")
    op.wait_until(
        lambda: get(cp, namespace, "ensemble", "btc-ensemble")["status"].get("models"),
        TIMEOUT,
        "ensemble frozen",
    )
    op.wait_until(
        lambda: get(cp, namespace, "arena", "btc-arena")["status"].get("models"),
        TIMEOUT,
        "arena frozen",
    )
    # What a running system shows: traders available, a ranking and a snapshot written.
    available = {
        "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}
    }
    for dep in ("btc-arena-trader", "btc-ensemble-trader"):
        cp.kubectl("patch", "deployment", dep, "-n", namespace, "--subresource=status",
                   "--type=merge", "-p", json.dumps(available))  # fmt: skip
    arena = get(cp, namespace, "arena", "btc-arena")
    frozen = get(cp, namespace, "configmap", arena["status"]["manifest"]["configMap"])
    models = json.loads(frozen["data"]["arena_config.json"])["models"]
    write_ranking(op.storage_url, f"{namespace}/btc-arena", f"cat-{namespace}",
                  [(models[2]["trial_id"], 1.87), (models[0]["trial_id"], 1.02)])  # fmt: skip
    write_snapshot(op.storage_url, f"{namespace}/btc-ensemble", 10312.5)
    wait_cond(op, cp, namespace, "arena", "btc-arena", "Ready", "True")
    wait_cond(op, cp, namespace, "ensemble", "btc-ensemble", "Ready", "True")
    op.wait_until(
        lambda: (
            get(cp, namespace, "ensemble", "btc-ensemble")["status"].get("equity")
            and get(cp, namespace, "arena", "btc-arena")["status"].get("leaderTrialId")
        ),
        TIMEOUT,
        "equity and leader",
    )
    out = cp.kubectl("get", "studies,trainingsweeps,arenas,ensembles", "-n", namespace).stdout
    assert "10312.5" in out and "3.125" in out and "1.87" in out
    for header in ("study.cappuccino.dev/btc-hourly", "trainingsweep.cappuccino.dev/btc-hourly-sweep",
                   "arena.cappuccino.dev/btc-arena", "ensemble.cappuccino.dev/btc-ensemble"):  # fmt: skip
        assert header in out
    assert "LEADER" in out and "EQUITY" in out and "GPUS" in out
    cat = cp.kubectl("get", "cappuccino", "-n", namespace).stdout
    assert cat.count("cappuccino.dev/") == 4
    short = cp.kubectl("get", "cstudy,tsweep,carena,ens", "-n", namespace).stdout
    assert short.count("cappuccino.dev/") == 4
    print(out, cat, sep="\n")
