"""`helm install`/`upgrade`/`uninstall` of charts/cappuccino against the real kube-apiserver: the
objects are accepted, the generated database passwords survive upgrades and re-installs, the
artifacts PVC survives `helm uninstall`, the schema rejects typos, an external database Secret
is checked, and `kubectl auth can-i` proves the RBAC of the operator, the dashboard and the
aggregated user roles in cluster-wide and namespaced installs."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import ControlPlane, wait_for

CHART = Path(__file__).resolve().parents[2] / "charts" / "cappuccino"
DB_SECRETS = ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly")


def helm(cp: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(cp.bin_dir / "helm"), f"--kubeconfig={cp.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stderr}"
    return proc


def get(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def exists(cp: ControlPlane, *args: str) -> bool:
    return cp.kubectl("get", *args, "-o", "name", check=False).returncode == 0


def urls(cp: ControlPlane, ns: str) -> dict[str, str]:
    out = {}
    for name in DB_SECRETS:
        out[name] = base64.b64decode(get(cp, "secret", name, "-n", ns)["data"]["url"]).decode()
    return out


def can(cp: ControlPlane, who: str, verb: str, resource: str, *where: str, name: str = "") -> bool:
    """`kubectl auth can-i`; `resource` may name a subresource as `kind.group/status`, `name` one
    object (`kind/name`, for rules with resourceNames)."""
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    target = f"{resource}/{name}" if name else resource
    proc = cp.kubectl("auth", "can-i", verb, target, *extra, "--as", who, *where, check=False)
    answer = proc.stdout.strip()
    assert answer in {"yes", "no"}, proc.stderr
    return answer == "yes"


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cleanup(control_plane: ControlPlane) -> Iterator[list[tuple[str, str]]]:
    """Releases (name, namespace) to uninstall and namespaces to delete after the test."""
    releases: list[tuple[str, str]] = []
    yield releases
    for release, ns in releases:
        helm(control_plane, "uninstall", release, "--namespace", ns, check=False)
        control_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_install_upgrade_uninstall_cluster_wide(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chart"), fresh("capp")
    cleanup.append((release, ns))
    # Every optional component: the API server validates each object (PDB, NetworkPolicy, ...).
    components = (
        "dashboard.enabled=true",
        "optunaDashboard.enabled=true",
        "networkPolicy.enabled=true",
        "monitoring.serviceMonitor.enabled=true",
        "monitoring.podMonitor.enabled=true",
        "monitoring.grafanaDashboard.enabled=true",
        "operator.podDisruptionBudget.enabled=true",
    )
    sets = [arg for c in components for arg in ("--set", c)]
    rwx = ["--set", "artifacts.pvc.accessMode=ReadWriteMany"]
    helm(cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace", *sets, *rwx)

    names = {c["metadata"]["name"] for c in get(cp, "crd")["items"]}
    assert {"studies.cappuccino.dev", "arenas.cappuccino.dev"} <= names
    deployment = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "cappuccino-operator"
    get(cp, "statefulset", f"{release}-cappuccino-postgresql", "-n", ns)
    get(cp, "deployment", f"{release}-cappuccino-dashboard", "-n", ns)
    get(cp, "deployment", f"{release}-cappuccino-optuna-dashboard", "-n", ns)
    assert len(get(cp, "networkpolicy", "-n", ns)["items"]) == 4
    get(cp, "poddisruptionbudget", f"{release}-cappuccino-operator", "-n", ns)
    board = get(cp, "configmap", f"{release}-cappuccino-grafana-dashboard", "-n", ns)
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    # No Prometheus Operator CRDs on this cluster: the ServiceMonitor is skipped, not an error.
    assert "monitoring.coreos.com" not in cp.kubectl("api-versions").stdout

    first = urls(cp, ns)
    host = f"@{release}-cappuccino-postgresql.{ns}.svc:5432/cappuccino"
    for name, role in zip(DB_SECRETS, ("worker", "trader", "readonly"), strict=True):
        assert first[name].startswith(f"postgresql+psycopg://cappuccino_{role}:")
        assert first[name].endswith(host)

    # A typo is rejected by values.schema.json and the release stays as it was.
    bad = helm(cp, "upgrade", release, str(CHART), "-n", ns, "--set", "operatr.replicas=2",
               check=False)  # fmt: skip
    assert bad.returncode != 0
    assert "additional properties 'operatr' not allowed" in bad.stderr
    helm(
        cp, "upgrade", release, str(CHART), "-n", ns, *sets, *rwx, "--set", "operator.verbose=true"
    )
    assert urls(cp, ns) == first, "helm upgrade must keep the generated database passwords"
    revision = json.loads(helm(cp, "status", release, "-n", ns, "-o", "json").stdout)["version"]
    assert revision == 2

    # RBAC: the operator as in operator/deploy/rbac.yaml, cluster-wide.
    operator = f"system:serviceaccount:{ns}:cappuccino-operator"
    assert can(cp, operator, "create", "jobs.batch", "-A")
    assert can(cp, operator, "patch", "arenas.cappuccino.dev/status", "-A")
    # Secrets: `get` on the chart's database Secret names only, in any namespace (issue 10.7).
    for where in (("-n", "default"), ("-n", ns), ("-A",)):
        for secret in DB_SECRETS:
            assert can(cp, operator, "get", "secrets", *where, name=secret)
        assert not can(cp, operator, "get", "secrets", *where, name="other")
        assert not can(cp, operator, "get", "secrets", *where)
    assert not can(cp, operator, "list", "secrets", "-A")
    assert not can(cp, operator, "create", "pods", "-A")
    # The dashboard: read-only on the four kinds, nothing else.
    dashboard = f"system:serviceaccount:{ns}:{release}-cappuccino-dashboard"
    assert can(cp, dashboard, "list", "studies.cappuccino.dev", "-A")
    assert can(cp, dashboard, "watch", "ensembles.cappuccino.dev", "-A")
    assert not can(cp, dashboard, "create", "studies.cappuccino.dev", "-A")
    assert not can(cp, dashboard, "patch", "arenas.cappuccino.dev/status", "-A")
    assert not can(cp, dashboard, "get", "secrets", "-n", ns)
    # People: the built-in view/edit roles now cover Cappuccino's kinds (aggregation).
    team = fresh("team")
    cp.kubectl("create", "namespace", team)
    cleanup.append(("-", team))
    cp.kubectl("create", "rolebinding", "v", "--clusterrole=view", "--user=viewer", "-n", team)
    cp.kubectl("create", "rolebinding", "e", "--clusterrole=edit", "--user=editor", "-n", team)

    def aggregated() -> bool:
        return can(cp, "viewer", "list", "studies.cappuccino.dev", "-n", team) and can(
            cp, "editor", "create", "trainingsweeps.cappuccino.dev", "-n", team
        )

    wait_for(aggregated, 30, "view/edit to aggregate cappuccino-view/cappuccino-edit")
    assert not can(cp, "viewer", "create", "studies.cappuccino.dev", "-n", team)
    assert not can(cp, "editor", "patch", "studies.cappuccino.dev/status", "-n", team)
    assert not can(cp, "viewer", "list", "studies.cappuccino.dev", "-n", ns)

    # Uninstall keeps every trained model and the password the database volume was made with.
    pvc_uid = get(cp, "pvc", "cappuccino-artifacts", "-n", ns)["metadata"]["uid"]
    helm(cp, "uninstall", release, "--namespace", ns)
    assert not exists(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)
    assert not exists(cp, "secret", "cappuccino-storage", "-n", ns)
    assert get(cp, "pvc", "cappuccino-artifacts", "-n", ns)["metadata"]["uid"] == pvc_uid
    assert exists(cp, "secret", f"{release}-cappuccino-postgresql-auth", "-n", ns)
    # Re-installing the same release adopts them: same PVC, same passwords. The new default
    # (ReadWriteOnce) does not fight the kept PVC's immutable access mode.
    helm(cp, "install", release, str(CHART), "--namespace", ns)
    pvc = get(cp, "pvc", "cappuccino-artifacts", "-n", ns)
    assert pvc["metadata"]["uid"] == pvc_uid
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert urls(cp, ns) == first


def test_namespaced_install_has_no_cluster_wide_access(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartns"), fresh("capp")
    research, trading, other = fresh("research"), fresh("trading"), fresh("other")
    for name in (research, trading, other):
        cp.kubectl("create", "namespace", name)
        cleanup.append(("-", name))
    cleanup.append((release, ns))
    helm(
        cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
        "--set", f"operator.watchNamespaces={{{research},{trading}}}",
        "--set", "dashboard.enabled=true",
    )  # fmt: skip
    args = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    assert f"--namespace={research}" in args
    assert "--all-namespaces" not in args

    operator = f"system:serviceaccount:{ns}:cappuccino-operator"
    for watched in (research, trading):
        assert can(cp, operator, "create", "jobs.batch", "-n", watched)
        assert can(cp, operator, "patch", "ensembles.cappuccino.dev/status", "-n", watched)
        # Only the chart's database Secrets (resourceNames): never any Secret, nor list/watch.
        for secret in ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly"):
            assert can(cp, operator, "get", "secrets", "-n", watched, name=secret)
        assert not can(cp, operator, "get", "secrets", "-n", watched, name="other")
        superuser = f"{release}-cappuccino-postgresql-auth"
        assert not can(cp, operator, "get", "secrets", "-n", watched, name=superuser)
        assert not can(cp, operator, "get", "secrets", "-n", watched)
        assert not can(cp, operator, "list", "secrets", "-n", watched)
        assert can(cp, operator, "create", "deployments.apps", "-n", watched)
    for outside in (other, ns, "default"):
        assert not can(cp, operator, "get", "secrets", "-n", outside)
        assert not can(cp, operator, "create", "jobs.batch", "-n", outside)
        assert not can(cp, operator, "list", "studies.cappuccino.dev", "-n", outside)
    assert not can(cp, operator, "list", "studies.cappuccino.dev", "-A")
    assert not can(cp, operator, "get", "secrets", "-A")
    assert not can(cp, operator, "patch", "clusterkopfpeerings.kopf.dev", "-A")
    assert can(cp, operator, "watch", "customresourcedefinitions.apiextensions.k8s.io", "-A")
    assert can(cp, operator, "watch", "namespaces", "-A")  # kopf matches --namespace patterns
    assert not can(cp, operator, "delete", "namespaces", "-A")
    assert not can(cp, operator, "create", "customresourcedefinitions.apiextensions.k8s.io", "-A")
    assert not [
        r
        for r in get(cp, "clusterrolebinding")["items"]
        if any(s.get("namespace") == ns for s in r.get("subjects") or [])
        and r["roleRef"]["name"] != f"{release}-cappuccino-operator"
    ], "only the CRD/namespace-read ClusterRole may be bound cluster-wide"

    dashboard = f"system:serviceaccount:{ns}:{release}-cappuccino-dashboard"
    assert can(cp, dashboard, "list", "arenas.cappuccino.dev", "-n", research)
    assert not can(cp, dashboard, "list", "arenas.cappuccino.dev", "-n", other)
    assert not can(cp, dashboard, "list", "arenas.cappuccino.dev", "-A")


def test_external_database_secret_is_checked_at_install(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartext"), fresh("capp")
    cp.kubectl("create", "namespace", ns)
    cleanup.append((release, ns))
    url = "postgresql+psycopg://u:p@db.example:5432/cappuccino"
    for name in DB_SECRETS:
        cp.kubectl("create", "secret", "generic", name, f"--from-literal=uri={url}", "-n", ns)
    external = ["--set", "postgresql.enabled=false"]
    wrong = helm(cp, "install", release, str(CHART), "-n", ns, *external, check=False)
    assert wrong.returncode != 0
    assert (
        'database.storageSecret: Secret "cappuccino-storage" has no key "url" (keys: uri)'
        in wrong.stderr
    )
    helm(cp, "install", release, str(CHART), "-n", ns, *external, "--set", "database.secretKey=uri")
    env = get(cp, "deployment", f"{release}-cappuccino-operator", "-n", ns)["spec"]["template"][
        "spec"
    ]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "CAPPUCCINO_STORAGE")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "cappuccino-storage", "key": "uri"}
    assert get(cp, "statefulset", "-n", ns)["items"] == []


def monitoring_crd(kind: str, plural: str) -> dict[str, Any]:
    """A minimal stand-in for the Prometheus Operator's CRD (same group, version and kind)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def test_monitors_are_created_once_the_monitoring_api_exists(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartmon"), fresh("capp")
    cleanup.append((release, ns))
    crds = [monitoring_crd("ServiceMonitor", "servicemonitors"),
            monitoring_crd("PodMonitor", "podmonitors")]  # fmt: skip
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": crds})
    cp.kubectl("apply", "-f", "-", input=manifest)
    try:
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                   "crd/servicemonitors.monitoring.coreos.com",
                   "crd/podmonitors.monitoring.coreos.com")  # fmt: skip
        helm(
            cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
            "--set", "monitoring.serviceMonitor.enabled=true",
            "--set", "monitoring.podMonitor.enabled=true",
        )  # fmt: skip
        monitor = get(cp, "servicemonitor", f"{release}-cappuccino-operator", "-n", ns)
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        pods = get(cp, "podmonitor", f"{release}-cappuccino-workloads", "-n", ns)
        assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
        helm(cp, "uninstall", release, "--namespace", ns)
    finally:
        cp.kubectl("delete", "-f", "-", "--wait=true", input=manifest, check=False)


def test_operator_runs_on_the_namespaced_install_rbac(
    control_plane: ControlPlane,
    cleanup: list[tuple[str, str]],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """The operator itself, authenticated as the chart's ServiceAccount of a namespaced install,
    reconciles a Study and a TrainingSweep in its watched namespace (no 403 anywhere) and leaves
    another namespace alone."""
    from tests.controlplane.test_operator_examples import EXAMPLES, cond
    from tests.support.controlplane import OperatorProcess

    cp = control_plane
    ns, release, watched, other = fresh("chartop"), fresh("capp"), fresh("lab"), fresh("other")
    for name in (watched, other):
        cp.kubectl("create", "namespace", name)
        cleanup.append(("-", name))
    cleanup.append((release, ns))
    helm(
        cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
        "--set", f"operator.watchNamespaces={{{watched}}}",
    )  # fmt: skip
    kubeconfig = cp.service_account_kubeconfig(ns, "cappuccino-operator")
    study = yaml.safe_load((EXAMPLES / "study.yaml").read_text())
    sweep = yaml.safe_load((EXAMPLES / "trainingsweep.yaml").read_text())
    sweep["spec"].update(
        {"trials": 2, "parallelism": 1, "resources": {"cpu": "1", "memory": "1Gi"}}
    )
    sweep["spec"].pop("tolerations", None)
    proc = OperatorProcess(
        kubeconfig,
        postgres_url,
        tmp_path / "operator.log",
        args=["run", f"--namespace={watched}", "--standalone"],
    )
    proc.start()
    try:
        for target in (watched, other):
            docs = json.dumps({"apiVersion": "v1", "kind": "List", "items": [study, sweep]})
            cp.kubectl("apply", "-n", target, "-f", "-", input=docs)

        def ready() -> bool:
            s = get(cp, "study", study["metadata"]["name"], "-n", watched)
            return cond(s, "Ready").get("status") == "True"

        proc.wait_until(ready, 90, "the watched namespace's Study Ready")
        proc.wait_until(
            lambda: get(cp, "jobs", "-n", watched)["items"], 90, "the sweep's Job in the watched ns"
        )
        untouched = get(cp, "study", study["metadata"]["name"], "-n", other)
        assert not untouched.get("status"), "a namespace outside watchNamespaces was reconciled"
        assert get(cp, "jobs", "-n", other)["items"] == []
        logs = proc.logs()
        assert "403" not in logs and "Forbidden" not in logs, logs[-3000:]
    finally:
        proc.stop()


def test_dashboard_runs_with_the_charts_read_only_identities(
    control_plane: ControlPlane,
    cleanup: list[tuple[str, str]],
    postgres_server: Any,
    tmp_path: Path,
) -> None:
    """`cappuccino dashboard` started with the chart's Deployment command and environment, the
    chart's read-only database role (files/postgresql-roles.psql) and the dashboard's
    ServiceAccount: it shows the Optuna study and the custom resources, and cannot write."""
    import shutil
    import sys
    import urllib.request

    import optuna

    from tests.chart.test_database_roles import apply_roles
    from tests.support.controlplane import Child, free_port

    cp = control_plane
    ns, release = fresh("chartdash"), fresh("capp")
    cleanup.append((release, ns))
    helm(cp, "install", release, str(CHART), "--namespace", ns, "--create-namespace",
         "--set", "dashboard.enabled=true")  # fmt: skip
    study_cr = {
        "apiVersion": "cappuccino.dev/v1alpha1",
        "kind": "Study",
        "metadata": {"name": "dash-study"},
        "spec": {"direction": "maximize", "data": {"source": "sample"}},
    }
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(study_cr))

    database = postgres_server.create_database().rsplit("/", 1)[1]
    suffix = uuid.uuid4().hex[:8]
    roles = {w: f"dash_{w}_{suffix}" for w in ("worker", "trader", "readonly")}
    apply_roles(postgres_server, database, roles)
    url = f"postgresql+psycopg://{{}}@127.0.0.1:{postgres_server.port}/{database}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="dash-optuna", storage=url.format(roles["worker"]))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)

    deployment = get(cp, "deployment", f"{release}-cappuccino-dashboard", "-n", ns)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:  # the readonly Secret's URL, pointed at this test's database
            assert var["valueFrom"]["secretKeyRef"]["name"] == "cappuccino-readonly"
            env[var["name"]] = url.format(roles["readonly"])
    env["HOME"] = str(tmp_path)
    env["CAPPUCCINO_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    env["KUBECONFIG"] = str(cp.service_account_kubeconfig(ns, f"{release}-cappuccino-dashboard"))
    port = free_port()
    argv = list(container["command"])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    argv[0] = shutil.which("cappuccino", path=str(Path(sys.executable).parent)) or "cappuccino"
    dash = Child("dashboard", argv, tmp_path / "dashboard.log", env=env)
    dash.start()
    try:

        def fetch(path: str) -> Any:
            dash.check_alive(f"GET {path}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
                return json.loads(r.read())

        assert wait_for(lambda: fetch("/healthz"), 60, "dashboard /healthz",
                        interval=0.5, diagnostics=dash.log_tail) == {"status": "ok"}  # fmt: skip
        model = fetch("/api/dashboard")
        sources = {s["name"]: s for s in model["system"]["sources"]}
        assert sources["Kubernetes"]["ok"], sources["Kubernetes"]
        names = {p["name"] for p in model["system"]["processes"]}
        assert "dash-study" in json.dumps(model["system"]["processes"]), names
        for source in sources.values():  # what the chart answers for: its identities suffice
            error = (source.get("error") or "").lower()
            assert "permission denied" not in error and "forbidden" not in error, source
        optuna_source = sources["Optuna storage"]
        if "operator does not exist: trialvaluetype" in (optuna_source.get("error") or ""):
            # The dashboard's own SQL fails on PostgreSQL under every role (enum vs varchar);
            # the dashboard must fix it, then this check runs for real.
            pytest.xfail(f"dashboard SQL bug on PostgreSQL: {optuna_source['error']}")
        assert optuna_source["ok"], optuna_source
        assert "dash-optuna" in json.dumps(model["training"]), sources
    finally:
        dash.stop()


def test_existing_password_secret_is_checked_and_nothing_is_generated(
    control_plane: ControlPlane, cleanup: list[tuple[str, str]]
) -> None:
    cp = control_plane
    ns, release = fresh("chartgit"), fresh("capp")
    cp.kubectl("create", "namespace", ns)
    cleanup.append((release, ns))
    cp.kubectl("create", "secret", "generic", "sealed-db", "-n", ns,
               "--from-literal=postgres-password=a", "--from-literal=worker-password=b")  # fmt: skip
    sets = ["--set", "postgresql.auth.existingSecret=sealed-db"]
    missing = helm(cp, "install", release, str(CHART), "-n", ns, *sets, check=False)
    assert missing.returncode != 0
    assert (
        'postgresql.auth.existingSecret: Secret "sealed-db" has no key "trader-password" '
        "(keys: postgres-password, worker-password)" in missing.stderr
    ), missing.stderr
    cp.kubectl("delete", "secret", "sealed-db", "-n", ns)
    literals = [f"--from-literal={w}-password=pw-{w}" for w in ("postgres", "worker", "trader",
                                                                "readonly")]  # fmt: skip
    cp.kubectl("create", "secret", "generic", "sealed-db", "-n", ns, *literals)
    no_urls = helm(cp, "install", release, str(CHART), "-n", ns, *sets, check=False)
    assert 'database.storageSecret: Secret "cappuccino-storage" not found' in no_urls.stderr
    for name in DB_SECRETS:
        cp.kubectl("create", "secret", "generic", name, "-n", ns, "--from-literal=url=x")
    helm(cp, "install", release, str(CHART), "-n", ns, *sets)
    created = {
        s["metadata"]["name"]
        for s in get(cp, "secret", "-n", ns)["items"]
        if s["type"] != "helm.sh/release.v1"  # helm's own release record
    }
    assert created == {"sealed-db", *DB_SECRETS}, "the chart must not write any Secret"
    env = get(cp, "statefulset", f"{release}-cappuccino-postgresql", "-n", ns)["spec"]["template"][
        "spec"
    ]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert refs["POSTGRES_PASSWORD"] == {"name": "sealed-db", "key": "postgres-password"}
