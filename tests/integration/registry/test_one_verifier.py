"""Every path that trusts a model refuses a tampered one through the one verifier, in one line.

The paths: `cappuccino validate --manifest` (the CLI and, with --artifacts, the init
container), the library's validate_manifest, the trader's loader (load_deployed_models, with
and without an artifact root), and `deploy` (which validates the trial dirs it copies from).
On the code before validation/verify.py each path spelled its own check, so the loader and
validation named the same tampering differently; here they must say the same sentence.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cappuccino_runtime.artifacts import sha256_bytes
from cappuccino_runtime.deploy import DeployRefused, deploy, load_deployed_models
from cappuccino_runtime.errors import ArtifactError, IdentityError
from cappuccino_runtime.validation import Checkpoint, ValidationOptions, validate_trial_id
from cappuccino_runtime.validation.runner import validate_manifest
from tests.integration.registry.conftest import copy_artifacts
from tests.integration.registry.test_cli import run
from tests.support.registry_fixtures import RegistryWorld


@pytest.fixture
def deployed(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> tuple[Path, Path]:
    """(a private artifact root, an ensemble of alpha's top 2 deployed from it)."""
    root, store = copy_artifacts(sqlite_world, tmp_path)
    ens = tmp_path / "ens"
    deploy("ensemble", sqlite_engine, store, "alpha", 2, ens, created_by="t")
    return root, ens


def _trial_dir(world: RegistryWorld, root: Path, rank: int) -> Path:
    return root / "alpha" / f"trial_{world.complete('alpha')[rank].number}_1h"


def _swap_actor(into: Path, from_: Path) -> str:
    """Replaces one model's actor.pth with another real model's (valid weights, wrong model)."""
    shutil.copy(from_ / "actor.pth", into / "actor.pth")
    return sha256_bytes((into / "actor.pth").read_bytes())


def _refused_alike(
    manifest: Path, artifacts: str | None, capsys: pytest.CaptureFixture[str]
) -> str:
    """validate_manifest, the loader and `cappuccino validate --manifest` refuse the model
    with the same one-line message; returns it."""
    report = validate_manifest(manifest, artifacts=artifacts)
    messages = [r.message for r in report.failures() if r.checkpoint is Checkpoint.DEPLOYMENT]
    assert messages, "validation passed a tampered model"
    message = messages[0]
    assert "\n" not in message
    with pytest.raises(IdentityError) as loader_error:
        load_deployed_models(manifest, artifacts=artifacts)
    assert str(loader_error.value).startswith(message)
    argv = ["validate", "--manifest", str(manifest)]
    code, out, err = run([*argv, "--artifacts", artifacts] if artifacts else argv, capsys)
    assert code != 0 and message in out + err
    return message


def test_validate_the_cli_and_the_loader_refuse_a_tampered_deploy_dir_with_one_message(
    deployed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, ens = deployed
    found = _swap_actor(ens / "model_0", ens / "model_1")
    message = _refused_alike(ens, None, capsys)
    assert f"actor.pth hashes to {found[:12]}… but the manifest records" in message
    assert "but trial.json records" in message and "but metadata.json records" in message


def test_the_init_container_and_the_loader_refuse_tampered_weights_on_the_artifact_volume(
    sqlite_world: RegistryWorld, deployed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator's case: the manifest from a ConfigMap, the weights from the artifact root."""
    root, ens = deployed
    trial_dir = _trial_dir(sqlite_world, root, 0)
    _swap_actor(trial_dir, _trial_dir(sqlite_world, root, 1))
    message = _refused_alike(ens / "ensemble_manifest.json", str(root), capsys)
    assert str(trial_dir) in message and "hashes to" in message


def test_deploy_and_validate_name_a_tampered_trial_the_same_way(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    best = sqlite_world.complete("alpha")[0]
    found = _swap_actor(_trial_dir(sqlite_world, root, 0), _trial_dir(sqlite_world, root, 1))

    report, _ = validate_trial_id(sqlite_engine, store, best.trial_id, ValidationOptions())
    (validated,) = [r.message for r in report.failures() if r.checkpoint is Checkpoint.METADATA]
    assert f"actor.pth hashes to {found[:12]}… but trial.json records" in validated

    with pytest.raises(DeployRefused) as refused:
        deploy("ensemble", sqlite_engine, store, "alpha", 2, tmp_path / "out", created_by="t")
    deployed = [r.message for r in refused.value.report.failures()]
    assert validated in deployed
    assert not (tmp_path / "out").exists()


def test_the_loader_bounds_the_size_like_validation(deployed: tuple[Path, Path]) -> None:
    """An actor.pth over the size bound is refused by the loader before it is read."""
    _, ens = deployed
    actor = ens / "model_0" / "actor.pth"
    with actor.open("ab") as fh:
        fh.truncate(600 * 1024 * 1024)  # sparse: 600 MiB listed, nothing written
    with pytest.raises(ArtifactError, match="over the 536870912-byte limit"):
        load_deployed_models(ens)
    report = validate_manifest(ens)
    assert any("over the 536870912-byte limit" in r.message for r in report.failures())
