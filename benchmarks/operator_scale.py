"""The operator under load: 100 Arenas and 100 TrainingSweeps applied at once.

Run: `python -m benchmarks.operator_scale [--arenas 100] [--sweeps 100] [--timeout 600]`.

Starts a real control plane (tests/support/controlplane.py: etcd, kube-apiserver,
kube-controller-manager) and a real PostgreSQL, installs crds/ and the operator's RBAC, seeds
an Optuna study with COMPLETE trials (carrying the user attrs docs/CONTRACTS.md fixes), runs
the operator as its ServiceAccount, applies the Study, then every Arena and TrainingSweep in
ONE `kubectl apply`, and measures
- the time until every child exists (a Deployment, a ConfigMap and a Service owned by each
  Arena; a Job owned by each TrainingSweep; ownership by ownerReference uid, not by name),
- the time until every resource has a status with conditions for its current generation,
- the operator process's peak RSS (itself plus its children, sampled every 0.1 s).
Targets: under 60 s and under 200 MB. Prints the figures; never asserts on them.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from tests.support.controlplane import ControlPlane, OperatorProcess, install_operator
from tests.support.postgres import PostgresServer

GROUP, VERSION = "cappuccino.dev", "v1alpha1"
NAMESPACE = "bench"
STUDY = "bench-study"
SEEDED_TRIALS = 8
TOP_N = 3
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 200.0


# --------------------------------------------------------------------------------------------
# Workload


def study_manifest() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Study",
        "metadata": {"name": STUDY, "namespace": NAMESPACE},
        "spec": {"direction": "maximize", "data": {"source": "sample", "symbols": ["BTC/USD"]}},
    }


def arena_manifest(i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Arena",
        "metadata": {"name": f"arena-{i:03d}", "namespace": NAMESPACE},
        "spec": {
            "studyRef": {"name": STUDY},
            "topN": TOP_N,
            "promoteTop": 1,
            "broker": {"type": "replay"},
        },
    }


def sweep_manifest(i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingSweep",
        "metadata": {"name": f"sweep-{i:03d}", "namespace": NAMESPACE},
        "spec": {"studyRef": {"name": STUDY}, "trials": 10, "parallelism": 2},
    }


def seed_study(storage_url: str, trials: int) -> None:
    """An Optuna study with COMPLETE trials whose user attrs follow docs/CONTRACTS.md, so the
    operator has models to select (weights are not needed: the init container validates them,
    and no pod ever runs here)."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage_url, study_name=STUDY, direction="maximize", load_if_exists=True
    )
    for n in range(trials):
        sharpe = 0.5 + n / 10
        study.add_trial(
            create_trial(
                value=sharpe,
                params={"learning_rate": 1e-3},
                distributions={"learning_rate": FloatDistribution(1e-5, 1e-2, log=True)},
                user_attrs={
                    "mean_sharpe_bot": sharpe,
                    "mean_sharpe_hodl": 0.1,
                    "timeframe": "1h",
                    "artifact_uri": f"{STUDY}/trial_{n}_1h",
                    "sha256_actor": f"{n:064x}",
                    "sha256_critic": f"{n + 100:064x}",
                },
            )
        )


# --------------------------------------------------------------------------------------------
# Measurement


class PeakRss:
    """Samples the RSS of a process and its descendants in a background thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                proc = psutil.Process(self.pid)
                procs = [proc, *proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Progress:
    """How far the operator got: children per owner uid, and resources with a current status."""

    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # uid -> (kind, name)
    children: dict[str, collections.Counter[str]] = field(default_factory=dict)
    with_status: int = 0

    @property
    def missing_children(self) -> list[str]:
        need = {"Arena": ("Deployment", "ConfigMap", "Service"), "TrainingSweep": ("Job",)}
        missing = []
        for uid, (kind, name) in self.owners.items():
            have = self.children.get(uid, collections.Counter())
            missing += [f"{kind}/{name}: {k}" for k in need[kind] if not have[k]]
        return missing


def status_current(obj: dict[str, Any]) -> bool:
    """Status written for the current generation: conditions present, observedGeneration set
    and equal to metadata.generation when the operator writes it."""
    status = obj.get("status") or {}
    if not status.get("conditions"):
        return False
    observed = status.get("observedGeneration")
    return observed is None or observed == obj["metadata"].get("generation")


def list_json(api_client: Any, path: str) -> list[dict[str, Any]]:
    """GET a list as raw JSON (skipping the client's slow model deserialisation)."""
    method, url, headers, body, post = api_client.param_serialize(
        "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
    )
    resp = api_client.call_api(method, url, headers, body, post)
    resp.read()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {resp.status}: {resp.data[:500]!r}")
    return json.loads(resp.data)["items"]


def snapshot(api_client: Any, kinds: Iterable[str]) -> Progress:
    """One pass over the benchmark namespace with the admin client."""
    ns = f"namespaces/{NAMESPACE}"
    progress = Progress()
    for kind in kinds:
        for obj in list_json(api_client, f"/apis/{GROUP}/{VERSION}/{ns}/{kind.lower()}s"):
            progress.owners[obj["metadata"]["uid"]] = (kind, obj["metadata"]["name"])
            progress.with_status += status_current(obj)
    children = {
        "Deployment": f"/apis/apps/v1/{ns}/deployments",
        "ConfigMap": f"/api/v1/{ns}/configmaps",
        "Service": f"/api/v1/{ns}/services",
        "Job": f"/apis/batch/v1/{ns}/jobs",
    }
    for kind, path in children.items():
        for child in list_json(api_client, path):
            for ref in child["metadata"].get("ownerReferences") or []:
                progress.children.setdefault(ref["uid"], collections.Counter())[kind] += 1
    return progress


# --------------------------------------------------------------------------------------------
# The run


def run(arenas: int, sweeps: int, timeout: float) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="cappuccino-bench-"))
    t0 = time.monotonic()
    postgres = PostgresServer.start()
    plane: ControlPlane | None = None
    operator: OperatorProcess | None = None
    try:
        storage = postgres.create_database("operator_scale")
        plane = ControlPlane.start()
        deployment = install_operator(plane)
        print(f"control plane + PostgreSQL up in {time.monotonic() - t0:.1f} s ({plane.server})")
        seed_study(storage, SEEDED_TRIALS)
        plane.kubectl("create", "namespace", NAMESPACE)
        operator = OperatorProcess(deployment.kubeconfig, storage, workdir / "operator.log")
        operator.start()
        plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(study_manifest()))
        operator.wait_until(
            lambda: status_current(
                json.loads(
                    plane.kubectl("get", "study", STUDY, "-n", NAMESPACE, "-o", "json").stdout
                )
            ),
            timeout=120,
            what=f"Study {STUDY} status",
        )
        docs = [arena_manifest(i) for i in range(arenas)] + [
            sweep_manifest(i) for i in range(sweeps)
        ]
        batch = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs})
        kinds = [k for k, n in (("Arena", arenas), ("TrainingSweep", sweeps)) if n]
        marks: dict[str, float] = {}
        owned: collections.Counter[str] = collections.Counter()
        api = plane.api_client()
        with PeakRss(operator.pid) as rss:
            start = time.monotonic()
            plane.kubectl("apply", "--server-side", "-f", "-", input=batch, timeout=300)
            marks["applied"] = time.monotonic() - start

            def done() -> bool:
                progress = snapshot(api, kinds)
                now = time.monotonic() - start
                if not progress.missing_children and len(progress.owners) == len(docs):
                    marks.setdefault("children", now)
                if progress.with_status == len(docs):
                    marks.setdefault("status", now)
                owned.clear()
                for counter in progress.children.values():
                    owned.update(counter)
                return "children" in marks and "status" in marks

            try:
                operator.wait_until(
                    done, timeout=timeout, what="every child and status", interval=0.5
                )
            except Exception:
                progress = snapshot(api, kinds)
                print(
                    f"NOT converged: {len(progress.missing_children)} children missing "
                    f"(e.g. {progress.missing_children[:3]}), "
                    f"{progress.with_status}/{len(docs)} statuses written",
                    file=sys.stderr,
                )
                raise
        marks["peak_rss_mb"] = rss.peak / 2**20
        print("owned children: " + ", ".join(f"{n} {k}s" for k, n in sorted(owned.items())))
        return marks
    finally:
        if operator is not None:
            operator.stop()
            print(f"operator log: {operator.log_path}")
        if plane is not None:
            plane.stop()
        postgres.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arenas", type=int, default=100)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many s")
    args = parser.parse_args(argv)
    marks = run(args.arenas, args.sweeps, args.timeout)
    total = max(marks["children"], marks["status"])
    print(f"\n{args.arenas} Arenas + {args.sweeps} TrainingSweeps applied in one kubectl apply")
    print(f"  kubectl apply returned after      {marks['applied']:7.1f} s")
    print(f"  every child exists after          {marks['children']:7.1f} s")
    print(f"  every status written after        {marks['status']:7.1f} s")
    print(f"  converged after                   {total:7.1f} s   (target < {TARGET_SECONDS:.0f} s)")
    print(
        f"  operator peak RSS                 {marks['peak_rss_mb']:7.1f} MB  "
        f"(target < {TARGET_RSS_MB:.0f} MB)"
    )
    print(
        f"  targets met: time {'yes' if total < TARGET_SECONDS else 'NO'}, "
        f"memory {'yes' if marks['peak_rss_mb'] < TARGET_RSS_MB else 'NO'}"
    )


if __name__ == "__main__":
    main()
