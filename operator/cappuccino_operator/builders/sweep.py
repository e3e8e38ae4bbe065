"""TrainingSweep -> (training-config ConfigMap, indexed worker Job)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cappuccino_operator.api.study import ParamOverride
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.builders.context import StudyContext, labels_for
from cappuccino_operator.builders.pods import (
    CONTAINER_SECURITY,
    POD_SECURITY,
    artifact_volumes,
    base_env,
    env_from,
    tmp_volume,
)
from cappuccino_operator.commands import train_command
from cappuccino_operator.config import OperatorConfig

__all__ = [
    "CONFIG_FILE",
    "build_sweep_job",
    "build_train_config",
    "job_mutable_patch",
    "job_name",
    "optuna_study_name",
    "template_drifted",
    "train_config",
    "train_config_name",
]

CONFIG_DIR = "/etc/cappuccino"
CONFIG_FILE = "train.json"
GPU_RESOURCE = "nvidia.com/gpu"
TEMPLATE_HASH_ANNOTATION = "cappuccino.dev/template-hash"


def job_name(sweep: str) -> str:
    return f"{sweep}-workers"


def train_config_name(sweep: str) -> str:
    return f"{sweep}-train-config"


def _choice(value: str) -> int | float | str:
    """YAML scalars arrive as strings in `choices`; give the runtime numbers where they are."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _override(p: ParamOverride) -> dict[str, Any]:
    if p.choices is not None:
        return {"type": "categorical", "choices": [_choice(c) for c in p.choices]}
    return p.model_dump(mode="json", exclude_none=True)


def train_config(study: StudyContext) -> dict[str, Any]:
    """The `--config` file in the runtime's TrainingConfig shape
    (cappuccino_runtime.training.config): search-space overrides, fee and CPCV split."""
    s = study.spec
    return {
        "search_space": {k: _override(v) for k, v in (s.search_space or {}).items()},
        "env": {"fee_rate": s.objective.fee},
        "cpcv": {
            "n_groups": s.objective.cpcv_groups,
            "n_test_groups": s.objective.cpcv_test_groups,
        },
    }


def optuna_study_name(study: StudyContext, spec: TrainingSweepSpec) -> str:
    """The Optuna study the workers fill: phase1 runs `<study>-phase1` (two_phase.py)."""
    return f"{study.study_name}-phase1" if spec.phase == "phase1" else study.study_name


def build_train_config(name: str, namespace: str, study: StudyContext) -> dict[str, Any]:
    """ConfigMap holding the workers' training config (no secrets in it)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": train_config_name(name),
            "namespace": namespace,
            "labels": labels_for("TrainingSweep", name, "trainer"),
        },
        "data": {CONFIG_FILE: json.dumps(train_config(study), indent=2, sort_keys=True)},
    }


def _image(spec: TrainingSweepSpec, config: OperatorConfig) -> str:
    if spec.image:
        return spec.image
    return config.runtime_cuda_image if spec.resources.gpu > 0 else config.runtime_image


def _resources(spec: TrainingSweepSpec) -> dict[str, Any]:
    r = spec.resources
    requests: dict[str, Any] = {"cpu": r.cpu, "memory": r.memory}
    limits: dict[str, Any] = {"memory": r.memory}
    if r.gpu > 0:
        requests[GPU_RESOURCE] = r.gpu
        limits[GPU_RESOURCE] = r.gpu
    return {"requests": requests, "limits": limits}


def build_sweep_job(
    name: str,
    namespace: str,
    spec: TrainingSweepSpec,
    study: StudyContext,
    config: OperatorConfig,
) -> dict[str, Any]:
    """The indexed Job: `parallelism` workers sharing the study's trial budget."""
    data = study.spec.data
    labels = labels_for("TrainingSweep", name, "trainer")
    argv = train_command(
        study=study.study_name,
        study_budget=spec.trials,
        phase=spec.phase,
        data=data.source,
        symbols=data.symbols,
        timeframe=data.timeframe,
        start=data.start,
        end=data.end,
        device="cuda" if spec.resources.gpu > 0 else "cpu",
        config=f"{CONFIG_DIR}/{CONFIG_FILE}",
        artifact_root=study.artifact_root,
    )
    tmp, tmp_mount = tmp_volume()
    art_vols, art_mounts = artifact_volumes(study, read_only=False)
    config_volume = {"name": "config", "configMap": {"name": train_config_name(name)}}
    config_mount = {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}
    container: dict[str, Any] = {
        "name": "worker",
        "image": _image(spec, config),
        "command": argv,
        "env": [
            *base_env(study),
            {"name": "CAPPUCCINO_DEVICE", "value": "cuda" if spec.resources.gpu > 0 else "cpu"},
        ],
        "resources": _resources(spec),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [tmp_mount, config_mount, *art_mounts],
    }
    if ef := env_from(study):
        container["envFrom"] = ef
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": POD_SECURITY,
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [tmp, config_volume, *art_vols],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_k8s() for t in spec.tolerations]
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.parallelism,
        "parallelism": spec.parallelism,
        "backoffLimit": spec.backoff_limit,
        "suspend": spec.suspend,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    fingerprint = {k: job_spec[k] for k in ("completionMode", "backoffLimit", "template")}
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name),
            "namespace": namespace,
            "labels": labels,
            "annotations": {TEMPLATE_HASH_ANNOTATION: digest},
        },
        "spec": job_spec,
    }


def template_drifted(existing: dict[str, Any] | None, built: dict[str, Any]) -> bool:
    """True when an existing Job was built from another pod template (image, command such as
    a raised --study-budget, resources...): a Job's template is immutable, so it is replaced."""
    if existing is None:
        return False
    have = (existing.get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION)
    return have != built["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]


def job_mutable_patch(job: dict[str, Any]) -> dict[str, Any]:
    """The part of a built Job that may change on an existing Job (the template may not)."""
    spec = job["spec"]
    keep = (
        "suspend",
        "completions",
        "parallelism",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    )
    return {"spec": {k: spec.get(k) for k in keep}}
