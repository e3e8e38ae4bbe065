"""Deploy, manifests and the trader's loader on real studies and artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cappuccino_contracts.artifacts import LOCAL_FILES, read_metadata
from cappuccino_contracts.manifests import (
    ArenaConfig,
    EnsembleManifest,
    ManifestError,
    read_manifest,
)
from rich.console import Console
from sqlalchemy import Engine

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.deploy import (
    DeployRefused,
    demo_stage,
    deploy,
    load_deployed_models,
)
from cappuccino_runtime.errors import ArtifactError, IdentityError
from cappuccino_runtime.settings import Settings
from cappuccino_runtime.validation import Checkpoint, ValidationOptions, validate_manifest
from tests.integration.registry.conftest import copy_artifacts
from tests.support.registry_fixtures import RegistryWorld, tree_state


def _deploy(kind: str, world: RegistryWorld, engine: Engine, out: Path, n: int = 3, **kw):  # type: ignore[no-untyped-def]
    store = kw.pop("store", ArtifactStore(str(world.artifact_root)))
    return deploy(kind, engine, store, "alpha", n, out, created_by="test", **kw)  # type: ignore[arg-type]


def test_ensemble_deploy_writes_the_original_shape_plus_identity(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    result = _deploy("ensemble", world, engine, tmp_path / "ens")
    assert result.report.passed
    raw = json.loads((tmp_path / "ens" / "ensemble_manifest.json").read_text())
    best = world.complete("alpha")[:3]
    assert raw["study_name"] == "alpha"
    assert raw["model_count"] == 3
    assert raw["trial_numbers"] == [t.number for t in best]
    assert raw["trial_ids"] == [t.trial_id for t in best]
    assert raw["trial_values"] == [t.value for t in best]
    assert raw["sha256"] == [t.actor_sha256 for t in best]
    assert raw["created_by"] == "test" and raw["created_at"]
    for i, t in enumerate(best):
        model_dir = tmp_path / "ens" / f"model_{i}"
        assert sorted(p.name for p in model_dir.iterdir()) == [
            "actor.pth",
            "critic.pth",
            "metadata.json",
            "trial.json",
        ]
        meta = read_metadata(LOCAL_FILES, str(model_dir))
        assert (meta.study_name, meta.trial_id, meta.trial_number) == (
            "alpha",
            t.trial_id,
            t.number,
        )
        assert meta.sha256 == t.actor_sha256 and meta.validation_passed
        assert meta.source_dir.endswith(f"alpha/trial_{t.number}_1h")
        assert meta.deployed_by == "test"


def test_arena_deploy_and_the_loader_give_verified_actors(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    _deploy("arena", world, engine, tmp_path / "arena", arena_name="demo-arena")
    config = read_manifest(tmp_path / "arena")
    assert isinstance(config, ArenaConfig)
    assert config.arena_name == "demo-arena" and config.study_name == "alpha"
    assert all(m.validation_status.passed for m in config.models)
    assert set(config.models[0].validation_status.checks) == {
        "1-completion",
        "2-model-files",
        "3-uniqueness",
        "4-metadata",
    }
    loaded = load_deployed_models(tmp_path / "arena" / "arena_config.json", expected_study="alpha")
    best = world.complete("alpha")[:3]
    assert [(m.study_name, m.trial_id, m.number) for m in loaded] == [
        ("alpha", t.trial_id, t.number) for t in best
    ]
    out = loaded[0].actor(torch.zeros(1, loaded[0].spec.obs_dim))
    assert out.shape == (1, loaded[0].spec.action_dim)
    assert loaded[0].model_id == config.models[0].model_id
    with pytest.raises(IdentityError, match="deploys study 'alpha', but 'beta'"):
        load_deployed_models(tmp_path / "arena", expected_study="beta")


def test_redeploy_replaces_atomically_and_leaves_no_temporaries(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "ens"
    _deploy("ensemble", world, engine, out, n=3)
    _deploy("ensemble", world, engine, out, n=2)
    manifest = read_manifest(out)
    assert manifest.model_count == 2
    assert sorted(p.name for p in out.iterdir()) == ["ensemble_manifest.json", "model_0", "model_1"]
    assert [p.name for p in tmp_path.iterdir()] == ["ens"]


def test_deploy_refuses_a_failing_model_and_keeps_the_previous_deployment(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    out = tmp_path / "ens"
    _deploy("ensemble", sqlite_world, sqlite_engine, out, store=store)
    before = tree_state(out)
    second = sqlite_world.complete("alpha")[1]
    (root / "alpha" / f"trial_{second.number}_1h" / "actor.pth").write_bytes(b"\0" * 100)
    with pytest.raises(DeployRefused, match="left unchanged") as info:
        _deploy("ensemble", sqlite_world, sqlite_engine, out, store=store)
    assert not info.value.report.passed
    assert tree_state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "ens"]


def test_deploy_refuses_to_replace_a_directory_that_is_not_a_deployment(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(Exception, match="holds no deployment"):
        _deploy("arena", world, engine, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_manifest_without_study_name_or_trial_ids_is_refused_with_how_to_rebuild(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    _deploy("ensemble", world, engine, tmp_path / "ens")
    path = tmp_path / "ens" / "ensemble_manifest.json"
    for field in ("study_name", "trial_ids"):
        raw = json.loads(path.read_text())
        raw.pop(field)
        legacy = tmp_path / f"legacy_{field}.json"
        legacy.write_text(json.dumps(raw))
        before = legacy.read_bytes()
        with pytest.raises(ManifestError, match=rf"has no {field}.*cappuccino deploy ensemble"):
            read_manifest(legacy)
        report = validate_manifest(legacy)
        assert not report.passed and "cappuccino deploy" in report.summary_line()
        with pytest.raises(ManifestError):
            load_deployed_models(legacy)
        assert legacy.read_bytes() == before


def test_manifest_listing_a_trial_of_another_study_fails(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    store = ArtifactStore(str(world.artifact_root))
    deploy("ensemble", engine, store, "beta", 2, tmp_path / "beta", created_by="t")
    path = tmp_path / "beta" / "ensemble_manifest.json"
    raw = json.loads(path.read_text())
    raw["study_name"] = "alpha"
    path.write_text(json.dumps(raw))
    before = tree_state(tmp_path / "beta")
    report = validate_manifest(path, engine=engine)
    failed = {r.checkpoint for r in report.failures()}
    assert {Checkpoint.MANIFEST, Checkpoint.DEPLOYMENT} <= failed
    messages = " ".join(r.message for r in report.failures())
    assert "has study_name 'beta' (manifest: 'alpha')" in messages
    assert "trial.json names study_name 'beta' (manifest: 'alpha')" in messages
    with pytest.raises(IdentityError, match="holds study 'beta'"):
        load_deployed_models(path)
    assert tree_state(tmp_path / "beta") == before


def test_a_tampered_deployed_model_is_refused_by_validation_and_loader(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    _deploy("ensemble", world, engine, tmp_path / "ens")
    shutil.copy(tmp_path / "ens" / "model_1" / "actor.pth", tmp_path / "ens" / "model_0")
    report = validate_manifest(tmp_path / "ens")
    assert "actor.pth hashes to" in report.failures()[0].message
    with pytest.raises(IdentityError):
        load_deployed_models(tmp_path / "ens")


def test_a_frozen_manifest_resolves_against_the_artifact_root(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    """The init-container case: manifest from a ConfigMap, weights from the artifact volume."""
    _deploy("arena", world, engine, tmp_path / "arena")
    configmap = tmp_path / "configmap"
    configmap.mkdir()
    frozen = configmap / "arena_config.json"
    shutil.copy(tmp_path / "arena" / "arena_config.json", frozen)
    report = validate_manifest(frozen, artifacts=str(world.artifact_root), engine=engine)
    assert report.passed, report.summary_line()
    loaded = load_deployed_models(frozen, artifacts=str(world.artifact_root))
    assert [m.sha256 for m in loaded] == [t.actor_sha256 for t in world.complete("alpha")[:3]]
    with pytest.raises(ArtifactError):
        load_deployed_models(frozen)


def test_manifest_models_reject_inconsistent_fields() -> None:
    base = {
        "study_name": "alpha",
        "model_count": 2,
        "trial_numbers": [1, 2],
        "trial_ids": [5, 5],
        "trial_values": [1.0, 0.5],
        "sha256": ["a", "b"],
        "model_paths": ["model_0", "model_1"],
        "source_dirs": ["alpha/trial_1_1h", "alpha/trial_2_1h"],
        "created_by": "t",
    }
    with pytest.raises(ValueError, match="same model twice"):
        EnsembleManifest.model_validate(base)
    with pytest.raises(ValueError, match="other lengths"):
        EnsembleManifest.model_validate({**base, "trial_ids": [5, 6], "model_count": 3})
    with pytest.raises(ValueError, match=r"model path '../x' must be"):
        EnsembleManifest.model_validate(
            {**base, "trial_ids": [5, 6], "model_paths": ["../x", "model_1"]}
        )
    with pytest.raises(ValueError, match=r"source dir '/etc' must be relative"):
        EnsembleManifest.model_validate(
            {**base, "trial_ids": [5, 6], "source_dirs": ["/etc", "alpha/trial_2_1h"]}
        )
    absolute = {**base, "trial_ids": [5, 6], "model_paths": ["s3://b/alpha/t1", "/mnt/a/t2"]}
    assert EnsembleManifest.model_validate(absolute).model_paths[0] == "s3://b/alpha/t1"


def test_demo_stage_validates_prints_and_deploys_both_kinds(
    world: RegistryWorld, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        home=tmp_path, storage=world.storage, artifact_root=str(world.artifact_root)
    )
    console = Console(record=True, width=200)
    result = demo_stage(settings, "alpha", 2, tmp_path / "deploy", console)
    assert result.report.passed
    assert (result.arena_dir / "arena_config.json").is_file()
    assert (result.ensemble_dir / "ensemble_manifest.json").is_file()
    text = console.export_text()
    assert "Cappuccino validation" in text and "PASSED" in text
    assert len(load_deployed_models(result.ensemble_dir)) == 2
    assert validate_manifest(result.arena_dir, options=ValidationOptions()).passed


def test_stage_validate_deploy_runs_on_the_demo_context(
    sqlite_world: RegistryWorld, tmp_path: Path
) -> None:
    from cappuccino_runtime.demo import DemoContext
    from cappuccino_runtime.deploy import stage_validate_deploy

    settings = Settings.from_env(
        home=tmp_path, storage=sqlite_world.storage, artifact_root=str(sqlite_world.artifact_root)
    )
    console = Console(record=True, width=200)
    ctx = DemoContext(settings=settings, trials=0, console=console, study_name="beta")
    result = stage_validate_deploy(ctx)
    assert result.arena_dir == tmp_path / "deployments" / "arena"
    assert read_manifest(result.ensemble_dir).trial_ids == [
        t.trial_id for t in sqlite_world.complete("beta")
    ]
