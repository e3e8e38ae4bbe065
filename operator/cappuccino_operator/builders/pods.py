"""Pod pieces every Cappuccino workload shares: security context, /tmp, env from Secrets."""

from __future__ import annotations

from typing import Any

from cappuccino_operator.builders.context import ARTIFACT_MOUNT, StudyContext

__all__ = [
    "CONTAINER_SECURITY",
    "POD_SECURITY",
    "RUNTIME_UID",
    "TERMINATION_MESSAGE_POLICY",
    "artifact_volumes",
    "base_env",
    "env_from",
    "secret_env",
    "tmp_volume",
]

RUNTIME_UID = 10001  # images/runtime/Dockerfile: USER 10001:10001

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUNTIME_UID,
    "runAsGroup": RUNTIME_UID,
    "fsGroup": RUNTIME_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}

# Every container the operator builds: a failing container's last log lines become its
# termination message when it wrote none to /dev/termination-log (contract 5).
TERMINATION_MESSAGE_POLICY = "FallbackToLogsOnError"

CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """An env var read from a Secret key by the kubelet: the value never enters the spec."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def base_env(study: StudyContext) -> list[dict[str, Any]]:
    """Env of every runtime container: writable home under /tmp, storage URL from its Secret."""
    return [
        {"name": "CAPPUCCINO_HOME", "value": "/tmp/cappuccino"},
        {"name": "CAPPUCCINO_DATA_CACHE", "value": "/tmp/cappuccino/data-cache"},
        {"name": "CAPPUCCINO_ARTIFACT_ROOT", "value": study.artifact_root},
        secret_env("CAPPUCCINO_STORAGE", study.storage_secret, study.storage_key),
    ]


def env_from(study: StudyContext) -> list[dict[str, Any]]:
    """Object-store credentials etc. as env vars straight from the artifact Secret."""
    if not study.artifact_env_secret:
        return []
    return [{"secretRef": {"name": study.artifact_env_secret}}]


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the emptyDir at /tmp (the root filesystem is read-only)."""
    return {"name": "tmp", "emptyDir": {}}, {"name": "tmp", "mountPath": "/tmp"}


def artifact_volumes(
    study: StudyContext, *, read_only: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) for the artifact PVC, when the Study names one."""
    if not study.artifact_pvc:
        return [], []
    volume = {
        "name": "artifacts",
        "persistentVolumeClaim": {"claimName": study.artifact_pvc, "readOnly": read_only},
    }
    mount = {"name": "artifacts", "mountPath": ARTIFACT_MOUNT, "readOnly": read_only}
    return [volume], [mount]
