"""Pure builders on plain dicts: what a sweep or trader needs, with no cluster."""

from __future__ import annotations

import json

import pytest
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.api.trader import ArenaSpec, EnsembleSpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.builders.sweep import (
    build_refit_job,
    build_sweep_job,
    build_train_config,
    job_apply_view,
    job_replacement,
    optuna_study_name,
    train_config,
)
from cappuccino_operator.builders.trader import (
    build_manifest_configmap,
    build_metrics_service,
    build_trader_deployment,
    duration_seconds,
    manifest_document,
    selection_key,
)
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.selection import (
    SelectedTrial,
    Selection,
    dsr_refusals,
    manifest_hash,
    selection_from_document,
)

CONFIG = OperatorConfig(storage_url="postgresql+psycopg://u:pw@db/optuna")
STUDY = study_context(
    "st",
    StudySpec.model_validate(
        {"studyName": "opt", "storageSecretRef": {"name": "db", "key": "dsn"}}
    ),
    CONFIG,
    namespace="ns",
)
SEL = Selection(
    "opt",
    (
        SelectedTrial(7, 3, 1.5, "a" * 64, None, "1h"),
        SelectedTrial(9, 5, 1.1, "b" * 64, "s3://b/x", "1h"),
    ),
)


def _sweep(**kw) -> TrainingSweepSpec:
    return TrainingSweepSpec.model_validate(
        {"studyRef": {"name": "st"}, "trials": 10, "parallelism": 2, **kw}
    )


def test_cpu_job_has_no_gpu_and_uses_the_cpu_image() -> None:
    job = build_sweep_job("sw", "ns", _sweep(), STUDY, CONFIG)
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == CONFIG.runtime_image
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert c["command"][c["command"].index("--device") + 1] == "cpu"


def test_gpu_job_limits_selectors_and_passthrough() -> None:
    spec = _sweep(
        resources={"gpu": 2},
        nodeSelector={"gpu": "a100"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}],
        activeDeadlineSeconds=60,
        suspend=True,
        ttlSecondsAfterFinished=5,
    )
    job = build_sweep_job("sw", "ns", spec, STUDY, CONFIG)
    s = job["spec"]
    assert (s["completionMode"], s["completions"], s["parallelism"]) == ("Indexed", 2, 2)
    assert (
        s["suspend"] is True
        and s["activeDeadlineSeconds"] == 60
        and s["ttlSecondsAfterFinished"] == 5
    )
    pod = s["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    c = pod["containers"][0]
    assert c["image"] == CONFIG.runtime_cuda_image
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 2
    env = {e["name"]: e for e in c["env"]}
    assert env["CAPPUCCINO_STORAGE"]["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "dsn"}
    assert "pw@" not in json.dumps(job)
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_train_config_is_the_runtime_shape_and_holds_no_secret() -> None:
    study = study_context(
        "st",
        StudySpec.model_validate(
            {
                "searchSpace": {
                    "gamma": {"low": 0.9},
                    "batch_size": {"choices": ["64", "0.5", "x"]},
                },
                "objective": {"fee": 0.001, "cpcvGroups": 5, "cpcvTestGroups": 1},
            }
        ),
        CONFIG,
        namespace="ns",
    )
    cm = build_train_config("sw", "ns", study, _sweep())
    assert cm["data"]["study_budget"] == "10"
    cfg = json.loads(cm["data"]["train.json"])
    assert cfg == {
        "search_space": {
            "gamma": {"low": 0.9},
            "batch_size": {"type": "categorical", "choices": [64, 0.5, "x"]},
        },
        "env": {"fee_rate": 0.001},
        "cpcv": {"n_groups": 5, "n_test_groups": 1},
        "sampler": "tpe",
        "n_startup_trials": 10,
        "pruner": "median",
        "pruner_startup_trials": 5,
    }
    assert "pw" not in json.dumps(cm)


def test_study_training_sizes_sampler_and_pruner_reach_the_runtime_config() -> None:
    """Contract 5 and issue 10.13: spec.training, spec.algorithm and spec.earlyStopping are
    written into the materialised train config, which the runtime's TrainingConfig accepts."""
    from cappuccino_runtime.training.config import parse_config
    from cappuccino_runtime.training.runner import make_pruner, make_sampler

    study = study_context(
        "st",
        StudySpec.model_validate(
            {
                "training": {"totalTimesteps": 512, "numEnvs": 4, "episodeLength": 64,
                             "evalInterval": 1000, "cpuThreads": 1},
                "algorithm": {"name": "random"},
                "earlyStopping": {"name": "none"},
            }
        ),
        CONFIG,
        namespace="ns",
    )  # fmt: skip
    parsed = parse_config(train_config(study))
    assert (parsed.ppo.total_timesteps, parsed.ppo.eval_interval) == (512, 1000)
    assert (parsed.env.num_envs, parsed.env.episode_length, parsed.cpu_threads) == (4, 64, 1)
    assert type(make_sampler(parsed, 0)).__name__ == "RandomSampler"
    assert type(make_pruner(parsed)).__name__ == "NopPruner"


def test_default_study_name_is_namespace_qualified() -> None:
    a = study_context("btc", StudySpec.model_validate({}), CONFIG, namespace="team-a")
    b = study_context("btc", StudySpec.model_validate({}), CONFIG, namespace="team-b")
    assert (a.study_name, b.study_name) == ("team-a.btc", "team-b.btc")
    assert a.refit_study_name == "team-a.btc-refit"


def test_job_failure_policy_and_version_stable_template_hash() -> None:
    """Issue 10.4/10.8: preemption does not count against backoffLimit, bad input fails the Job
    at once; the template hash depends on inputs, not the built template, nor the budget."""
    job = build_sweep_job("sw", "ns", _sweep(), STUDY, CONFIG, "uid-1")
    spec = job["spec"]
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [2]
    assert spec["podReplacementPolicy"] == "Failed"
    env = {e["name"]: e.get("value") for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["CAPPUCCINO_SWEEP_ID"] == "ns/sw/uid-1"
    raised = build_sweep_job("sw", "ns", _sweep(trials=20), STUDY, CONFIG, "uid-1")
    other = build_sweep_job("sw", "ns", _sweep(resources={"cpu": "3"}), STUDY, CONFIG, "uid-1")
    backoff = build_sweep_job("sw", "ns", _sweep(backoffLimit=7), STUDY, CONFIG, "uid-1")
    key = "cappuccino.dev/template-hash"
    assert raised["metadata"]["annotations"][key] == job["metadata"]["annotations"][key]
    # the budget is not in the pod: workers re-read it from the ConfigMap (issue 10.8)
    assert raised["spec"]["template"] == job["spec"]["template"]
    argv = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--study-budget" not in argv
    assert argv[argv.index("--study-budget-file") + 1] == "/etc/cappuccino/study_budget"
    assert backoff["metadata"]["annotations"][key] == job["metadata"]["annotations"][key]
    assert other["metadata"]["annotations"][key] != job["metadata"]["annotations"][key]
    running = json.loads(json.dumps(job))
    assert job_replacement(running, backoff) is None
    assert job_replacement(running, raised) is None  # workers still running: no restart
    assert job_replacement(running, other) == "the worker template changed"
    complete = {**running, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert job_replacement(complete, raised) == "the trial budget changed to 20"
    legacy = json.loads(json.dumps(running))
    del legacy["metadata"]["annotations"]["cappuccino.dev/study-budget"]
    legacy["metadata"]["annotations"][key] = "from-an-older-operator"
    assert job_replacement(legacy, job) is None  # an operator upgrade restarts no sweep
    view = job_apply_view(running, raised)  # the template stays what the Job was created with
    assert view["spec"]["template"] == running["spec"]["template"]
    assert view["metadata"]["annotations"]["cappuccino.dev/study-budget"] == "10"
    # backoffLimitPerIndex is immutable: a changed backoffLimit applies to the next Job, and
    # a Job of an operator without per-index limits keeps its Job-wide backoffLimit ours
    assert spec["backoffLimitPerIndex"] == 3 and "backoffLimit" not in spec
    assert job_apply_view(running, backoff)["spec"]["backoffLimitPerIndex"] == 3
    assert "backoffLimit" not in job_apply_view(running, backoff)["spec"]
    no_per_index = json.loads(json.dumps(running))
    del no_per_index["spec"]["backoffLimitPerIndex"]
    view = job_apply_view(no_per_index, backoff)["spec"]
    assert view["backoffLimit"] == 7 and "backoffLimitPerIndex" not in view


def test_phase1_fills_its_own_study() -> None:
    assert optuna_study_name(STUDY, _sweep(phase="phase1")) == "opt-phase1"
    assert optuna_study_name(STUDY, _sweep(phase="phase2")) == "opt"


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("5m", 300), ("2h", 7200), ("7d", 604800)]
)
def test_duration_seconds(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def test_duration_seconds_rejects_bad_text() -> None:
    with pytest.raises(ValueError, match="'1 minute'"):
        duration_seconds("1 minute")


def test_ensemble_manifest_has_identity_and_hash_ignores_timestamps() -> None:
    spec = EnsembleSpec.model_validate({"studyRef": {"name": "st"}, "topN": 2})
    a = manifest_document("e", "ns", spec, STUDY, SEL, "2026-01-01T00:00:00Z")
    b = manifest_document("e", "ns", spec, STUDY, SEL, "2026-02-01T00:00:00Z")
    assert (
        a["study_name"] == "opt"
        and a["trial_ids"] == [7, 9]
        and a["sha256"] == ["a" * 64, "b" * 64]
    )
    assert a["source_dirs"] == ["opt/trial_3_1h", "opt/trial_5_1h"]
    assert a["model_paths"] == ["opt/trial_3_1h", "s3://b/x"]
    assert manifest_hash(a) == manifest_hash(b)
    assert (
        build_manifest_configmap("e", "ns", spec, a, 1)["metadata"]["name"]
        == build_manifest_configmap("e", "ns", spec, b, 2)["metadata"]["name"]
    )


def test_arena_deployment_is_single_recreate_validated_and_probed() -> None:
    spec = ArenaSpec.model_validate(
        {"studyRef": {"name": "st"}, "trialIds": [7, 9], "promoteTop": 1,
         "broker": {"type": "alpaca", "credentialsSecretRef": {"name": "alpaca"}}}
    )  # fmt: skip
    manifest = manifest_document("a", "ns", spec, STUDY, SEL, "t")
    assert [m["model_id"] for m in manifest["models"]] == ["opt:7", "opt:9"]
    cm = build_manifest_configmap("a", "ns", spec, manifest, 1)
    dep = build_trader_deployment("a", "ns", spec, STUDY, CONFIG, cm)
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    init, trader = pod["initContainers"][0], pod["containers"][0]
    assert init["command"][:3] == ["cappuccino", "validate", "--manifest"]
    assert trader["command"][:4] == [
        "cappuccino",
        "arena",
        "--config",
        "/etc/cappuccino/manifest/arena_config.json",
    ]
    assert trader["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = {e["name"]: e for e in trader["env"]}
    assert env["ALPACA_CREDENTIALS_DIR"]["value"].startswith("/var/run/secrets")
    assert any(v.get("secret", {}).get("secretName") == "alpaca" for v in pod["volumes"])
    assert dep["spec"]["template"]["metadata"]["annotations"][
        "cappuccino.dev/manifest-hash"
    ] == manifest_hash(manifest)
    svc = build_metrics_service("a", "ns", spec, CONFIG)
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def _mounts(job: dict) -> tuple[dict, dict]:
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m for c in pod["containers"] for m in c.get("volumeMounts", [])}
    return volumes, mounts


def test_studies_without_artifact_storage_use_the_installation_pvc() -> None:
    """Pods have a read-only root filesystem, so a worker must write models to a volume: a
    Study naming no storage gets the chart's shared PVC, mounted where the root points."""
    config = OperatorConfig(storage_url="postgresql+psycopg://u:pw@db/o", artifact_pvc="shared")
    study = study_context("st", StudySpec.model_validate({}), config, namespace="ns")
    assert (study.artifact_pvc, study.artifact_root) == ("shared", "/var/lib/cappuccino/artifacts")
    job = build_sweep_job("sw", "ns", _sweep(), study, config)
    volumes, mounts = _mounts(job)
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "shared"
    assert mounts["artifacts"]["mountPath"] == "/var/lib/cappuccino/artifacts"
    assert mounts["artifacts"]["readOnly"] is False


def test_a_study_naming_its_own_storage_keeps_it() -> None:
    config = OperatorConfig(storage_url="postgresql+psycopg://u:pw@db/o", artifact_pvc="shared")
    own = study_context(
        "st", StudySpec.model_validate({"artifacts": {"pvcName": "mine"}}), config, namespace="ns"
    )
    remote = study_context(
        "st",
        StudySpec.model_validate({"artifacts": {"root": "s3://bucket/models"}}),
        config,
        namespace="ns",
    )
    assert (own.artifact_pvc, own.artifact_root) == ("mine", "/var/lib/cappuccino/artifacts")
    assert (remote.artifact_pvc, remote.artifact_root) == (None, "s3://bucket/models")


def test_suspended_trader_has_no_replicas_and_settings_edits_keep_the_selection_key() -> None:
    base = {"studyRef": {"name": "st"}, "topN": 2}
    spec = EnsembleSpec.model_validate(base)
    manifest = manifest_document("e", "ns", spec, STUDY, SEL, "t")
    assert manifest["dsr_gate"] == {"threshold": 0.95, "overridden": False}
    cm = build_manifest_configmap("e", "ns", spec, manifest, 1, SEL)
    suspended = EnsembleSpec.model_validate({**base, "suspend": True, "initialCash": 5})
    dep = build_trader_deployment("e", "ns", suspended, STUDY, CONFIG, cm)
    assert dep["spec"]["replicas"] == 0
    for c in (
        dep["spec"]["template"]["spec"]["initContainers"]
        + dep["spec"]["template"]["spec"]["containers"]
    ):
        assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert selection_key(suspended) == selection_key(spec)
    assert selection_key(EnsembleSpec.model_validate({**base, "topN": 3})) != selection_key(spec)
    assert selection_key(EnsembleSpec.model_validate({**base, "reselect": "1"})) != selection_key(
        spec
    )
    assert selection_from_document(json.loads(cm["data"]["selection.json"])) == SEL


def test_dsr_gate_uses_the_models_own_dsr_else_the_studys() -> None:
    sel = Selection(
        "opt-refit",
        (
            SelectedTrial(1, 0, 1.0, "a" * 64, None, "1h", {"dsr": 0.99}),
            SelectedTrial(2, 1, 0.9, "b" * 64, None, "1h", {"dsr": 0.40}),
            SelectedTrial(3, 2, 0.8, "c" * 64, None, "1h"),
        ),
    )
    assert [(t.trial_id, d) for t, d in dsr_refusals(sel, None, 0.95)] == [(2, 0.40)]
    assert [t.trial_id for t, _ in dsr_refusals(sel, 0.5, 0.95)] == [2, 3]


def test_refit_job_runs_the_refit_command_after_the_sweep() -> None:
    job = build_refit_job("sw", "ns", _sweep(refit={"topN": 2, "seeds": 4}), STUDY, CONFIG)
    (c,) = job["spec"]["template"]["spec"]["containers"]
    argv = c["command"]
    assert argv[:5] == ["cappuccino", "models", "refit", "--study", "opt"]
    assert argv[argv.index("--top-n") + 1] == "2" and argv[argv.index("--seeds") + 1] == "4"
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"


@pytest.mark.parametrize("kind", ["ensemble", "arena"])
def test_frozen_manifests_parse_with_the_registrys_strict_models(kind: str) -> None:
    """What the operator freezes (settings, dsr_gate, each model's own numbers) is what the
    trader's init container accepts (registry models forbid unknown keys)."""
    from cappuccino_contracts.manifests import ArenaConfig, EnsembleManifest

    numbers = {"holdout_sharpe": 1.4, "holdout_bars": 900, "dsr": 0.97, "psr": 0.99,
               "holdout_start": "2019-01-01T00:00:00Z", "holdout_end": "2019-05-05T00:00:00Z",
               "hyperparameter_score": 1.1}  # fmt: skip
    sel = Selection(
        "opt-refit",
        (
            SelectedTrial(7, 3, 1.4, "a" * 64, None, "1h", numbers),
            SelectedTrial(9, 5, 1.1, "b" * 64, "s3://b/x", "1h"),
        ),
    )
    base = {"studyRef": {"name": "st"}, "topN": 2, "allowLowDsr": True}
    gate = {"threshold": 0.95, "overridden": True}
    if kind == "ensemble":
        spec = EnsembleSpec.model_validate(base)
        doc = manifest_document("e", "ns", spec, STUDY, sel, "2026-01-01T00:00:00Z", gate)
        parsed = EnsembleManifest.model_validate(doc)
        first = parsed.entries()[0].numbers
    else:
        spec = ArenaSpec.model_validate({**base, "promoteTop": 1, "minSharpe": 0.5})
        doc = manifest_document("a", "ns", spec, STUDY, sel, "2026-01-01T00:00:00Z", gate)
        parsed = ArenaConfig.model_validate(doc)
        first = parsed.models[0].numbers
    assert parsed.dsr_gate is not None and parsed.dsr_gate.overridden is True
    assert first is not None and first.sharpe == 1.4 and first.sharpe_kind == "holdout"
    assert first.holdout_bars == 900 and first.dsr == 0.97


def test_workers_expose_their_metrics_port_for_the_pod_monitor() -> None:
    job = build_sweep_job("sw", "ns", _sweep(), STUDY, CONFIG)
    (worker,) = job["spec"]["template"]["spec"]["containers"]
    port = CONFIG.metrics_port
    assert worker["command"][worker["command"].index("--metrics-port") + 1] == str(port)
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in worker["ports"]
