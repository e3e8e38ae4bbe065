"""Fixtures for tests against a REAL kube-apiserver + etcd (see docs/controlplane.md).

Every test under tests/controlplane/ gets the `controlplane` marker automatically
(`pytest -m "not controlplane"` skips them all).

Fixtures:
- `control_plane` (session): a running `tests.support.controlplane.ControlPlane`: etcd,
  kube-apiserver and kube-controller-manager (garbage-collector + namespace controllers) on
  free loopback ports. Attributes and methods: `.kubeconfig` (admin Path), `.server` (URL),
  `.bin_dir`, `.has_garbage_collector`, `.kubectl(*args, as_user=None, check=True, input=None,
  kubeconfig=None) -> CompletedProcess[str]`, `.api_client()`,
  `.service_account_kubeconfig(namespace, name, create=False) -> Path`, `.logs(component)`.
  Binaries come from $CAPPUCCINO_CONTROLPLANE_BIN, else scripts/controlplane-build (cached).
- `k8s` (session): admin `kubernetes.client.ApiClient`.
- `namespace` (function): a fresh namespace (random name `t-xxxxxxxx`), deleted afterwards
  (the namespace controller finalizes it in the background).
- `operator_deployment` (session): namespace `cappuccino-system`, crds/*.yaml applied with
  `kubectl apply --server-side` and Established, operator/deploy/rbac.yaml applied; an
  `OperatorDeployment` with `.namespace`, `.service_account`, `.crds` (names) and `.kubeconfig`
  (a kubeconfig authenticating AS that ServiceAccount).
- `operator` (function scope: every test gets a fresh process and a fresh database, so a test
  that kills or restarts it cannot disturb another): an `OperatorProcess` running
  `python -m cappuccino_operator run --all-namespaces --standalone` with KUBECONFIG = the
  ServiceAccount kubeconfig (never admin), CAPPUCCINO_STORAGE = a fresh PostgreSQL database
  (`postgres_url`), PYTHONUNBUFFERED=1. Methods: `.logs()`, `.stop()`, `.kill()` (SIGKILL),
  `.restart()`, `.pid`, `.running()`, `.wait_until(predicate, timeout=60, what=...)` (polls;
  on timeout or operator exit raises with the operator's last log lines). Its log is attached
  to the test report when the test fails. Tune it per module by overriding the fixtures
  `operator_env` (extra env vars, default {}) and `operator_args` (default
  ["run", "--all-namespaces", "--standalone"]).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import (
    ControlPlane,
    ControlPlaneError,
    OperatorDeployment,
    OperatorProcess,
    install_operator,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test in this directory `controlplane`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.controlplane)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver (+ kube-controller-manager) for the whole session."""
    plane = ControlPlane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def k8s(control_plane: ControlPlane) -> Iterator[Any]:
    """Admin kubernetes.client.ApiClient."""
    client = control_plane.api_client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def namespace(k8s: Any) -> Iterator[str]:
    """A fresh namespace for one test."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="session")
def operator_deployment(control_plane: ControlPlane) -> OperatorDeployment:
    """Installs the CRDs and the operator's RBAC exactly as a user would (kubectl apply)."""
    try:
        return install_operator(control_plane)
    except ControlPlaneError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra environment for the `operator` process; override this fixture in a test module
    (e.g. `{"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"}`) to tune the operator there."""
    return {}


@pytest.fixture
def operator_args() -> list[str]:
    """Arguments after `python -m cappuccino_operator`; override to test e.g. --namespace."""
    return ["run", "--all-namespaces", "--standalone"]


@pytest.fixture
def operator(
    operator_deployment: OperatorDeployment,
    postgres_url: str,
    tmp_path: Path,
    operator_env: dict[str, str],
    operator_args: list[str],
) -> Iterator[OperatorProcess]:
    """The operator as its ServiceAccount against a fresh database; stopped after the test."""
    proc = OperatorProcess(
        operator_deployment.kubeconfig,
        postgres_url,
        tmp_path / "operator.log",
        args=operator_args,
        extra_env=operator_env,
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attaches the operator's log (last 20k chars) to the report of a failed test."""
    report = yield
    proc = getattr(item, "funcargs", {}).get("operator")
    if report.when == "call" and report.failed and isinstance(proc, OperatorProcess):
        report.sections.append(("operator log", proc.logs()[-20000:]))
    return report
