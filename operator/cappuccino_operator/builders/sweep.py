"""TrainingSweep -> (training-config ConfigMap, indexed worker Job)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from cappuccino_contracts.argv import DataOptions, refit_command, train_command
from cappuccino_contracts.naming import (
    phase1_study_name,
    refit_job_name,
    train_config_name,
    worker_job_name,
)

from cappuccino_operator.api.study import ParamOverride
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.builders.context import StudyContext, labels_for
from cappuccino_operator.builders.pods import (
    CONTAINER_SECURITY,
    POD_SECURITY,
    TERMINATION_MESSAGE_POLICY,
    artifact_volumes,
    base_env,
    env_from,
    tmp_volume,
)
from cappuccino_operator.config import OperatorConfig

__all__ = [
    "CONFIG_FILE",
    "POD_FAILURE_POLICY",
    "build_refit_job",
    "build_sweep_job",
    "build_train_config",
    "job_apply_view",
    "job_replacement",
    "optuna_study_name",
    "sweep_id",
    "template_inputs",
    "train_config",
]

CONFIG_DIR = "/etc/cappuccino"
CONFIG_FILE = "train.json"
BUDGET_FILE = "study_budget"
GPU_RESOURCE = "nvidia.com/gpu"
TEMPLATE_HASH_ANNOTATION = "cappuccino.dev/template-hash"
BUDGET_ANNOTATION = "cappuccino.dev/study-budget"


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
    (cappuccino_runtime.training.config): search-space overrides, fee, CPCV split, the
    Study's training sizes (spec.training), sampler (spec.algorithm) and pruner
    (spec.earlyStopping)."""
    s = study.spec
    t = s.training
    env: dict[str, Any] = {"fee_rate": s.objective.fee}
    ppo: dict[str, Any] = {}
    for section, key, value in (
        (env, "num_envs", t.num_envs),
        (env, "episode_length", t.episode_length),
        (ppo, "total_timesteps", t.total_timesteps),
        (ppo, "eval_interval", t.eval_interval),
    ):
        if value is not None:
            section[key] = value
    out: dict[str, Any] = {
        "search_space": {k: _override(v) for k, v in (s.search_space or {}).items()},
        "env": env,
        "cpcv": {
            "n_groups": s.objective.cpcv_groups,
            "n_test_groups": s.objective.cpcv_test_groups,
        },
        "sampler": s.algorithm.name,
        "n_startup_trials": s.algorithm.n_startup_trials,
        "pruner": s.early_stopping.name,
        "pruner_startup_trials": s.early_stopping.startup_trials,
    }
    if ppo:
        out["ppo"] = ppo
    if t.cpu_threads is not None:
        out["cpu_threads"] = t.cpu_threads
    return out


def optuna_study_name(study: StudyContext, spec: TrainingSweepSpec) -> str:
    """The Optuna study the workers fill: phase1 runs `<study>-phase1` (two_phase.py)."""
    return phase1_study_name(study.study_name) if spec.phase == "phase1" else study.study_name


def build_train_config(
    name: str, namespace: str, study: StudyContext, spec: TrainingSweepSpec
) -> dict[str, Any]:
    """ConfigMap holding the workers' training config (no secrets in it) and the trial budget
    (key `study_budget`, which the workers re-read between trials: raising spec.trials updates
    this ConfigMap, never the Job)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": train_config_name(name),
            "namespace": namespace,
            "labels": labels_for("TrainingSweep", name, "trainer"),
        },
        "data": {
            CONFIG_FILE: json.dumps(train_config(study), indent=2, sort_keys=True),
            BUDGET_FILE: str(spec.trials),
        },
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


def sweep_id(namespace: str, name: str, uid: str) -> str:
    """What workers tag their trials with (user attr `sweep`): a re-created sweep of the same
    name starts with a clean failure count."""
    return f"{namespace}/{name}/{uid}"


# Pod failures that are not the workers' fault (preemption, eviction, node drain: the pod
# gets condition DisruptionTarget) do not use up backoffLimit; exit code 2 is the runtime's
# "bad input" (a wrong config fails every pod the same way) and fails the Job at once.
POD_FAILURE_POLICY: dict[str, Any] = {
    "rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2]},
        },
    ]
}


def template_inputs(
    spec: TrainingSweepSpec, study: StudyContext, config: OperatorConfig, sweep: str
) -> dict[str, Any]:
    """Everything the worker pod template is built from, except the trial budget. Its hash
    names the template: it changes only when what the user (or the operator's image settings)
    asked for changes, not when a newer operator lays the same pod out differently."""
    data = study.spec.data
    return {
        "v": 1,
        "study": study.study_name,
        "phase": spec.phase,
        "data": data.model_dump(mode="json"),
        "image": _image(spec, config),
        "resources": spec.resources.model_dump(mode="json"),
        "nodeSelector": dict(spec.node_selector or {}),
        "tolerations": [t.to_k8s() for t in spec.tolerations or ()],
        "storage": [study.storage_secret, study.storage_key],
        "artifacts": [study.artifact_root, study.artifact_pvc, study.artifact_env_secret],
        "sweep": sweep,
    }


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _pod_spec(
    spec: TrainingSweepSpec,
    study: StudyContext,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """The pod of a worker or refit Job: one container, never restarted in place, no API
    token, the sweep's node selector and tolerations."""
    if ef := env_from(study):
        container["envFrom"] = ef
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": POD_SECURITY,
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_k8s() for t in spec.tolerations]
    return pod_spec


def _data_options(study: StudyContext, spec: TrainingSweepSpec) -> DataOptions:
    """The Study's data and the sweep's device, as the worker and refit commands take them."""
    data = study.spec.data
    return DataOptions(
        data=data.source,
        symbols=tuple(data.symbols or ()),
        timeframe=data.timeframe,
        start=data.start,
        end=data.end,
        device="cuda" if spec.resources.gpu > 0 else "cpu",
    )


def build_sweep_job(
    name: str,
    namespace: str,
    spec: TrainingSweepSpec,
    study: StudyContext,
    config: OperatorConfig,
    uid: str = "",
) -> dict[str, Any]:
    """The indexed Job: `parallelism` workers sharing the study's trial budget."""
    labels = labels_for("TrainingSweep", name, "trainer")
    sid = sweep_id(namespace, name, uid)
    argv = train_command(
        study=study.study_name,
        study_budget_file=f"{CONFIG_DIR}/{BUDGET_FILE}",
        phase=spec.phase,
        data=_data_options(study, spec),
        config=f"{CONFIG_DIR}/{CONFIG_FILE}",
        artifact_root=study.artifact_root,
        metrics_port=config.metrics_port,
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
            {"name": "CAPPUCCINO_SWEEP_ID", "value": sid},
        ],
        "resources": _resources(spec),
        "securityContext": CONTAINER_SECURITY,
        "terminationMessagePolicy": TERMINATION_MESSAGE_POLICY,
        "volumeMounts": [tmp_mount, config_mount, *art_mounts],
        # the chart's PodMonitor scrapes the port named `metrics` of trainer pods
        "ports": [{"name": "metrics", "containerPort": config.metrics_port, "protocol": "TCP"}],
    }
    pod_spec = _pod_spec(spec, study, container, [tmp, config_volume, *art_vols])
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.parallelism,
        "parallelism": spec.parallelism,
        # Retries per worker (index): one worker failing past its limit ends only that index,
        # the others go on (the Job-wide backoffLimit then defaults to "unlimited"); immutable
        # once the Job exists (issue 10.4).
        "backoffLimitPerIndex": spec.backoff_limit,
        "podFailurePolicy": POD_FAILURE_POLICY,
        # A replacement pod starts only once the old one is gone: two workers of one index
        # never run at once (podFailurePolicy requires it).
        "podReplacementPolicy": "Failed",
        "suspend": spec.suspend,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": worker_job_name(name),
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                TEMPLATE_HASH_ANNOTATION: _hash(template_inputs(spec, study, config, sid)),
                BUDGET_ANNOTATION: str(spec.trials),
            },
        },
        "spec": job_spec,
    }


def job_replacement(existing: dict[str, Any] | None, built: dict[str, Any]) -> str | None:
    """Why an existing Job must be replaced (its pod template is immutable), or None.

    Real drift only: another template hash (image, resources, data...), or a changed trial
    budget once the running workers have finished (a running sweep is never restarted for a
    budget change: its workers stop at the old budget, then a new Job continues)."""
    if existing is None:
        return None
    have = existing.get("metadata", {}).get("annotations") or {}
    want = built["metadata"]["annotations"]
    finished = any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (existing.get("status") or {}).get("conditions") or ()
    )
    if BUDGET_ANNOTATION not in have:
        # Built by an operator before this hash existed: an upgrade must not restart running
        # workers, so the Job is replaced only once they have finished.
        return "it was built by an older operator" if finished else None
    if have.get(TEMPLATE_HASH_ANNOTATION) != want[TEMPLATE_HASH_ANNOTATION]:
        return "the worker template changed"
    if have.get(BUDGET_ANNOTATION) != want[BUDGET_ANNOTATION] and finished:
        return f"the trial budget changed to {want[BUDGET_ANNOTATION]}"
    return None


# Fields of a Job the API server refuses to change after creation.
_IMMUTABLE_JOB_FIELDS = (
    "template",
    "completionMode",
    "podFailurePolicy",
    "podReplacementPolicy",
    "backoffLimitPerIndex",
)


def job_apply_view(existing: dict[str, Any] | None, built: dict[str, Any]) -> dict[str, Any]:
    """What to server-side apply: the built Job, with the existing Job's immutable fields
    (pod template, failure policy) and budget annotation when it exists. The template hash
    matched (job_replacement), so those are what the user asked for; a newer operator that lays
    the same pod out differently, or a budget change while workers run, changes only suspend,
    parallelism, completions, deadlines and TTL (backoffLimitPerIndex is immutable too: a
    changed spec.backoffLimit applies to the sweep's next Job)."""
    if existing is None:
        return built
    out = json.loads(json.dumps(built))
    for key in _IMMUTABLE_JOB_FIELDS:
        if key in existing.get("spec", {}):
            out["spec"][key] = existing["spec"][key]
        else:
            out["spec"].pop(key, None)
    if "backoffLimitPerIndex" not in out["spec"]:
        # a Job created before per-index limits: its Job-wide backoffLimit stays ours to set
        out["spec"]["backoffLimit"] = built["spec"]["backoffLimitPerIndex"]
    annotations = existing.get("metadata", {}).get("annotations") or {}
    if BUDGET_ANNOTATION in annotations:
        out["metadata"]["annotations"][BUDGET_ANNOTATION] = annotations[BUDGET_ANNOTATION]
    else:  # an older operator's Job: keep marking it as such until it is replaced
        out["metadata"]["annotations"] = {
            k: v for k, v in annotations.items() if k == TEMPLATE_HASH_ANNOTATION
        }
    return out


def build_refit_job(
    name: str,
    namespace: str,
    spec: TrainingSweepSpec,
    study: StudyContext,
    config: OperatorConfig,
) -> dict[str, Any]:
    """The one-pod Job a succeeded sweep runs when spec.refit is set (issue 9.2)."""
    refit = spec.refit
    if refit is None:
        raise ValueError("build_refit_job needs spec.refit")
    device: Literal["cpu", "cuda"] = "cuda" if spec.resources.gpu > 0 else "cpu"
    argv = refit_command(
        study=study.study_name,
        top_n=refit.top_n,
        seeds=refit.seeds,
        data=_data_options(study, spec),
        artifact_root=study.artifact_root,
    )
    labels = labels_for("TrainingSweep", name, "refit")
    tmp, tmp_mount = tmp_volume()
    art_vols, art_mounts = artifact_volumes(study, read_only=False)
    resources = _resources(spec)
    container: dict[str, Any] = {
        "name": "refit",
        "image": _image(spec, config),
        "command": argv,
        "env": [*base_env(study), {"name": "CAPPUCCINO_DEVICE", "value": device}],
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "terminationMessagePolicy": TERMINATION_MESSAGE_POLICY,
        "volumeMounts": [tmp_mount, *art_mounts],
    }
    pod_spec = _pod_spec(spec, study, container, [tmp, *art_vols])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": refit_job_name(name), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "podFailurePolicy": {
                "rules": [
                    POD_FAILURE_POLICY["rules"][0],
                    {
                        "action": "FailJob",
                        "onExitCodes": {"containerName": "refit", "operator": "In", "values": [2]},
                    },
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
