"""Restart safety, storage outages and deletion, each against a fresh operator process
(the `operator` fixture: ServiceAccount credentials, its own PostgreSQL database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from cappuccino_operator.testing import seed_trials

from tests.controlplane.conftest import OperatorDeployment
from tests.controlplane.test_operator_examples import EXAMPLES, cond, get, items
from tests.support.controlplane import REPO_ROOT, ControlPlane, OperatorProcess

API = "cappuccino.dev/v1alpha1"
TIMEOUT = 90


def _apply(cp: ControlPlane, ns: str, doc: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))


def _example(name: str, **spec: Any) -> dict[str, Any]:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    doc["spec"].update(spec)
    return doc


def _children(cp: ControlPlane, ns: str) -> dict[str, list[str]]:
    sel = "app.kubernetes.io/managed-by=cappuccino-operator"
    return {
        kind: sorted(o["metadata"]["name"] for o in items(cp, ns, kind, sel))
        for kind in ("jobs", "deployments", "services", "configmaps")
    }


def test_killed_mid_reconcile_and_restarted_converges_without_duplicates(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    seed_trials(operator.storage_url, f"{namespace}.btc-hourly", [0.5, 1.5, 1.0, 2.0, 0.7, 1.2])
    _apply(cp, namespace, _example("study.yaml"))
    sweeps = [f"sweep-{i}" for i in range(3)]
    for s in sweeps:
        _apply(cp, namespace, {**_example("trainingsweep.yaml"), "metadata": {"name": s}})
    _apply(cp, namespace, _example("arena.yaml"))
    _apply(cp, namespace, _example("ensemble.yaml"))
    # Kill as soon as the first child exists: the others are mid-flight.
    operator.wait_until(lambda: any(_children(cp, namespace).values()), TIMEOUT, "a first child")
    operator.kill()
    operator.start()
    expected = {
        "jobs": sorted(f"{s}-workers" for s in sweeps),
        "deployments": ["btc-arena-trader", "btc-ensemble-trader"],
        "services": ["btc-arena-metrics", "btc-ensemble-metrics"],
    }

    def converged() -> dict[str, list[str]] | None:
        now = _children(cp, namespace)
        ok = all(now[k] == v for k, v in expected.items()) and len(now["configmaps"]) == 5
        return now if ok else None

    children = operator.wait_until(converged, TIMEOUT, f"children {expected}")
    manifests = [c for c in children["configmaps"] if "-manifest-" in c]
    assert len(manifests) == 2, children
    for kind, name in (("arena", "btc-arena"), ("ensemble", "btc-ensemble")):
        operator.wait_until(
            lambda k=kind, n=name: get(cp, namespace, k, n).get("status", {}).get("models"),
            TIMEOUT,
            f"{kind} status",
        )
    # A second (graceful) restart re-runs the resume handlers: nothing new, nothing rolled.
    generations = {
        d: get(cp, namespace, "deployment", d)["metadata"]["generation"]
        for d in expected["deployments"]
    }
    operator.restart()
    operator.wait_until(
        lambda: (
            "Timer 'observe_ensemble' succeeded" in operator.logs().rsplit("Signal SIGTERM", 1)[-1]
        ),
        TIMEOUT,
        "the restarted operator observing again",
    )
    assert _children(cp, namespace) == children
    for d, g in generations.items():
        assert get(cp, namespace, "deployment", d)["metadata"]["generation"] == g


def test_storage_outage_and_missing_secret_show_in_study_ready(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    password = "s3cr3t-pw"
    down = f"postgresql+psycopg://cappuccino:{password}@127.0.0.1:9/optuna"
    spec = {"storageSecretRef": {"name": "optuna-db", "key": "url"}}
    _apply(
        cp, namespace, {"apiVersion": API, "kind": "Study", "metadata": {"name": "s"}, "spec": spec}
    )

    def ready(reason: str) -> dict[str, Any] | None:
        obj = get(cp, namespace, "study", "s")
        return obj if cond(obj, "Ready").get("reason") == reason else None

    s = operator.wait_until(lambda: ready("SecretNotFound"), TIMEOUT, "Ready reason SecretNotFound")
    assert "Secret" in cond(s, "Ready")["message"] and "optuna-db" in cond(s, "Ready")["message"]
    cp.kubectl(
        "create", "secret", "generic", "optuna-db", "-n", namespace, f"--from-literal=url={down}"
    )
    s = operator.wait_until(
        lambda: ready("StorageUnavailable"), TIMEOUT, "Ready reason StorageUnavailable"
    )
    assert cond(s, "Ready")["status"] == "False"
    assert password not in json.dumps(s) and password not in operator.logs()
    patch = {"stringData": {"url": operator.storage_url}}
    cp.kubectl(
        "patch", "secret", "optuna-db", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )
    s = operator.wait_until(lambda: ready("StudyReady"), TIMEOUT, "Ready once the database answers")
    assert cond(s, "Ready")["status"] == "True"
    assert operator.storage_url not in json.dumps(s)


def test_a_secret_outside_the_rbac_names_is_a_clear_condition(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    """Issue 10.7: the operator may `get` only the Secrets its RBAC names; a Study naming
    another one (here one that exists) gets Ready=False saying how to allow it."""
    cp = control_plane
    cp.kubectl("create", "secret", "generic", "team-db", "-n", namespace, "--from-literal=url=x")
    spec = {"storageSecretRef": {"name": "team-db", "key": "url"}}
    _apply(
        cp, namespace, {"apiVersion": API, "kind": "Study", "metadata": {"name": "s"}, "spec": spec}
    )

    def refused() -> dict[str, Any] | None:
        c = cond(get(cp, namespace, "study", "s"), "Ready")
        return c if c.get("reason") == "SecretNotFound" else None

    c = operator.wait_until(refused, TIMEOUT, "Ready reason SecretNotFound")
    assert f"may not read Secret {namespace}/team-db" in c["message"]
    assert "operator.rbac.extraSecretNames" in c["message"]


def test_children_carry_owner_references_and_go_with_their_owner(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    seed_trials(operator.storage_url, f"{namespace}.btc-hourly", [1.0, 2.0, 3.0])
    _apply(cp, namespace, _example("study.yaml"))
    _apply(cp, namespace, _example("ensemble.yaml"))
    _apply(cp, namespace, _example("trainingsweep.yaml"))
    operator.wait_until(
        lambda: (
            len(_children(cp, namespace)["configmaps"]) == 2
            and _children(cp, namespace)["deployments"]
        ),
        TIMEOUT,
        "children",
    )
    ens = get(cp, namespace, "ensemble", "btc-ensemble")
    sweep = get(cp, namespace, "trainingsweep", "btc-hourly-sweep")
    uids = {ens["metadata"]["uid"]: "Ensemble", sweep["metadata"]["uid"]: "TrainingSweep"}
    for kind, objs in _children(cp, namespace).items():
        for name in objs:
            refs = get(cp, namespace, kind, name)["metadata"]["ownerReferences"]
            assert len(refs) == 1 and refs[0]["controller"] and refs[0]["blockOwnerDeletion"]
            assert uids[refs[0]["uid"]] == refs[0]["kind"]
    if not getattr(cp, "has_garbage_collector", False):
        return
    cp.kubectl(
        "delete", "ensemble", "btc-ensemble", "-n", namespace, "--wait=true", "--timeout=60s"
    )
    cp.kubectl(
        "delete",
        "trainingsweep",
        "btc-hourly-sweep",
        "-n",
        namespace,
        "--wait=true",
        "--timeout=60s",
    )
    operator.wait_until(
        lambda: not any(_children(cp, namespace).values()), TIMEOUT, "children garbage-collected"
    )


def test_ha_peering_standby_replica_takes_over(
    operator_deployment: OperatorDeployment,
    control_plane: ControlPlane,
    namespace: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """Two replicas with peering (no --standalone): the higher priority reconciles while the
    other stands by; when it stops, the standby resumes. Both run as the operator's
    ServiceAccount, so the peering RBAC is exercised too."""
    cp = control_plane
    cp.kubectl("apply", "-f", str(REPO_ROOT / "operator" / "deploy" / "peering.yaml"))
    high = OperatorProcess(operator_deployment.kubeconfig, postgres_url, tmp_path / "high.log",
                           args=("run", "-A", "--priority", "100"))  # fmt: skip
    low = OperatorProcess(operator_deployment.kubeconfig, postgres_url, tmp_path / "low.log",
                          args=("run", "-A", "--priority", "10"))  # fmt: skip

    def study_ready(name: str) -> bool:
        return cond(get(cp, namespace, "study", name), "Ready").get("status") == "True"

    def peer_priorities() -> list[int]:
        peering = json.loads(
            cp.kubectl("get", "clusterkopfpeering", "cappuccino", "-o", "json").stdout
        )
        return sorted(v.get("priority") for v in (peering.get("status") or {}).values())

    # The standby starts once the active replica is up: a replica that starts alone is active
    # until it sees a higher peer, which is the normal start-up order of a rollout.
    high.start()
    try:
        high.wait_until(
            lambda: "Resuming operations" in high.logs(), TIMEOUT, "high replica active"
        )
        low.start()
        low.wait_until(lambda: peer_priorities() == [10, 100], TIMEOUT, "both replicas peered")
        _apply(
            cp,
            namespace,
            {"apiVersion": API, "kind": "Study", "metadata": {"name": "a"}, "spec": {}},
        )
        high.wait_until(lambda: study_ready("a"), TIMEOUT, "Study a Ready via the high replica")
        assert peer_priorities() == [10, 100]
        assert "reconcile_study" not in low.logs(), "the standby replica handled a resource"
        high.stop()
        low.wait_until(lambda: "Resuming operations" in low.logs(), TIMEOUT, "standby resuming")
        _apply(
            cp,
            namespace,
            {"apiVersion": API, "kind": "Study", "metadata": {"name": "b"}, "spec": {}},
        )
        low.wait_until(lambda: study_ready("b"), TIMEOUT, "Study b Ready via the former standby")
        assert "Handler 'reconcile_study' succeeded" in low.logs()
    finally:
        low.stop()
        high.stop()
