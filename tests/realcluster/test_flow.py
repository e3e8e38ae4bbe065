"""The whole flow on REAL pods (issue 11): `helm install` of charts/cappuccino on the real
cluster (operator pod from its image, the chart's PostgreSQL StatefulSet from a locally built
Debian image, the artifacts PVC bound to a hostPath volume), then `kubectl apply` of a Study,
a TrainingSweep, an Arena and an Ensemble. Nothing here runs a container by hand or patches a
status: the job controller, the kubelet, probes and termination messages are the real ones.

Checked on the way: the indexed Job's worker pods run real trials to completion in the shared
PostgreSQL study; the sweep's `spec.refit` makes the operator run the refit Job (a real pod of
`cappuccino models refit`) once the sweep succeeded, after which the Study shows
`refitStudyName` `<study>-refit` and the PBO and DSR in `kubectl get studies`; the Arena and
the Ensemble (`allowLowDsr: true`: two tiny trials give a low DSR) freeze and trade the refit
agents, their manifests carrying each agent's own hold-out numbers (as in PostgreSQL) and the
recorded override; the trader Deployments' init containers validate those models from the PVC
and the traders become Ready through their real probes; `kubectl get` shows real counts,
leader, Sharpe and equity; a deleted trader pod stops promptly (SIGTERM handled), comes back and
continues the same ledger with no duplicate order; tampered weights make the init container
fail and its one-line reason (termination message) reaches the Arena's Ready condition;
`helm upgrade` replaces the operator pod and reconciling goes on; `helm uninstall` keeps the
artifacts PVC.

Training sizes: with `spec.training` in the installed Study CRD the sizes are set through the
CR. Without it (the CRD in this checkout lacks it), and ONLY then, the test holds the worker
pods Pending (node cordoned), shrinks the operator's materialised train config, and uncordons:
the pods then read it as they start. Printed when used.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.support.controlplane import REPO_ROOT, ControlPlaneError, wait_for
from tests.support.realcluster import NODE_NAME, RealCluster

T = TypeVar("T")
RELEASE = "cappuccino"
STUDY = "rp-study"
SWEEP = "rp-sweep"
ARENA = "rp-arena"
ENSEMBLE = "rp-ensemble"
TRAINING_SIZES: dict[str, Any] = {
    "total_timesteps": 512,
    "num_envs": 4,
    "episode_length": 64,
    "eval_interval": 1000,
    "cpu_threads": 1,
}
TIMINGS: dict[str, float] = {}
# CAPPUCCINO_CHART_DIR: another copy of the chart (e.g. a branch's) to install instead
CHART = Path(os.environ.get("CAPPUCCINO_CHART_DIR", str(REPO_ROOT / "charts" / "cappuccino")))
ENSEMBLE_SNAPSHOTS = (
    f"select count(*) from portfolio_snapshots where portfolio_id like '%{ENSEMBLE}%'"
)


def timed(name: str, fn: Callable[[], T]) -> T:
    t0 = time.monotonic()
    out = fn()
    TIMINGS[name] = round(time.monotonic() - t0, 1)
    print(f"[{TIMINGS[name]:7.1f} s] {name}")
    return out


def apply(rc: RealCluster, ns: str, obj: dict[str, Any]) -> None:
    rc.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def get(rc: RealCluster, ns: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(rc.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)


def try_get(rc: RealCluster, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    out = rc.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return c
    return {}


def until(rc: RealCluster, ns: str, predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Polls; on timeout the error carries the namespace's pods and the operator's log tail."""

    def diagnostics() -> str:
        pods = rc.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout
        op = rc.kubectl(
            "logs", "-n", ns, "deploy/cappuccino-operator", "--tail=30", check=False
        ).stdout
        return f"pods:\n{pods}\noperator log tail:\n{op}"

    return wait_for(predicate, timeout, what, interval=1.0, diagnostics=diagnostics)


def psql(rc: RealCluster, ns: str, sql: str) -> list[list[str]]:
    """Runs SQL in the chart's PostgreSQL pod (local socket) and returns the rows."""
    out = rc.kubectl(
        "exec", "-n", ns, f"{RELEASE}-postgresql-0", "--", "psql", "-U", "cappuccino",
        "-d", "cappuccino", "-At", "-F", "\t", "-c", sql,
    ).stdout  # fmt: skip
    return [line.split("\t") for line in out.splitlines() if line]


def deployment_pods(rc: RealCluster, ns: str, deployment: str) -> list[dict[str, Any]]:
    """The pods of a Deployment, found by its own selector (no guessing of chart labels)."""
    labels = get(rc, ns, "deployment", deployment)["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    out = rc.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def delete_pods(rc: RealCluster, ns: str, deployment: str, *flags: str) -> None:
    """Deletes every pod of a Deployment (kubectl delete pod NAME -n NS FLAGS...)."""
    for p in deployment_pods(rc, ns, deployment):
        rc.kubectl("delete", "pod", p["metadata"]["name"], "-n", ns, *flags)


def chart_values(rc: RealCluster) -> list[str]:
    """--set flags: our images (pinned by their build-input tag), small volumes."""
    images = rc.images
    repo, tag = images["operator"].rsplit(":", 1)
    rrepo, rtag = images["runtime"].rsplit(":", 1)
    prepo, ptag = images["postgresql"].rsplit(":", 1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    flags = [
        f"operator.image.repository={repo}", f"operator.image.tag={tag}",
        f"runtime.image.repository={rrepo}", f"runtime.image.tag={rtag}",
        # no CUDA image on this CPU node: GPU sweeps are not run here
        f"runtime.cudaImage.repository={rrepo}", f"runtime.cudaImage.tag={rtag}",
        "operator.statusInterval=2",
        "artifacts.pvc.size=1Gi", "artifacts.pvc.accessMode=ReadWriteOnce",
        "postgresql.size=1Gi",
    ]  # fmt: skip
    if isinstance(values["postgresql"].get("image"), dict):
        flags += [f"postgresql.image.repository={prepo}", f"postgresql.image.tag={ptag}"]
    else:
        flags.append(f"postgresql.image={images['postgresql']}")
    return [arg for flag in flags for arg in ("--set", flag)]


def study_crd_has_training(rc: RealCluster) -> bool:
    crd = json.loads(rc.kubectl("get", "crd", "studies.cappuccino.dev", "-o", "json").stdout)
    version = crd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return "training" in spec


def shrink_train_config(rc: RealCluster, ns: str) -> None:
    """Fallback without spec.training: merge the sizes into the operator's train config."""
    cm_name = f"{SWEEP}-train-config"
    cm = until(rc, ns, lambda: try_get(rc, ns, "configmap", cm_name), 60, "train ConfigMap")
    data = {}
    for key, value in cm["data"].items():
        config = json.loads(value)
        config.setdefault("env", {}).update(
            {
                "num_envs": TRAINING_SIZES["num_envs"],
                "episode_length": TRAINING_SIZES["episode_length"],
            }
        )
        config.setdefault("ppo", {}).update(
            {
                "total_timesteps": TRAINING_SIZES["total_timesteps"],
                "eval_interval": TRAINING_SIZES["eval_interval"],
            }
        )
        config["cpu_threads"] = TRAINING_SIZES["cpu_threads"]
        data[key] = json.dumps(config)
    rc.kubectl(
        "patch", "configmap", cm_name, "-n", ns, "--type=merge", "-p", json.dumps({"data": data})
    )


def assert_one_set_of_children(rc: RealCluster, ns: str, kind: str, name: str) -> None:
    """A trader CR owns exactly one Deployment and at most one Service (ConfigMaps may be
    several: one per frozen selection)."""
    uid = get(rc, ns, kind, name)["metadata"]["uid"]
    for child_kind in ("deployments", "services", "configmaps"):
        items = json.loads(rc.kubectl("get", child_kind, "-n", ns, "-o", "json").stdout)
        owned = [
            i["metadata"]["name"]
            for i in items["items"]
            if any(o["uid"] == uid for o in i["metadata"].get("ownerReferences") or ())
        ]
        print(f"{kind}/{name} owns {child_kind}: {owned}")
        if child_kind == "deployments":
            assert len(owned) == 1, f"{kind}/{name} owns {owned}: duplicate children"
        assert len(owned) <= 1 or child_kind == "configmaps", owned


@pytest.mark.timeout(2400)
def test_flow_on_real_pods(real_cluster: RealCluster, real_namespace: str) -> None:
    rc, ns = real_cluster, real_namespace
    started = time.monotonic()
    chart = str(CHART)

    # 1. helm install: operator pod from its image, PostgreSQL StatefulSet, artifacts PVC.
    timed(
        "helm install --wait (operator + PostgreSQL Ready, PVCs bound)",
        lambda: rc.helm(
            "install", RELEASE, chart, "-n", ns, "--wait", "--timeout", "8m", *chart_values(rc)
        ),
    )
    pvc = get(rc, ns, "pvc", "cappuccino-artifacts")
    assert pvc["status"]["phase"] == "Bound"
    op_pod = deployment_pods(rc, ns, f"{RELEASE}-operator")[0]
    assert op_pod["spec"]["containers"][0]["image"] == rc.images["operator"]
    assert all(c["ready"] for c in op_pod["status"]["containerStatuses"])

    # 2. Study + TrainingSweep: two worker pods of the indexed Job share one PostgreSQL study.
    with_training = study_crd_has_training(rc)
    study_spec: dict[str, Any] = {
        "direction": "maximize",
        "data": {"source": "sample", "symbols": ["BTC/USD", "ETH/USD"], "timeframe": "1h",
                 "start": "2018-06-01", "end": "2019-05-05"},
        "objective": {"cpcvGroups": 3, "cpcvTestGroups": 1, "fee": 0.0025},
        "searchSpace": {
            "net_dimension": {"choices": ["32"]},
            "batch_size": {"choices": ["128"]},
            "num_steps": {"choices": ["32"]},
            "update_epochs": {"low": 1, "high": 2},
        },
    }  # fmt: skip
    if with_training:
        study_spec["training"] = {
            "totalTimesteps": TRAINING_SIZES["total_timesteps"],
            "numEnvs": TRAINING_SIZES["num_envs"],
            "episodeLength": TRAINING_SIZES["episode_length"],
            "evalInterval": TRAINING_SIZES["eval_interval"],
            "cpuThreads": TRAINING_SIZES["cpu_threads"],
        }
    else:
        print("Study CRD has no spec.training: shrinking the train config with the node cordoned")
        rc.kubectl("cordon", NODE_NAME)
    try:
        apply(rc, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Study",
                       "metadata": {"name": STUDY}, "spec": study_spec})  # fmt: skip
        apply(rc, ns, {
            "apiVersion": "cappuccino.dev/v1alpha1", "kind": "TrainingSweep",
            "metadata": {"name": SWEEP},
            "spec": {"studyRef": {"name": STUDY}, "trials": 2, "parallelism": 2,
                     "resources": {"gpu": 0, "cpu": "500m", "memory": "2Gi"},
                     "refit": {"topN": 2, "seeds": 1}},
        })  # fmt: skip
        if not with_training:
            shrink_train_config(rc, ns)
    finally:
        rc.kubectl("uncordon", NODE_NAME)
    job_name = f"{SWEEP}-workers"
    seen_indexes: set[str] = set()

    def sweep_done() -> bool:
        """The sweep's outcome: Succeeded=True (the operator may suspend the Job once the
        budget is spent) or the Job Complete; records the worker pods' completion indexes."""
        out = rc.kubectl("get", "pods", "-n", ns, "-l", f"job-name={job_name}", "-o", "json")
        for p in json.loads(out.stdout)["items"]:
            if (p.get("status") or {}).get("phase") in ("Running", "Succeeded"):
                ann = p["metadata"].get("annotations") or {}
                seen_indexes.add(ann.get("batch.kubernetes.io/job-completion-index", "?"))
        _job_failed(rc, ns, job_name)
        sweep = try_get(rc, ns, "trainingsweep", SWEEP) or {}
        job = try_get(rc, ns, "job", job_name) or {}
        return (
            cond(sweep, "Succeeded").get("status") == "True"
            or cond(job, "Complete").get("status") == "True"
        )

    timed(
        "TrainingSweep Succeeded (2 indexed worker pods, real trials)",
        lambda: until(rc, ns, sweep_done, 1500, "TrainingSweep Succeeded"),
    )
    print("worker completion indexes seen running:", sorted(seen_indexes))
    assert seen_indexes >= {"0", "1"}, seen_indexes
    study = until(
        rc, ns,
        lambda: (get(rc, ns, "study", STUDY).get("status") or {})
        if ((get(rc, ns, "study", STUDY).get("status") or {}).get("trials") or {}).get("complete", 0) >= 2
        else None,
        120, "Study status: 2 COMPLETE trials",
    )  # fmt: skip
    optuna_name = study.get("studyName") or STUDY
    rows = psql(
        rc, ns,
        "select t.state, count(*) from trials t join studies s on s.study_id = t.study_id "
        f"where s.study_name = '{optuna_name}' group by t.state",
    )  # fmt: skip
    print("trials in PostgreSQL:", rows)
    assert dict((r[0], int(r[1])) for r in rows).get("COMPLETE", 0) >= 2
    out = rc.kubectl("get", "studies,trainingsweeps", "-n", ns).stdout
    print(out)

    # 2b. The refit Job: a real pod refits the top 2 trials (1 seed) into `<study>-refit`.
    refit_study = f"{optuna_name}-refit"
    refit_attrs = timed(
        "refit Job Complete (real pod of cappuccino models refit)",
        lambda: wait_refit(rc, ns, refit_study),
    )
    print("refit trials in PostgreSQL:", refit_attrs)
    assert len(refit_attrs) == 2, refit_attrs  # topN 2 x seeds 1
    refit_ids = sorted(refit_attrs)

    # 3. Arena + Ensemble on the refit agents; allowLowDsr: the DSR of two tiny trials is low
    # (tests/e2e shows the gate refusing first). Init containers validate from the PVC,
    # traders Ready by real probes.
    trader_spec: dict[str, Any] = {
        "studyRef": {"name": STUDY}, "topN": 2, "pollInterval": "1s", "allowLowDsr": True,
        "resources": {"cpu": "250m", "memory": "1Gi"},
        "broker": {"type": "replay", "replay": {"secondsPerBar": 2}},
    }  # fmt: skip
    apply(rc, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Arena",
                   "metadata": {"name": ARENA},
                   "spec": {**trader_spec, "promoteTop": 2, "minSharpe": -1.0e9}})  # fmt: skip
    apply(rc, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Ensemble",
                   "metadata": {"name": ENSEMBLE}, "spec": trader_spec})  # fmt: skip

    # The operator pod killed mid-reconcile (SIGKILL, no grace): its replacement must not
    # create a second set of children.
    delete_pods(rc, ns, f"{RELEASE}-operator", "--grace-period=0", "--force")

    def available(name: str) -> bool:
        dep = try_get(rc, ns, "deployment", f"{name}-trader") or {}
        return cond(dep, "Available").get("status") == "True"

    timed(
        "Arena + Ensemble: trader Deployments Available (init validate, readiness probe)",
        lambda: until(rc, ns, lambda: available(ARENA) and available(ENSEMBLE), 600, "traders"),
    )
    for kind, name in (("arena", ARENA), ("ensemble", ENSEMBLE)):
        assert_one_set_of_children(rc, ns, kind, name)
        assert_trades_refit_agents(rc, ns, kind, name, refit_study, refit_attrs)
    arena = timed(
        "Arena status: leader and Sharpe from the ledger",
        lambda: until(
            rc, ns,
            lambda: (s := get(rc, ns, "arena", ARENA).get("status") or {}).get("leaderTrialId")
            is not None and "leaderSharpe" in s and s,
            300, "arena leader",
        ),
    )  # fmt: skip
    ensemble = timed(
        "Ensemble status: equity",
        lambda: until(
            rc, ns,
            lambda: (s := get(rc, ns, "ensemble", ENSEMBLE).get("status") or {}).get("equity")
            is not None and s,
            300, "ensemble equity",
        ),
    )  # fmt: skip
    assert ensemble["equity"] > 0
    for kind, name in (("arena", ARENA), ("ensemble", ENSEMBLE)):
        until(
            rc, ns, lambda k=kind, n=name: cond(get(rc, ns, k, n), "Ready").get("status") == "True",
            120, f"{kind}/{name} Ready=True",
        )  # fmt: skip
    print(rc.kubectl("get", "studies,trainingsweeps,arenas,ensembles", "-n", ns).stdout)
    row = rc.kubectl("get", "arenas", "-n", ns).stdout.splitlines()[1].split()
    # NAME STUDY MODELS LEADER SHARPE READY: the leader moves as the ranking does
    assert row[0] == ARENA and row[2] == "2" and row[3].isdigit() and row[5] == "True", row
    float(row[4])
    assert arena["leaderTrialId"] in refit_ids, (arena["leaderTrialId"], refit_ids)
    assert row[1] == refit_study, row

    # 4. A deleted trader pod stops promptly, comes back, continues the same ledger.
    old = deployment_pods(rc, ns, f"{ENSEMBLE}-trader")
    assert len(old) == 1
    old_name = old[0]["metadata"]["name"]
    before = psql(rc, ns, "select portfolio_id, created_at from portfolios order by 1")
    snapshots_before = int(psql(rc, ns, ENSEMBLE_SNAPSHOTS)[0][0])
    t0 = time.monotonic()
    rc.kubectl("delete", "pod", old_name, "-n", ns, "--wait=true", "--timeout=120s")
    stop_s = round(time.monotonic() - t0, 1)
    TIMINGS["trader pod delete (SIGTERM to gone; grace period 30 s)"] = stop_s
    print(f"trader pod {old_name} gone {stop_s} s after delete")
    assert stop_s < 20, f"the trader took {stop_s} s to stop: SIGTERM not handled promptly"
    timed(
        "trader pod recreated and Ready",
        lambda: until(rc, ns, lambda: available(ENSEMBLE), 300, "ensemble trader Ready again"),
    )
    until(
        rc, ns,
        lambda: int(psql(rc, ns, ENSEMBLE_SNAPSHOTS)[0][0]) > snapshots_before,
        180, "the new trader pod writes to the same ledger",
    )  # fmt: skip
    after = psql(rc, ns, "select portfolio_id, created_at from portfolios order by 1")
    assert [r for r in after if r in before] == before, "portfolios were recreated, not continued"
    dupes = psql(
        rc, ns,
        "select portfolio_id, symbol, decision_ts, count(*) from orders "
        "group by 1, 2, 3 having count(*) > 1",
    )  # fmt: skip
    assert dupes == [], f"duplicate orders after the trader restart: {dupes}"

    # 5. Tampered weights: the init container fails; its one-line reason reaches Arena Ready.
    pv = get(rc, ns, "pvc", "cappuccino-artifacts")["spec"]["volumeName"]
    host_dir = Path(
        json.loads(rc.kubectl("get", "pv", pv, "-o", "json").stdout)["spec"]["hostPath"]["path"]
    )
    actors = sorted(host_dir.rglob("actor.pth"))
    assert actors, f"no actor.pth under the artifacts volume {host_dir}"
    for actor in actors:
        actor.write_bytes(actor.read_bytes() + b"tampered")
    delete_pods(rc, ns, f"{ARENA}-trader", "--wait=false")

    def init_failed() -> dict[str, Any] | None:
        c = cond(get(rc, ns, "arena", ARENA), "Ready")
        return c if c.get("status") == "False" and "hashes to" in c.get("message", "") else None

    ready = timed(
        "tampered weights: Arena Ready=False with the init container's reason",
        lambda: until(rc, ns, init_failed, 300, "Arena Ready=False (InitContainerFailed)"),
    )
    print("Arena Ready:", ready)
    assert ready["reason"] == "InitContainerFailed"
    pod = deployment_pods(rc, ns, f"{ARENA}-trader")[0]
    init_status = pod["status"]["initContainerStatuses"][0]
    terminated = (init_status.get("lastState") or {}).get("terminated") or (
        init_status.get("state") or {}
    ).get("terminated")
    assert terminated and "hashes to" in terminated["message"]
    assert "\n" not in terminated["message"].strip(), terminated["message"]

    # 6. helm upgrade: a new operator pod (Recreate) and reconciling goes on.
    timed(
        "helm upgrade --wait",
        lambda: rc.helm(
            "upgrade", RELEASE, chart, "-n", ns, "--wait", "--timeout", "5m",
            *chart_values(rc), "--set", "operator.statusInterval=3",
        ),
    )  # fmt: skip
    new_op = deployment_pods(rc, ns, f"{RELEASE}-operator")
    assert [p["metadata"]["name"] for p in new_op] != [op_pod["metadata"]["name"]]
    apply(rc, ns, {"apiVersion": "cappuccino.dev/v1alpha1", "kind": "Study",
                   "metadata": {"name": "rp-after-upgrade"}, "spec": {"direction": "maximize"}})  # fmt: skip
    until(
        rc, ns,
        lambda: (get(rc, ns, "study", "rp-after-upgrade").get("status") or {}).get("conditions"),
        120, "the upgraded operator pod reconciles a new Study",
    )  # fmt: skip

    # 7. helm uninstall keeps the artifacts PVC (the trained models): not deleted, not Terminating.
    timed("helm uninstall", lambda: rc.helm("uninstall", RELEASE, "-n", ns))
    until(rc, ns, lambda: try_get(rc, ns, "deployment", f"{RELEASE}-operator") is None, 120,
          "the release's operator Deployment to be gone")  # fmt: skip
    kept = try_get(rc, ns, "pvc", "cappuccino-artifacts")
    assert kept is not None, "helm uninstall deleted the artifacts PVC"
    assert not kept["metadata"].get("deletionTimestamp"), (
        "helm uninstall is deleting the artifacts PVC (Terminating): trained models would be lost"
    )
    assert kept["status"]["phase"] == "Bound"
    TIMINGS["total"] = round(time.monotonic() - started, 1)
    print("timings (s):", json.dumps(TIMINGS, indent=2))


def wait_refit(rc: RealCluster, ns: str, refit_study: str) -> dict[int, dict[str, Any]]:
    """Waits for the real refit Job to complete and the sweep's Refitted=True; then the Study
    status and `kubectl get studies` show the refit study and the PBO/DSR. Returns the refit
    study's COMPLETE trials' hold-out user attrs by trial id, read from PostgreSQL."""
    job = f"{SWEEP}-refit"

    def complete() -> bool:
        _job_failed(rc, ns, job)
        return cond(try_get(rc, ns, "job", job) or {}, "Complete").get("status") == "True"

    until(rc, ns, complete, 900, f"Job {job} Complete")
    until(
        rc, ns,
        lambda: cond(get(rc, ns, "trainingsweep", SWEEP), "Refitted").get("status") == "True",
        120, "TrainingSweep Refitted=True",
    )  # fmt: skip

    def study_refit() -> dict[str, Any] | None:
        s = get(rc, ns, "study", STUDY).get("status") or {}
        report = s.get("report") or {}
        ok = s.get("refitStudyName") == refit_study and "pbo" in report and "dsr" in report
        return s if ok else None

    status = until(rc, ns, study_refit, 120, "refitStudyName and PBO/DSR in Study status")
    out = rc.kubectl("get", "studies", "-n", ns).stdout
    print(out)
    lines = out.splitlines()
    columns = dict(zip(lines[0].split(), lines[1].split(), strict=True))
    assert float(columns["PBO"]) == pytest.approx(status["report"]["pbo"])
    assert float(columns["DSR"]) == pytest.approx(status["report"]["dsr"])
    rows = psql(
        rc, ns,
        "select t.trial_id, a.key, a.value_json from trials t "
        "join studies s on s.study_id = t.study_id "
        "join trial_user_attributes a on a.trial_id = t.trial_id "
        f"where s.study_name = '{refit_study}' and t.state = 'COMPLETE' "
        "and a.key in ('holdout_sharpe', 'holdout_bars', 'holdout_start', 'holdout_end', 'dsr')",
    )  # fmt: skip
    attrs: dict[int, dict[str, Any]] = {}
    for trial_id, key, value in rows:
        attrs.setdefault(int(trial_id), {})[key] = json.loads(value)
    return attrs


def assert_trades_refit_agents(
    rc: RealCluster,
    ns: str,
    kind: str,
    name: str,
    refit_study: str,
    refit_attrs: dict[int, dict[str, Any]],
) -> None:
    """The trader CR froze the refit agents: status and manifest name `<study>-refit`, the
    manifest lists exactly the refit trial ids, each with its own hold-out numbers (equal to
    its user attrs in PostgreSQL), and records the allowLowDsr override when a model is below
    minDsr."""
    status = get(rc, ns, kind, name).get("status") or {}
    assert status.get("studyName") == refit_study, status
    cm = get(rc, ns, "configmap", status["manifest"]["configMap"])
    key = "ensemble_manifest.json" if kind == "ensemble" else "arena_config.json"
    m = json.loads(cm["data"][key])
    if kind == "ensemble":
        ids, numbers = m["trial_ids"], m["model_numbers"]
    else:
        ids = [x["trial_id"] for x in m["models"]]
        numbers = [x["numbers"] for x in m["models"]]
    print(f"{kind}/{name} manifest: study {m['study_name']}, trial ids {ids}, "
          f"dsr_gate {m['dsr_gate']}, numbers {numbers}")  # fmt: skip
    assert m["study_name"] == refit_study
    assert sorted(ids) == sorted(refit_attrs)
    for trial_id, n in zip(ids, numbers, strict=True):
        a = refit_attrs[trial_id]
        assert n["sharpe_kind"] == "holdout" and n["holdout_bars"] == a["holdout_bars"] > 0, n
        assert n["sharpe"] == pytest.approx(a["holdout_sharpe"]), (n, a)
        assert (n["holdout_start"], n["holdout_end"]) == (a["holdout_start"], a["holdout_end"])
        assert n["dsr"] == pytest.approx(a["dsr"]), (n, a)
    low = any(n["dsr"] < m["dsr_gate"]["threshold"] for n in numbers)
    assert m["dsr_gate"]["overridden"] == low, m["dsr_gate"]


def _job_failed(rc: RealCluster, ns: str, name: str) -> bool:
    job = try_get(rc, ns, "job", name) or {}
    if cond(job, "Failed").get("status") == "True":
        logs = rc.kubectl("logs", "-n", ns, f"job/{name}", "--tail=40", check=False).stdout
        raise ControlPlaneError(f"Job {name} failed: {cond(job, 'Failed')}\n{logs}")
    return False
