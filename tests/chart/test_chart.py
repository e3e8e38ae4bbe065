"""The Helm chart, rendered by the real helm binary: lint, schema, security defaults, value checks,
each optional component, and that its CRDs and RBAC are the single generated/declared sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import find_bin_dir

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cappuccino"
KUBE_VERSION = "1.36.3"
MONITORING = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PodMonitor")
EVERYTHING = (
    "dashboard.enabled=true",
    "optunaDashboard.enabled=true",
    "networkPolicy.enabled=true",
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.grafanaDashboard.enabled=true",
    "operator.podDisruptionBudget.enabled=true",
    "dashboard.podDisruptionBudget.enabled=true",
)
WORKLOADS = {"Deployment", "StatefulSet"}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(find_bin_dir() / "helm"), *args], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def template_argv(*sets: str, api_versions: tuple[str, ...] = ()) -> list[str]:
    argv = ["template", "t", str(CHART), "--namespace", "cappuccino-system"]
    argv += ["--kube-version", KUBE_VERSION]
    for api in api_versions:
        argv += ["--api-versions", api]
    for s in sets:
        argv += ["--set", s]
    return argv


def render_text(*sets: str, api_versions: tuple[str, ...] = ()) -> str:
    return helm(*template_argv(*sets, api_versions=api_versions)).stdout


def render(*sets: str, api_versions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(*sets, api_versions=api_versions)) if d]


def render_error(*sets: str) -> str:
    proc = helm(*template_argv(*sets), check=False)
    assert proc.returncode != 0, f"helm template with {sets} should have failed"
    return proc.stderr


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container_env(workload: dict[str, Any], index: int = 0) -> dict[str, Any]:
    container = workload["spec"]["template"]["spec"]["containers"][index]
    return {e["name"]: e for e in container.get("env", [])}


def operator_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", "t-cappuccino-operator")


# --------------------------------------------------------------------------------------------
# Lint, schema, kustomize


def test_chart_lints() -> None:
    out = helm("lint", str(CHART), "--kube-version", KUBE_VERSION).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def test_chart_lints_with_every_component_enabled() -> None:
    argv = ["lint", str(CHART), "--kube-version", KUBE_VERSION]
    for s in EVERYTHING:
        argv += ["--set", s]
    assert "0 chart(s) failed" in helm(*argv).stdout


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["operatr.replicas=2"], "additional properties 'operatr' not allowed"),
        (["operator.replcas=2"], "at '/operator': additional properties 'replcas' not allowed"),
        (["artifacts.pvc.accessMode=ReadMany"], "at '/artifacts/pvc/accessMode'"),
        (["operator.metrics.port=0"], "at '/operator/metrics/port'"),
        (["database.storageSecret=Bad_Name"], "at '/database/storageSecret'"),
        (["monitoring.podMonitor.interval=often"], "at '/monitoring/podMonitor/interval'"),
    ],
)
def test_schema_rejects_typos_and_bad_types(sets: list[str], message: str) -> None:
    assert message in render_error(*sets)


def test_kubectl_kustomize_accepts_the_rendered_chart(tmp_path: Path) -> None:
    """kustomize rejects duplicate mapping keys (the old chart repeated app.kubernetes.io/instance)."""
    (tmp_path / "chart.yaml").write_text(render_text(*EVERYTHING, api_versions=MONITORING))
    (tmp_path / "kustomization.yaml").write_text("resources: [chart.yaml]\n")
    proc = subprocess.run(
        [str(find_bin_dir() / "kubectl"), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len([d for d in yaml.safe_load_all(proc.stdout) if d]) == len(
        render(*EVERYTHING, api_versions=MONITORING)
    )


# --------------------------------------------------------------------------------------------
# Pods: security, scheduling, pull secrets


def test_every_pod_is_non_root_with_read_only_root_filesystem() -> None:
    workloads = [d for d in render(*EVERYTHING) if d["kind"] in WORKLOADS]
    names = {d["metadata"]["name"] for d in workloads}
    assert names == {
        "t-cappuccino-operator",
        "t-cappuccino-postgresql",
        "t-cappuccino-dashboard",
        "t-cappuccino-optuna-dashboard",
    }
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, container["name"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]


def test_security_contexts_are_configurable() -> None:
    docs = render(
        "postgresql.podSecurityContext.runAsUser=999",
        "postgresql.podSecurityContext.fsGroup=999",
        "operator.securityContext.readOnlyRootFilesystem=false",
    )
    pg = one(docs, "StatefulSet", "t-cappuccino-postgresql")["spec"]["template"]["spec"]
    assert pg["securityContext"]["runAsUser"] == 999
    assert pg["securityContext"]["fsGroup"] == 999
    op = operator_deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    assert op["securityContext"]["readOnlyRootFilesystem"] is False


def test_scheduling_pull_secrets_and_pod_metadata_reach_every_pod() -> None:
    sets = ["imagePullSecrets[0].name=regcred"]
    for part in ("operator", "postgresql", "dashboard", "optunaDashboard"):
        sets += [
            f"{part}.priorityClassName=cappuccino-high",
            f"{part}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms[0].matchExpressions[0].key=pool",
            f"{part}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
            f"{part}.podAnnotations.team/owner=quant",
            f"{part}.podLabels.team=quant",
        ]
    docs = render("dashboard.enabled=true", "optunaDashboard.enabled=true", *sets)
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    assert len(workloads) == 4
    for workload in workloads:
        template = workload["spec"]["template"]
        pod = template["spec"]
        name = workload["metadata"]["name"]
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], name
        assert pod["priorityClassName"] == "cappuccino-high", name
        assert "nodeAffinity" in pod["affinity"], name
        assert template["metadata"]["annotations"]["team/owner"] == "quant", name
        assert template["metadata"]["labels"]["team"] == "quant", name
        # the selector still matches the pod
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items(), name
    env = container_env(operator_deployment(docs))
    assert env["CAPPUCCINO_IMAGE_PULL_SECRETS"]["value"] == "regcred"


def test_pod_labels_cannot_break_the_selector() -> None:
    docs = render("operator.podLabels.app\\.kubernetes\\.io/name=other")
    template = operator_deployment(docs)["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == "cappuccino-operator"


# --------------------------------------------------------------------------------------------
# Operator


def test_operator_reads_the_database_url_from_a_secret_never_a_literal() -> None:
    docs = render()
    deployment = operator_deployment(docs)
    env = container_env(deployment)
    # The operator creates the Optuna studies (and records their owner): the workers' role.
    assert env["CAPPUCCINO_STORAGE"]["valueFrom"]["secretKeyRef"] == {
        "name": "cappuccino-storage",
        "key": "url",
    }
    assert "value" not in env["CAPPUCCINO_STORAGE"]
    assert env["CAPPUCCINO_STORAGE_SECRET"]["value"] == "cappuccino-storage"
    assert env["CAPPUCCINO_LEDGER_SECRET"]["value"] == "cappuccino-ledger"
    assert env["CAPPUCCINO_STORAGE_SECRET_KEY"]["value"] == "url"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["run", "--all-namespaces", "--standalone"]
    assert "--metrics-port=8080" in container["args"]
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["args"]
    service = one(docs, "Service", "t-cappuccino-operator-metrics")
    assert service["spec"]["ports"][0]["port"] == 8080
    readonly = container_env(operator_deployment(render("operator.databaseAccess=readonly")))
    assert readonly["CAPPUCCINO_STORAGE"]["valueFrom"]["secretKeyRef"]["name"] == (
        "cappuccino-readonly"
    )
    off = operator_deployment(render("operator.metrics.enabled=false"))
    assert "--metrics-port=0" in off["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [
        d for d in render("operator.metrics.enabled=false") if "metrics" in d["metadata"]["name"]
    ]


def test_several_replicas_run_kopf_peering() -> None:
    docs = render("operator.replicas=2")
    deployment = operator_deployment(docs)
    assert deployment["spec"]["replicas"] == 2
    assert "--standalone" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    peering = one(docs, "ClusterKopfPeering", "cappuccino")
    assert peering["metadata"]["name"] == "cappuccino"


def test_pod_disruption_budgets() -> None:
    assert not kinds(render(), "PodDisruptionBudget")
    docs = render(*EVERYTHING)
    for component in ("operator", "dashboard"):
        pdb = one(docs, "PodDisruptionBudget", f"t-cappuccino-{component}")
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": f"cappuccino-{component}",
            "app.kubernetes.io/instance": "t",
        }


# --------------------------------------------------------------------------------------------
# Artifacts PVC


def test_artifacts_pvc_binds_everywhere_by_default_and_survives_uninstall() -> None:
    docs = render()
    pvc = one(docs, "PersistentVolumeClaim", "cappuccino-artifacts")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    env = container_env(operator_deployment(docs))
    assert env["CAPPUCCINO_ARTIFACT_PVC"]["value"] == "cappuccino-artifacts"
    rwx = render("artifacts.pvc.accessMode=ReadWriteMany", "artifacts.pvc.keepOnUninstall=false")
    pvc = one(rwx, "PersistentVolumeClaim", "cappuccino-artifacts")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "annotations" not in pvc["metadata"]


def test_artifacts_pvc_can_be_disabled_for_object_storage() -> None:
    disabled = render("artifacts.pvc.enabled=false", "artifacts.root=s3://bucket/models")
    assert not kinds(disabled, "PersistentVolumeClaim")
    env = container_env(operator_deployment(disabled))
    assert "CAPPUCCINO_ARTIFACT_PVC" not in env
    assert env["CAPPUCCINO_ARTIFACT_ROOT"]["value"] == "s3://bucket/models"


# --------------------------------------------------------------------------------------------
# Database: roles, Secrets, passwords


def secret_data(doc: dict[str, Any]) -> dict[str, str]:
    import base64

    return {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}


def test_each_component_gets_its_own_least_privilege_database_role() -> None:
    docs = render()
    urls = {
        name: secret_data(one(docs, "Secret", name))["url"]
        for name in ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly")
    }
    host = "@t-cappuccino-postgresql.cappuccino-system.svc:5432/cappuccino"
    for name, role in (
        ("cappuccino-storage", "cappuccino_worker"),
        ("cappuccino-ledger", "cappuccino_trader"),
        ("cappuccino-readonly", "cappuccino_readonly"),
    ):
        assert urls[name].startswith(f"postgresql+psycopg://{role}:"), urls[name]
        assert urls[name].endswith(host)
    passwords = secret_data(one(docs, "Secret", "t-cappuccino-postgresql-auth"))
    assert set(passwords) == {
        "postgres-password",
        "worker-password",
        "trader-password",
        "readonly-password",
    }
    assert len(set(passwords.values())) == 4, "every role has its own password"
    auth = one(docs, "Secret", "t-cappuccino-postgresql-auth")
    assert auth["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    init = one(docs, "ConfigMap", "t-cappuccino-postgresql-init")
    assert "cappuccino_trader" in init["data"]["10-cappuccino-roles.sh"]
    assert init["data"]["roles.psql"] == (CHART / "files" / "postgresql-roles.psql").read_text()
    pod = one(docs, "StatefulSet", "t-cappuccino-postgresql")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/docker-entrypoint-initdb.d"] == "init"
    env = container_env(one(docs, "StatefulSet", "t-cappuccino-postgresql"))
    assert env["CAPPUCCINO_TRADER_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == (
        "trader-password"
    )


def test_given_passwords_render_identically_every_time() -> None:
    sets = [f"postgresql.auth.passwords.{w}=pw-{w}/x" for w in ("postgres", "worker", "trader")]
    sets.append("postgresql.auth.passwords.readonly=pw-readonly")
    first, second = render_text(*sets), render_text(*sets)
    assert first == second
    url = secret_data(one(render(*sets), "Secret", "cappuccino-storage"))["url"]
    assert url.startswith("postgresql+psycopg://cappuccino_worker:pw-worker%2Fx@")


def test_existing_secret_renders_no_password_and_is_stable_for_gitops() -> None:
    sets = ["postgresql.auth.existingSecret=sealed-db"]
    first, second = render_text(*sets), render_text(*sets)
    assert first == second, "helm template must not regenerate anything"
    docs = render(*sets)
    assert not kinds(docs, "Secret")
    env = container_env(one(docs, "StatefulSet", "t-cappuccino-postgresql"))
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "sealed-db",
        "key": "postgres-password",
    }


def test_database_secret_key_is_configurable_and_validated() -> None:
    docs = render("database.secretKey=connection")
    assert set(secret_data(one(docs, "Secret", "cappuccino-storage"))) == {"connection"}
    env = container_env(operator_deployment(docs))
    assert env["CAPPUCCINO_STORAGE"]["valueFrom"]["secretKeyRef"]["key"] == "connection"
    assert env["CAPPUCCINO_STORAGE_SECRET_KEY"]["value"] == "connection"
    assert "at '/database/secretKey'" in render_error("database.secretKey=db url")


def test_external_database_and_watched_namespaces() -> None:
    docs = render(
        "postgresql.enabled=false",
        "database.storageSecret=my-db",
        "operator.watchNamespaces={research,trading}",
    )
    assert not kinds(docs, "StatefulSet")
    assert not kinds(docs, "Secret"), "the external database's Secrets are the user's"
    deployment = operator_deployment(docs)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ref = next(e for e in container["env"] if e["name"] == "CAPPUCCINO_STORAGE")
    assert ref["valueFrom"]["secretKeyRef"]["name"] == "my-db"
    assert "--namespace=research" in container["args"]
    assert "--namespace=trading" in container["args"]
    assert not kinds(docs, "ClusterKopfPeering")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["operator.statusInterval=0"], "at '/operator/statusInterval'"),
        (
            ["operator.replicas=2", "operator.watchNamespaces={a}"],
            "operator.watchNamespaces: must be empty when operator.replicas > 1",
        ),
        (
            ["operator.metrics.port=8081"],
            "operator.metrics.port: must differ from operator.healthPort (both 8081)",
        ),
        (
            ["postgresql.enabled=false", "postgresql.auth.existingSecret=x"],
            "postgresql.auth.existingSecret: only used with postgresql.enabled=true",
        ),
    ],
)
def test_bad_values_fail_naming_the_values_path(sets: list[str], message: str) -> None:
    assert message in render_error(*sets)


# --------------------------------------------------------------------------------------------
# RBAC


def test_chart_cluster_role_equals_the_operator_rbac() -> None:
    declared = next(
        d
        for d in yaml.safe_load_all((REPO / "operator" / "deploy" / "rbac.yaml").read_text())
        if d and d["kind"] == "ClusterRole"
    )
    rendered = one(render(), "ClusterRole", "t-cappuccino-operator")
    without_secrets = [r for r in declared["rules"] if "secrets" not in r["resources"]]
    assert rendered["rules"][:-1] == without_secrets, "run scripts/sync-chart"
    assert not kinds(render(), "Role")


@pytest.mark.parametrize(
    ("sets", "names"),
    [
        ((), ["cappuccino-ledger", "cappuccino-readonly", "cappuccino-storage"]),
        (("operator.rbac.extraSecretNames={study-b}",),
         ["cappuccino-ledger", "cappuccino-readonly", "cappuccino-storage", "study-b"]),
    ],
)  # fmt: skip
def test_cluster_role_reads_only_the_charts_secrets(
    sets: tuple[str, ...], names: list[str]
) -> None:
    """Issue 10.7, cluster-wide install: the ClusterRole's one Secret rule is `get` on the
    chart's database Secrets and operator.rbac.extraSecretNames, never any Secret."""
    rules = one(render(*sets), "ClusterRole", "t-cappuccino-operator")["rules"]
    assert secret_rules(rules) == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": names, "verbs": ["get"]}
    ]


def namespaced_role_rules() -> list[dict[str, Any]]:
    """The Role rules of operator/deploy/rbac-namespaced.yaml (the operator's single source)."""
    path = REPO / "operator" / "deploy" / "rbac-namespaced.yaml"
    role = next(d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Role")
    return list(role["rules"])


def secret_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if "secrets" in r["resources"] or "*" in r["resources"]]


def test_chart_namespaced_rules_follow_the_operator_rbac() -> None:
    """scripts/sync-chart copies rbac-namespaced.yaml's Role rules less its Secret rule (that one
    names one install's Secrets); the chart's Role is that copy plus its own Secret rule."""
    declared = namespaced_role_rules()
    assert secret_rules(declared), "rbac-namespaced.yaml's Role has no Secret rule"
    without_secrets = [r for r in declared if "secrets" not in r["resources"]]
    copy = CHART / "files" / "operator-namespaced-rules.yaml"
    assert copy.exists(), "run scripts/sync-chart"
    assert yaml.safe_load(copy.read_text()) == without_secrets, "run scripts/sync-chart"
    role = kinds(render("operator.watchNamespaces={research}"), "Role")[0]
    assert role["rules"][:-1] == without_secrets
    assert role["rules"][-1]["resources"] == ["secrets"]


@pytest.mark.parametrize(
    ("sets", "names"),
    [
        ((), ["cappuccino-ledger", "cappuccino-readonly", "cappuccino-storage"]),
        (
            (
                "database.storageSecret=db-w",
                "database.ledgerSecret=db-t",
                "database.readonlySecret=db-r",
                "postgresql.enabled=false",
                "externalDatabase.skipSecretCheck=true",
                "operator.rbac.extraSecretNames={study-b,db-w}",
            ),
            ["db-r", "db-t", "db-w", "study-b"],
        ),
        (
            ("postgresql.auth.existingSecret=pg-auth", "externalDatabase.skipSecretCheck=true"),
            ["cappuccino-ledger", "cappuccino-readonly", "cappuccino-storage"],
        ),
    ],
)
def test_namespaced_role_reads_only_the_charts_secrets(
    sets: tuple[str, ...], names: list[str]
) -> None:
    """Each watched namespace's Role may `get` exactly the chart's database Secrets and
    operator.rbac.extraSecretNames: no list/watch, no unrestricted Secret access, and never the
    PostgreSQL superuser Secret (postgresql.auth.existingSecret)."""
    docs = render("operator.watchNamespaces={research,trading}", *sets)
    roles = kinds(docs, "Role")
    assert len(roles) == 2
    for role in roles:
        assert secret_rules(role["rules"]) == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": names,
                "verbs": ["get"],
            }
        ]
    cluster = one(docs, "ClusterRole", "t-cappuccino-operator")
    assert not secret_rules(cluster["rules"])


def test_extra_secret_names_are_validated() -> None:
    assert "does not match pattern" in render_error(
        "operator.watchNamespaces={research}", "operator.rbac.extraSecretNames={Bad_Name}"
    )


def test_namespaced_install_renders_a_role_per_watched_namespace() -> None:
    docs = render("operator.watchNamespaces={research,trading}")
    roles = kinds(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["research", "trading"]
    bindings = kinds(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["research", "trading"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "t-cappuccino-operator",
        }
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "cappuccino-operator",
                "namespace": "cappuccino-system",
            }
        ]
    namespaced = {res for rule in roles[0]["rules"] for res in rule["resources"]}
    assert {"secrets", "jobs", "deployments", "studies", "arenas/status"} <= namespaced
    assert "customresourcedefinitions" not in namespaced
    cluster = one(docs, "ClusterRole", "t-cappuccino-operator")
    cluster_resources = {res for rule in cluster["rules"] for res in rule["resources"]}
    assert cluster_resources == {"customresourcedefinitions", "namespaces"}
    assert {v for rule in cluster["rules"] for v in rule["verbs"]} <= {"get", "list", "watch"}


def test_aggregated_user_roles() -> None:
    docs = render()
    view = one(docs, "ClusterRole", "cappuccino-view")
    edit = one(docs, "ClusterRole", "cappuccino-edit")
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    assert "create" in {v for r in edit["rules"] for v in r["verbs"]}
    assert not any("/status" in res for r in edit["rules"] for res in r["resources"])
    off = one(render("rbac.aggregatedUserRoles=false"), "ClusterRole", "cappuccino-view")
    assert not any(k.startswith("rbac.authorization.k8s.io/") for k in off["metadata"]["labels"])


# --------------------------------------------------------------------------------------------
# PostgreSQL pod


def test_bundled_postgresql_has_liveness_and_tcp_readiness_and_a_configurable_image() -> None:
    docs = render("postgresql.image.repository=localhost/cappuccino-postgresql")
    container = one(docs, "StatefulSet", "t-cappuccino-postgresql")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == "localhost/cappuccino-postgresql:16-alpine"
    assert container["livenessProbe"]["exec"]["command"][0] == "pg_isready"
    assert container["livenessProbe"]["failureThreshold"] >= 3
    assert container["startupProbe"]["exec"]["command"][0] == "pg_isready"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "initdb may take minutes"
    assert container["readinessProbe"]["exec"]["command"][:3] == ["pg_isready", "-h", "127.0.0.1"]


# --------------------------------------------------------------------------------------------
# Dashboards, monitoring, network policy


def test_dashboard_is_read_only_on_database_and_custom_resources() -> None:
    assert not [d for d in render() if "dashboard" in d["metadata"]["name"]]
    docs = render("dashboard.enabled=true")
    deployment = one(docs, "Deployment", "t-cappuccino-dashboard")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == [
        "cappuccino",
        "dashboard",
        "--host",
        "0.0.0.0",
        "--port",
        "8050",
    ]
    env = container_env(deployment)
    for var in ("CAPPUCCINO_STORAGE", "CAPPUCCINO_LEDGER_URL"):
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "cappuccino-readonly"
    assert env["CAPPUCCINO_DASHBOARD_KUBE"]["value"] == "1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["serviceAccountName"] == "t-cappuccino-dashboard"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/lib/cappuccino/artifacts"]["readOnly"] is True
    binding = one(docs, "ClusterRoleBinding", "t-cappuccino-dashboard")
    assert binding["roleRef"]["name"] == "cappuccino-view"
    service = one(docs, "Service", "t-cappuccino-dashboard")
    assert service["spec"]["ports"][0]["port"] == 8050
    namespaced = render("dashboard.enabled=true", "operator.watchNamespaces={research}")
    assert not [d for d in kinds(namespaced, "ClusterRoleBinding") if "dashboard" in str(d)]
    env = container_env(one(namespaced, "Deployment", "t-cappuccino-dashboard"))
    assert env["CAPPUCCINO_DASHBOARD_NAMESPACES"]["value"] == "research"
    assert "CAPPUCCINO_DASHBOARD_NAMESPACES" not in container_env(deployment)
    rb = one(namespaced, "RoleBinding", "t-cappuccino-dashboard")
    assert rb["metadata"]["namespace"] == "research"
    assert rb["roleRef"]["name"] == "cappuccino-view"


def test_optuna_dashboard_uses_the_read_only_role() -> None:
    docs = render("optunaDashboard.enabled=true")
    deployment = one(docs, "Deployment", "t-cappuccino-optuna-dashboard")
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    env = container_env(deployment)
    ref = env["OPTUNA_STORAGE"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "cappuccino-readonly", "key": "optuna-dashboard-url"}
    readonly = secret_data(one(docs, "Secret", "cappuccino-readonly"))
    assert readonly["optuna-dashboard-url"].startswith("postgresql://cappuccino_readonly:")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-1] == "$(OPTUNA_STORAGE)"
    one(docs, "Service", "t-cappuccino-optuna-dashboard")


def test_monitors_only_when_the_prometheus_operator_api_exists() -> None:
    sets = ("monitoring.serviceMonitor.enabled=true", "monitoring.podMonitor.enabled=true")
    without = render(*sets)
    assert not kinds(without, "ServiceMonitor")
    assert not kinds(without, "PodMonitor")
    docs = render(*sets, "dashboard.enabled=true", api_versions=MONITORING)
    monitor = one(docs, "ServiceMonitor", "t-cappuccino-operator")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == (
        "cappuccino-operator"
    )
    pods = one(docs, "PodMonitor", "t-cappuccino-workloads")
    assert pods["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "cappuccino-operator"
    }
    components = pods["spec"]["selector"]["matchExpressions"][0]["values"]
    assert set(components) == {"trader", "trainer"}
    assert pods["spec"]["namespaceSelector"] == {"any": True}
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    both = render(*sets, "dashboard.enabled=true", "monitoring.serviceMonitor.dashboard=true",
                  api_versions=MONITORING)  # fmt: skip
    one(both, "ServiceMonitor", "t-cappuccino-dashboard")


# Contract 6 (operator, workers) and the trader's own metrics (trading/ops.py).
BOARD_METRICS = {
    "cappuccino_operator_reconciles_total",
    "cappuccino_operator_errors_total",
    "cappuccino_operator_children",
    "cappuccino_operator_sweeps_running",
    "cappuccino_worker_trials_total",
    "cappuccino_worker_env_steps_per_second",
    "cappuccino_equity",
    "cappuccino_return",
    "cappuccino_drawdown",
    "cappuccino_trades_total",
    "cappuccino_rank",
    "cappuccino_guard_halted",
    "cappuccino_last_poll_timestamp",
}


def test_grafana_dashboard_configmap_shows_every_metric() -> None:
    assert not [d for d in kinds(render(), "ConfigMap") if "grafana" in d["metadata"]["name"]]
    docs = render("monitoring.grafanaDashboard.enabled=true")
    cm = one(docs, "ConfigMap", "t-cappuccino-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(cm["data"]["cappuccino.json"])
    exprs = " ".join(t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"])
    missing = sorted(m for m in BOARD_METRICS if m not in exprs)
    assert not missing, f"metrics without a panel: {missing}"
    assert board["uid"] == "cappuccino"


def test_network_policies() -> None:
    assert not kinds(render(), "NetworkPolicy")
    docs = render(
        "networkPolicy.enabled=true",
        "dashboard.enabled=true",
        "operator.watchNamespaces={research}",
        "networkPolicy.databaseClientNamespaces={lab}",
    )
    pg = one(docs, "NetworkPolicy", "t-cappuccino-postgresql")
    rule = pg["spec"]["ingress"][0]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    peers = rule["from"]
    assert peers[0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "t",
        "app.kubernetes.io/part-of": "cappuccino",
    }
    namespaces = peers[1]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert namespaces == ["cappuccino-system", "research", "lab"]
    assert peers[1]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "cappuccino-operator"
    }
    operator = one(docs, "NetworkPolicy", "t-cappuccino-operator")
    assert {p["port"] for p in operator["spec"]["ingress"][0]["ports"]} == {8080, 8081}
    one(docs, "NetworkPolicy", "t-cappuccino-dashboard")


# --------------------------------------------------------------------------------------------
# Single sources


def test_chart_crds_are_the_generated_crds() -> None:
    generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    shipped = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert shipped == generated, "run scripts/sync-chart"
    for name in generated:
        assert (CHART / "crds" / name).read_text() == (REPO / "crds" / name).read_text(), (
            f"charts/cappuccino/crds/{name} drifted from crds/{name}; run scripts/sync-chart"
        )


def test_values_table_in_readme_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "chart_values_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_schema_describes_every_default_value() -> None:
    """Every key of values.yaml is declared in values.schema.json (else the schema rejects it)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], sch: dict[str, Any], path: str) -> None:
        props = sch.get("properties", {})
        for key, value in node.items():
            assert key in props, f"{path}{key} is not in values.schema.json"
            if isinstance(value, dict) and props[key].get("additionalProperties") is False:
                walk(value, props[key], f"{path}{key}.")

    walk(values, schema, "")
