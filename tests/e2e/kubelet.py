"""A stand-in kubelet for the e2e tests: runs one container of a pod spec as a local process.

There is no kubelet in the test control plane, so the e2e tests materialise a pod template
the operator wrote (a Job's or a Deployment's) the way a kubelet would, as far as a local
process can:

- env: `value`, `valueFrom.secretKeyRef` (read from the real Secret through the API),
  `valueFrom.configMapKeyRef`, and `valueFrom.fieldRef` for `metadata.name`,
  `metadata.namespace` and the Job completion index annotation (`JOB_COMPLETION_INDEX`);
  `envFrom` Secrets and ConfigMaps.
- volumes: ConfigMap and Secret volumes are written to temporary directories; emptyDir and
  PVC volumes become temporary directories (or `volume_dirs[name]` when given, e.g. the
  shared artifact root). Every mount path in the command, args and env values is rewritten
  to the local directory standing in for it.
- the image entrypoint `cappuccino` is replaced by the runtime venv's console script.

Nothing else of the pod (resources, probes, security context) is emulated.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_OWN = Path(sys.executable).parent / "cappuccino"
CAPPUCCINO = (
    _OWN
    if _OWN.is_file()
    else Path.home() / ".cache" / "cappuccino" / "venv" / "bin" / "cappuccino"
)
"""The local console script that stands in for the image's `cappuccino` entrypoint: the one of
the Python running the tests (so a worktree's venv runs that worktree's code)."""

COMPLETION_INDEX_PATH = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def _secret_data(core: Any, namespace: str, name: str) -> dict[str, str]:
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _configmap_data(core: Any, namespace: str, name: str) -> dict[str, str]:
    return dict(core.read_namespaced_config_map(name, namespace).data or {})


def _field(path: str, pod_name: str, namespace: str, completion_index: int) -> str:
    if path == "metadata.name":
        return pod_name
    if path == "metadata.namespace":
        return namespace
    if path == COMPLETION_INDEX_PATH:
        return str(completion_index)
    raise ValueError(f"fieldRef {path!r} is not emulated by the test kubelet")


def _rewrite(text: str, mounts: Mapping[str, str], shared: Sequence[str] = ()) -> str:
    """Leaves paths under a `shared` host directory alone; otherwise replaces a leading mount path (longest first) with its local directory; only whole
    path components match, so `/tmp` does not rewrite `/tmpfoo`."""
    if any(text == p or text.startswith(p.rstrip("/") + "/") for p in shared):
        return text
    for mount in sorted(mounts, key=len, reverse=True):
        if text == mount or text.startswith(mount.rstrip("/") + "/"):
            return mounts[mount] + text[len(mount.rstrip("/")) :]
    return text


def _volume_dirs(
    core: Any,
    namespace: str,
    pod_spec: Mapping[str, Any],
    workdir: Path,
    volume_dirs: Mapping[str, Path],
) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for vol in pod_spec.get("volumes") or ():
        name = vol["name"]
        if name in volume_dirs:
            dirs[name] = Path(volume_dirs[name])
            continue
        d = Path(tempfile.mkdtemp(prefix=f"vol-{name}-", dir=workdir))
        data: dict[str, str] = {}
        if "configMap" in vol:
            data = _configmap_data(core, namespace, vol["configMap"]["name"])
        elif "secret" in vol:
            data = _secret_data(core, namespace, vol["secret"]["secretName"])
        items = (vol.get("configMap") or vol.get("secret") or {}).get("items")
        if items:
            data = {i["path"]: data[i["key"]] for i in items}
        for key, value in data.items():
            (d / key).parent.mkdir(parents=True, exist_ok=True)
            (d / key).write_text(value)
        dirs[name] = d
    return dirs


def resolve_env(
    core: Any,
    namespace: str,
    container: Mapping[str, Any],
    *,
    pod_name: str,
    completion_index: int = 0,
) -> dict[str, str]:
    """The container's environment as a kubelet would set it (before mount rewriting)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or ():
        prefix = src.get("prefix", "")
        if "secretRef" in src:
            data = _secret_data(core, namespace, src["secretRef"]["name"])
        else:
            data = _configmap_data(core, namespace, src["configMapRef"]["name"])
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or ():
        name = var["name"]
        if "value" in var:
            env[name] = var["value"]
            continue
        ref = var.get("valueFrom") or {}
        if "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            env[name] = _secret_data(core, namespace, r["name"])[r["key"]]
        elif "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            env[name] = _configmap_data(core, namespace, r["name"])[r["key"]]
        elif "fieldRef" in ref:
            env[name] = _field(ref["fieldRef"]["fieldPath"], pod_name, namespace, completion_index)
        else:
            env[name] = ""
    return env


def run_pod_container(
    api: Any,
    namespace: str,
    pod_spec: Mapping[str, Any],
    container_name: str,
    *,
    workdir: Path,
    pod_name: str = "e2e-pod-0",
    completion_index: int = 0,
    volume_dirs: Mapping[str, Path] | None = None,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    shared_paths: Sequence[Path] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Runs container `container_name` (a container or an init container) of `pod_spec`
    (camelCase dict, as `kubectl get -o json` prints it) as a local subprocess.

    `api` is a kubernetes ApiClient used to read Secrets and ConfigMaps. `extra_args` are
    appended to the argv (explicit test-only bounds such as `--max-polls`); `extra_env`
    overrides the resolved environment. `shared_paths` are host directories the pod sees as
    they are (stand-ins for shared storage such as the artifact root): argv and env values
    under them are never rewritten, even when a mount such as `/tmp` is a prefix. Returns the finished process (never raises on a
    non-zero exit)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    containers = list(pod_spec.get("initContainers") or ()) + list(pod_spec["containers"])
    container = next(c for c in containers if c["name"] == container_name)
    dirs = _volume_dirs(core, namespace, pod_spec, workdir, volume_dirs or {})
    mounts: dict[str, str] = {}
    for m in container.get("volumeMounts") or ():
        local = dirs[m["name"]]
        if m.get("subPath"):
            local = local / m["subPath"]
        mounts[m["mountPath"]] = str(local)
    env = resolve_env(
        core, namespace, container, pod_name=pod_name, completion_index=completion_index
    )
    shared = [str(p) for p in shared_paths]
    env = {k: _rewrite(v, mounts, shared) for k, v in env.items()}
    env.update(extra_env or {})
    argv = [
        _rewrite(a, mounts, shared)
        for a in [*container.get("command", []), *container.get("args", [])]
    ]
    argv += list(extra_args)
    if argv and argv[0] == "cappuccino":
        argv[0] = str(CAPPUCCINO)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        argv,
        env={**base, "PYTHONUNBUFFERED": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        check=False,
    )
