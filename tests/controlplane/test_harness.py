"""The control-plane harness itself, without the operator: a real apiserver that enforces
schemas, CEL and RBAC, issues ServiceAccount tokens, and (with kube-controller-manager) garbage
collects dependents."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.controlplane import ControlPlane, ControlPlaneError, OperatorProcess, wait_for

GROUP = "harness.cappuccino.dev"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["min", "max"],
                                "properties": {
                                    "min": {"type": "integer", "minimum": 0},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.min <= self.max",
                                        "message": "min must not exceed max",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, low: int, high: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"min": low, "max": high},
    }


@pytest.fixture(scope="module")
def widget_crd(control_plane: ControlPlane) -> str:
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(WIDGET_CRD))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/widgets.{GROUP}"
    )
    return "widgets"


def test_apiserver_reports_the_pinned_version(k8s: Any) -> None:
    info = client.VersionApi(k8s).get_code()
    assert info.git_version == "v1.36.3"
    assert (info.major, info.minor) == ("1", "36")


def test_namespace_and_configmap_round_trip(k8s: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    assert namespace in {ns.metadata.name for ns in core.list_namespace().items}
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"k": "v"}),
    )
    listed = core.list_namespaced_config_map(namespace).items
    assert {cm.metadata.name: cm.data for cm in listed}["settings"] == {"k": "v"}


def test_kubectl_talks_to_the_apiserver(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl(
        "create", "configmap", "via-kubectl", "-n", namespace, "--from-literal=a=1"
    )
    out = control_plane.kubectl("get", "configmap", "via-kubectl", "-n", namespace, "-o", "json")
    assert json.loads(out.stdout)["data"] == {"a": "1"}
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"


def test_cel_rule_rejects_a_bad_object_with_its_message(
    control_plane: ControlPlane, k8s: Any, widget_crd: str, namespace: str
) -> None:
    custom = client.CustomObjectsApi(k8s)
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, widget("ok", 1, 2))

    with pytest.raises(client.ApiException) as rejected:
        custom.create_namespaced_custom_object(
            GROUP, "v1", namespace, widget_crd, widget("bad", 5, 2)
        )
    assert rejected.value.status == 422
    assert "min must not exceed max" in rejected.value.body

    via_kubectl = control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(widget("bad", 3, 1)), check=False
    )
    assert via_kubectl.returncode != 0
    assert "min must not exceed max" in via_kubectl.stderr

    schema = control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(widget("neg", -1, 1)), check=False
    )
    assert schema.returncode != 0
    assert "should be greater than or equal to 0" in schema.stderr


def test_service_account_kubeconfig_is_subject_to_rbac(
    control_plane: ControlPlane, k8s: Any, namespace: str
) -> None:
    sa_user = f"system:serviceaccount:{namespace}:reader"
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "reader", create=True)
    whoami = control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == sa_user

    sa_client = control_plane.api_client(kubeconfig)
    try:
        sa_core = client.CoreV1Api(sa_client)
        with pytest.raises(client.ApiException) as denied:
            sa_core.list_namespaced_secret(namespace)
        assert denied.value.status == 403
        can_i = ("auth", "can-i", "list", "secrets", "-n", namespace, f"--as={sa_user}")
        assert control_plane.kubectl(*can_i, check=False).stdout.strip() == "no"

        rbac = client.RbacAuthorizationV1Api(k8s)
        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="secret-reader"),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["list"])],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="secret-reader"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="secret-reader"
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)
                ],
            ),
        )
        # The RBAC authorizer reads through informers: allow it a moment to see the binding.
        wait_for(lambda: sa_core.list_namespaced_secret(namespace), 30, "the Role to take effect")
        assert control_plane.kubectl(*can_i, check=False).stdout.strip() == "yes"
        forbidden_elsewhere = control_plane.kubectl(
            "auth", "can-i", "list", "secrets", "-n", "default", f"--as={sa_user}", check=False
        )
        assert forbidden_elsewhere.stdout.strip() == "no"
    finally:
        sa_client.close()


def test_garbage_collector_deletes_dependents(
    control_plane: ControlPlane, k8s: Any, namespace: str
) -> None:
    if not control_plane.has_garbage_collector:
        pytest.skip("kube-controller-manager is not running (binary missing)")
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, controller=True
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref])),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        names = {cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items}
        return "child" not in names

    wait_for(child_gone, 60, "the garbage collector to delete the dependent ConfigMap")


def test_deleted_namespace_is_finalized(control_plane: ControlPlane, k8s: Any) -> None:
    if not control_plane.has_garbage_collector:
        pytest.skip("kube-controller-manager is not running (binary missing)")
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="t-finalize")))
    core.create_namespaced_config_map(
        "t-finalize", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="inside"))
    )
    core.delete_namespace("t-finalize")

    def gone() -> bool:
        return "t-finalize" not in {ns.metadata.name for ns in core.list_namespace().items}

    wait_for(gone, 60, "namespace t-finalize to be finalized")


def test_start_failure_names_the_component_and_its_log(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A control plane whose kube-apiserver dies reports its exit code and last log lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("etcd", "kubectl"):
        (bin_dir / name).symlink_to(control_plane.bin_dir / name)
    fake = bin_dir / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'E0101 cannot start: deliberately broken' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(ControlPlaneError) as failed:
        ControlPlane.start(bin_dir, controller_manager=False, attempts=1)
    message = str(failed.value)
    assert "kube-apiserver exited with code 3 during start" in message
    assert "deliberately broken" in message
    kept = re.search(r"last log lines \((\S+)\):", message)
    assert kept, "the error names the log file it kept"
    log = Path(kept.group(1))
    assert log.is_file()
    shutil.rmtree(log.parent, ignore_errors=True)


FAKE_OPERATOR = """
import os, sys, time
from kubernetes import client, config

config.load_kube_config()
core = client.CoreV1Api()
print("storage", os.environ["CAPPUCCINO_STORAGE"], "args", sys.argv[1:])
try:
    core.list_namespaced_secret("default")
    print("secrets: allowed")
except client.ApiException as exc:
    print("secrets: HTTP", exc.status)
core.create_namespaced_config_map(
    sys.argv[1], client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="beat-"))
)
print("ready")
time.sleep(3600)
"""


def test_operator_process_handle(
    control_plane: ControlPlane, k8s: Any, namespace: str, tmp_path: Path
) -> None:
    """OperatorProcess runs a module as a ServiceAccount, and stops, kills and restarts it.
    (A stand-in module: the real operator is exercised by the other control-plane tests.)"""
    (tmp_path / "fake_operator.py").write_text(FAKE_OPERATOR)
    sa = "fake-operator"
    control_plane.service_account_kubeconfig(namespace, sa, create=True)
    control_plane.kubectl(
        "create",
        "role",
        "cm-writer",
        "-n",
        namespace,
        "--verb=create,list",
        "--resource=configmaps",
    )
    control_plane.kubectl(
        "create", "rolebinding", "cm-writer", "-n", namespace, "--role=cm-writer",
        f"--serviceaccount={namespace}:{sa}",
    )  # fmt: skip
    kubeconfig = control_plane.service_account_kubeconfig(namespace, sa)
    proc = OperatorProcess(
        kubeconfig,
        "postgresql+psycopg://nowhere/db",
        tmp_path / "op.log",
        args=[namespace],
        extra_env={"PYTHONPATH": str(tmp_path)},
        module="fake_operator",
    )
    core = client.CoreV1Api(k8s)

    def beats() -> int:
        items = core.list_namespaced_config_map(namespace).items
        return sum(cm.metadata.name.startswith("beat-") for cm in items)

    proc.start()
    try:
        proc.wait_until(lambda: beats() == 1, 60, "the first heartbeat ConfigMap")
        logs = proc.logs()
        assert "secrets: HTTP 403" in logs
        assert "storage postgresql+psycopg://nowhere/db" in logs
        first_pid = proc.pid
        assert proc.kill() == -9
        assert not proc.running()
        proc.restart()
        assert proc.pid != first_pid
        proc.wait_until(lambda: beats() == 2, 60, "a heartbeat from the restarted process")
        assert proc.logs().count("ready") == 2
        proc.stop()
        with pytest.raises(
            ControlPlaneError, match=r"operator exited with code .* during wait for never"
        ):
            proc.wait_until(lambda: False, 5, "never")
    finally:
        proc.stop()
