"""Level-based reconcile against a real API server (issue 10, items 1-3, 5, 9-12, 18): each test
runs a fresh operator as its ServiceAccount (status timers every second), with
OwnerReferencesPermissionEnforcement on, so every child it creates also proves item 6."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from cappuccino_operator.testing import seed_trials

from tests.controlplane.test_operator_examples import cond, get
from tests.support.controlplane import ControlPlane, OperatorProcess

API = "cappuccino.dev/v1alpha1"
TIMEOUT = 60


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"}


def _apply(cp: ControlPlane, ns: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    doc = {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))


def _patch(cp: ControlPlane, ns: str, kind: str, name: str, patch: dict[str, Any]) -> None:
    cp.kubectl("patch", kind, name, "-n", ns, "--type=merge", "-p", json.dumps(patch))


def _try_get(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    out = cp.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _wait_cond(
    op: OperatorProcess, cp: ControlPlane, ns: str, kind: str, name: str, type_: str, **want: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = _try_get(cp, ns, kind, name) or {}
        c = cond(obj, type_)
        return obj if c and all(c.get(k) == v for k, v in want.items()) else None

    return op.wait_until(check, TIMEOUT, f"{kind}/{name} {type_} {want}")


def _study(cp: ControlPlane, op: OperatorProcess, ns: str, name: str = "s", **spec: Any) -> str:
    _apply(cp, ns, "Study", name, spec)
    s = _wait_cond(op, cp, ns, "study", name, "Ready", status="True")
    return str(s["status"]["studyName"])


def _fail_job(cp: ControlPlane, ns: str, job: str) -> None:
    now = "2026-01-01T00:00:00Z"
    cp.kubectl(
        "patch", "job", job, "-n", ns, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"startTime": now, "failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": now,
             "lastProbeTime": now},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": now,
             "lastProbeTime": now},
        ]}}),
    )  # fmt: skip


def _deployment_available(cp: ControlPlane, ns: str, name: str) -> None:
    cp.kubectl(
        "patch", "deployment", name, "-n", ns, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                               "updatedReplicas": 1}}),
    )  # fmt: skip


def test_finished_sweep_stays_finished_after_ttl_deletion_and_restart(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Item 2: the Job of a Failed sweep deleted by ttlSecondsAfterFinished is not re-created,
    neither by the timers nor by the resume handler of a restarted operator."""
    cp = control_plane
    _study(cp, operator, namespace)
    _apply(cp, namespace, "TrainingSweep", "sw",
           {"studyRef": {"name": "s"}, "trials": 4, "ttlSecondsAfterFinished": 0})  # fmt: skip
    operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    _fail_job(cp, namespace, "sw-workers")
    _wait_cond(operator, cp, namespace, "trainingsweep", "sw", "Failed", status="True",
               reason="BackoffLimitExceeded")  # fmt: skip
    cp.kubectl("delete", "job", "sw-workers", "-n", namespace, "--wait=true")  # what TTL does
    time.sleep(4)  # several timer ticks
    assert _try_get(cp, namespace, "job", "sw-workers") is None
    operator.restart()
    operator.wait_until(
        lambda: "Handler 'reconcile_sweep' succeeded" in operator.logs().rsplit("SIGTERM", 1)[-1],
        TIMEOUT,
        "the restarted operator resuming the sweep",
    )
    time.sleep(3)
    assert _try_get(cp, namespace, "job", "sw-workers") is None
    s = get(cp, namespace, "trainingsweep", "sw")
    assert cond(s, "Failed")["status"] == "True"
    assert cond(s, "Succeeded")["status"] == "False"


def test_deleted_children_come_back_and_ready_tells_the_truth(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Item 3: a deleted Deployment or Job is re-created; Ready is False while it is missing
    or unavailable, True again only once it is available."""
    cp = control_plane
    study_name = _study(cp, operator, namespace)
    seed_trials(operator.storage_url, study_name, [1.0, 2.0, 3.0])
    _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 2})
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 9})
    first = operator.wait_until(
        lambda: _try_get(cp, namespace, "deployment", "e-trader"), TIMEOUT, "Deployment"
    )
    job = operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    _deployment_available(cp, namespace, "e-trader")
    _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", status="True")
    cp.kubectl("delete", "deployment", "e-trader", "-n", namespace, "--wait=true")
    cp.kubectl("delete", "job", "sw-workers", "-n", namespace, "--wait=true")

    def recreated(kind: str, name: str, old: dict[str, Any]) -> dict[str, Any] | None:
        obj = _try_get(cp, namespace, kind, name)
        return obj if obj and obj["metadata"]["uid"] != old["metadata"]["uid"] else None

    operator.wait_until(lambda: recreated("deployment", "e-trader", first), TIMEOUT, "Deployment")
    operator.wait_until(lambda: recreated("job", "sw-workers", job), TIMEOUT, "Job")
    e = _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", status="False")
    assert cond(e, "Ready")["reason"] == "Deploying"
    _deployment_available(cp, namespace, "e-trader")
    _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", status="True")


def test_server_side_apply_drops_removed_fields_and_suspend_stops_the_trader(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Items 1 and 11: switching the broker from alpaca to replay removes the Alpaca Secret
    volume and env (a strategic merge kept them); `kubectl scale` is reverted, spec.suspend
    is the way to stop a trader."""
    cp = control_plane
    study_name = _study(cp, operator, namespace)
    seed_trials(operator.storage_url, study_name, [1.0, 2.0])
    alpaca = {"type": "alpaca", "credentialsSecretRef": {"name": "alpaca-paper"}}
    _apply(cp, namespace, "Ensemble", "e",
           {"studyRef": {"name": "s"}, "topN": 2, "broker": alpaca})  # fmt: skip
    dep = operator.wait_until(
        lambda: _try_get(cp, namespace, "deployment", "e-trader"), TIMEOUT, "Deployment"
    )

    def alpaca_bits(d: dict[str, Any]) -> list[str]:
        pod = d["spec"]["template"]["spec"]
        env = [e["name"] for c in pod["containers"] for e in c.get("env", [])]
        vols = [v["name"] for v in pod.get("volumes", [])]
        return [x for x in [*env, *vols] if "ALPACA" in x or x == "alpaca"]

    assert alpaca_bits(dep) == ["ALPACA_CREDENTIALS_DIR", "alpaca"]
    _patch(cp, namespace, "ensemble", "e", {"spec": {"broker": {"type": "replay",
                                                                "credentialsSecretRef": None}}})  # fmt: skip
    dep = operator.wait_until(
        lambda: (d := get(cp, namespace, "deployment", "e-trader")) and not alpaca_bits(d) and d,
        TIMEOUT,
        "the Alpaca Secret volume and env removed",
    )
    cmd = dep["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[cmd.index("--broker") + 1] == "replay"
    cp.kubectl("scale", "deployment", "e-trader", "-n", namespace, "--replicas=0")
    operator.wait_until(
        lambda: get(cp, namespace, "deployment", "e-trader")["spec"]["replicas"] == 1,
        TIMEOUT,
        "kubectl scale reverted to the spec",
    )
    _patch(cp, namespace, "ensemble", "e", {"spec": {"suspend": True}})
    operator.wait_until(
        lambda: get(cp, namespace, "deployment", "e-trader")["spec"]["replicas"] == 0,
        TIMEOUT,
        "suspended trader scaled to 0",
    )
    e = _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", reason="Suspended")
    assert cond(e, "Ready")["status"] == "False"
    out = cp.kubectl("get", "deployment", "e-trader", "-n", namespace, "-o", "json",
                     "--show-managed-fields").stdout  # fmt: skip
    managers = {
        (m["manager"], m["operation"]) for m in json.loads(out)["metadata"]["managedFields"]
    }
    assert ("cappuccino-operator", "Apply") in managers


def test_editing_a_setting_keeps_the_selected_models(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Item 11: a better trial appearing does not change an Ensemble's models when only its
    cash is edited; changing the `reselect` token re-selects."""
    cp = control_plane
    study_name = _study(cp, operator, namespace)
    ids = seed_trials(operator.storage_url, study_name, [1.0, 2.0, 0.5])
    _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 2})

    def manifest() -> dict[str, Any] | None:
        e = _try_get(cp, namespace, "ensemble", "e") or {}
        ref = (e.get("status") or {}).get("manifest") or {}
        if ref.get("generation") != e.get("metadata", {}).get("generation"):
            return None
        cm = _try_get(cp, namespace, "configmap", ref["configMap"])
        return json.loads(cm["data"]["ensemble_manifest.json"]) if cm else None

    first = operator.wait_until(manifest, TIMEOUT, "first manifest")
    assert first["trial_ids"] == [ids[1], ids[0]]
    better = seed_trials(operator.storage_url, study_name, [9.0])
    _patch(cp, namespace, "ensemble", "e", {"spec": {"initialCash": 5000}})
    operator.wait_until(lambda: (m := manifest()) and m["initial_cash"] == 5000, TIMEOUT, "cash")
    assert manifest()["trial_ids"] == [ids[1], ids[0]]  # type: ignore[index]
    _patch(cp, namespace, "ensemble", "e", {"spec": {"reselect": "after-more-trials"}})
    m = operator.wait_until(
        lambda: (m := manifest()) and m["trial_ids"][0] == better[0] and m, TIMEOUT, "reselected"
    )
    assert m["trial_ids"] == [better[0], ids[1]]


def test_studies_are_isolated_by_namespace(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str, k8s: Any
) -> None:
    """Item 5: the default Optuna study name is namespace-qualified; a Study in another
    namespace pointing studyName at it is refused, and so are its sweeps."""
    from kubernetes import client

    cp = control_plane
    mine = _study(cp, operator, namespace)
    assert mine == f"{namespace}.s"
    other = f"{namespace}-b"
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        assert _study(cp, operator, other) == f"{other}.s"
        _apply(cp, other, "Study", "thief", {"studyName": mine})
        s = _wait_cond(operator, cp, other, "study", "thief", "Ready", reason="StudyOwnedElsewhere")
        assert namespace in cond(s, "Ready")["message"] and s["status"].get("studyName") is None
        _apply(cp, other, "TrainingSweep", "sw", {"studyRef": {"name": "thief"}, "trials": 3})
        _wait_cond(operator, cp, other, "trainingsweep", "sw", "Succeeded",
                   reason="StudyOwnedElsewhere")  # fmt: skip
        assert _try_get(cp, other, "job", "sw-workers") is None
        # Adding a studyName after creation is refused by the API server (CEL).
        doc = {"apiVersion": API, "kind": "Study", "metadata": {"name": "s"},
               "spec": {"studyName": mine}}  # fmt: skip
        err = cp.kubectl("apply", "-n", other, "-f", "-", input=json.dumps(doc), check=False)
        assert "studyName cannot be added or removed after creation" in err.stderr
    finally:
        core.delete_namespace(other)


def test_no_finalizer_so_an_uninstalled_operator_blocks_no_deletion(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Item 12: the status timers add no finalizer, so with the operator gone a CR (and its
    namespace) is still deleted at once."""
    cp = control_plane
    _study(cp, operator, namespace)
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 3})
    operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    time.sleep(2)  # timers ran
    for kind, name in (("study", "s"), ("trainingsweep", "sw")):
        assert not get(cp, namespace, kind, name)["metadata"].get("finalizers"), kind
    operator.stop()
    cp.kubectl("delete", "trainingsweep/sw", "study/s", "-n", namespace,
               "--wait=true", "--timeout=20s")  # fmt: skip


def test_apply_errors_reach_the_ready_condition_and_lifecycle_events(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Items 9 and 10: a child the API server refuses (here: a ResourceQuota allowing no
    Deployments) shows as Ready=False ApplyFailed with the server's message, not only as kopf
    retries; lifecycle steps are Normal events."""
    cp = control_plane
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-traders"},
             "spec": {"hard": {"count/deployments.apps": "0"}}}  # fmt: skip
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(quota))
    used = {
        "status": {"hard": {"count/deployments.apps": "0"}, "used": {"count/deployments.apps": "0"}}
    }  # the quota controller's job
    cp.kubectl("patch", "resourcequota", "no-traders", "-n", namespace, "--subresource=status",
               "--type=merge", "-p", json.dumps(used))  # fmt: skip
    study_name = _study(cp, operator, namespace)
    seed_trials(operator.storage_url, study_name, [1.0, 2.0])
    _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 1})
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 5})
    e = _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", reason="ApplyFailed")
    assert "quota" in cond(e, "Ready")["message"]

    def events(name: str) -> set[str]:
        out = cp.kubectl("get", "events", "-n", namespace, "-o", "json",
                         f"--field-selector=involvedObject.name={name},type=Normal").stdout  # fmt: skip
        return {ev["reason"] for ev in json.loads(out)["items"]}

    operator.wait_until(lambda: {"JobCreated"} <= events("sw"), TIMEOUT, "JobCreated event")
    seed_trials(operator.storage_url, study_name, [3.0])
    operator.wait_until(lambda: {"TrialsProgressing"} <= events("sw"), TIMEOUT, "progress event")
    operator.wait_until(lambda: {"ModelsSelected"} <= events("e"), TIMEOUT, "ModelsSelected")


def test_operator_metrics_endpoint(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Item 18 (contract 6 names)."""
    cp = control_plane
    _study(cp, operator, namespace)
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 3})
    operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"

    def scrape() -> str | None:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        return text if "cappuccino_operator_sweeps_running 1.0" in text else None

    text = operator.wait_until(scrape, TIMEOUT, "a running sweep in /metrics")
    assert 'cappuccino_operator_reconciles_total{kind="TrainingSweep",result="ok"}' in text
    assert 'cappuccino_operator_reconciles_total{kind="Study",result="ok"}' in text
    assert 'cappuccino_operator_children{kind="Job"} 1.0' in text
    assert "cappuccino_operator_errors_total" in text


def _complete_job(cp: ControlPlane, ns: str, job: str, succeeded: int = 1) -> None:
    now = "2026-01-01T00:00:00Z"
    extra = (
        {"completedIndexes": ",".join(str(i) for i in range(succeeded))} if succeeded > 1 else {}
    )
    cp.kubectl(
        "patch", "job", job, "-n", ns, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"startTime": now, "completionTime": now, "succeeded": succeeded,
                               **extra, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
             "message": "", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached",
             "message": "", "lastTransitionTime": now, "lastProbeTime": now},
        ]}}),
    )  # fmt: skip


def test_refit_after_success_then_traders_use_refit_agents_behind_the_dsr_gate(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Issue 9 (operator side): a succeeded sweep runs `cappuccino models refit`; the Study
    shows the refit study; an Ensemble trades `<S>-refit` agents, refuses one whose own DSR is
    below minDsr, and records an explicit override in the manifest (contract 3)."""
    cp = control_plane
    study_name = _study(cp, operator, namespace)
    _apply(cp, namespace, "TrainingSweep", "sw",
           {"studyRef": {"name": "s"}, "trials": 2, "refit": {"topN": 2, "seeds": 1}})  # fmt: skip
    operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    seed_trials(operator.storage_url, study_name, [1.0, 2.0])
    _wait_cond(operator, cp, namespace, "trainingsweep", "sw", "Succeeded", status="True")
    refit = operator.wait_until(
        lambda: _try_get(cp, namespace, "job", "sw-refit"), TIMEOUT, "refit Job"
    )
    argv = refit["spec"]["template"]["spec"]["containers"][0]["command"]
    assert argv[:5] == ["cappuccino", "models", "refit", "--study", study_name]
    assert argv[argv.index("--top-n") + 1] == "2" and argv[argv.index("--seeds") + 1] == "1"
    _complete_job(cp, namespace, "sw-refit")
    _wait_cond(operator, cp, namespace, "trainingsweep", "sw", "Refitted", status="True")
    good = {"dsr": 0.99, "holdout_sharpe": 1.4, "holdout_bars": 900,
            "holdout_start": "2019-01-01T00:00:00Z", "holdout_end": "2019-05-05T00:00:00Z"}  # fmt: skip
    refit_ids = seed_trials(operator.storage_url, f"{study_name}-refit", [1.4], numbers=good)
    low = seed_trials(operator.storage_url, f"{study_name}-refit", [1.1],
                      numbers={**good, "dsr": 0.3, "holdout_sharpe": 1.1})  # fmt: skip
    operator.wait_until(
        lambda: (
            get(cp, namespace, "study", "s")["status"].get("refitStudyName")
            == f"{study_name}-refit"
        ),
        TIMEOUT,
        "refit study in Study status",
    )
    _apply(cp, namespace, "Ensemble", "e", {"studyRef": {"name": "s"}, "topN": 2})
    e = _wait_cond(operator, cp, namespace, "ensemble", "e", "Ready", reason="SelectionFailed")
    msg = cond(e, "Ready")["message"]
    assert f"{study_name}-refit:{low[0]} (DSR 0.300)" in msg and "allowLowDsr" in msg
    _patch(cp, namespace, "ensemble", "e", {"spec": {"allowLowDsr": True}})

    def manifest() -> dict[str, Any] | None:
        ref = (get(cp, namespace, "ensemble", "e").get("status") or {}).get("manifest") or {}
        cm = _try_get(cp, namespace, "configmap", ref["configMap"]) if ref else None
        return json.loads(cm["data"]["ensemble_manifest.json"]) if cm else None

    m = operator.wait_until(
        lambda: (m := manifest()) and m["dsr_gate"]["overridden"] and m, TIMEOUT, "override"
    )
    assert m["study_name"] == f"{study_name}-refit"
    assert m["trial_ids"] == [refit_ids[0], low[0]]
    assert m["dsr_gate"]["threshold"] == 0.95
    assert m["model_numbers"][0]["holdout_sharpe"] == 1.4 and m["model_numbers"][1]["dsr"] == 0.3


def test_raising_the_budget_keeps_the_job_and_reaches_a_running_worker(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str, tmp_path: Any
) -> None:
    """Item 8: spec.trials lives in the sweep's ConfigMap (key study_budget), not in the pod:
    raising it replaces no Job and changes no template, and a real worker loop started with the
    old budget (on the operator's PostgreSQL study) stops at the new one. The kubelet's part,
    projecting the ConfigMap key into the mounted file, is done here by copying it."""
    from cappuccino_runtime.training.worker import (
        HeartbeatSettings,
        load_study,
        open_storage,
        run_worker,
    )

    cp = control_plane
    study_name = _study(cp, operator, namespace)
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 2})
    job = operator.wait_until(lambda: _try_get(cp, namespace, "job", "sw-workers"), TIMEOUT, "Job")
    budget_file = tmp_path / "study_budget"

    def project() -> str:
        cm = _try_get(cp, namespace, "configmap", "sw-train-config") or {}
        budget_file.write_text(cm.get("data", {}).get("study_budget", ""))
        return budget_file.read_text()

    assert operator.wait_until(lambda: project() == "2", TIMEOUT, "budget 2 in the ConfigMap")

    def objective(trial: Any) -> float:
        if trial.number == 0:  # the user raises the budget while this worker runs
            _patch(cp, namespace, "trainingsweep", "sw", {"spec": {"trials": 4}})
            operator.wait_until(lambda: project() == "4", TIMEOUT, "budget 4 in the ConfigMap")
        return float(trial.suggest_float("x", 0.0, 1.0))

    storage = open_storage(operator.storage_url, HeartbeatSettings(5, 20))
    summary = run_worker(
        load_study(study_name, storage),
        objective,
        n_trials=None,
        study_budget=None,
        budget_file=budget_file,
    )
    assert (summary.trials_run, summary.study_finished) == (4, 4)
    after = get(cp, namespace, "job", "sw-workers")
    assert after["metadata"]["uid"] == job["metadata"]["uid"]
    assert after["spec"]["template"] == job["spec"]["template"]
    s = _wait_cond(operator, cp, namespace, "trainingsweep", "sw", "Succeeded", status="True")
    assert s["status"]["progress"] == "4/4"
    assert get(cp, namespace, "job", "sw-workers")["metadata"]["uid"] == job["metadata"]["uid"]
