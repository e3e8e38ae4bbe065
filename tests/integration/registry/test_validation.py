"""Checkpoints 1-4 on real studies and artifacts; every bad input is a clear failure and
validation modifies nothing."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cappuccino_contracts.artifacts import TrialRecord
from sqlalchemy import Engine

from cappuccino_runtime.agent.networks import Actor, state_dict_bytes
from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.registry import get_trial
from cappuccino_runtime.validation import (
    Checkpoint,
    SizeBounds,
    ValidationOptions,
    ValidationReport,
    fix_trial,
    resolve_trial_dir,
    validate_study,
    validate_trial_id,
)
from tests.integration.registry.conftest import copy_artifacts
from tests.support.registry_fixtures import (
    FixtureTrial,
    RegistryWorld,
    make_spec,
    tree_state,
)


def _best(world: RegistryWorld, study: str = "alpha") -> FixtureTrial:
    return world.complete(study)[0]


def _dir(root: Path, t: FixtureTrial) -> Path:
    return root / t.study_name / f"trial_{t.number}_1h"


def _failed(report: ValidationReport, checkpoint: Checkpoint) -> str:
    messages = [r.message for r in report.failures() if r.checkpoint is checkpoint]
    assert messages, f"expected {checkpoint} to fail: {report.summary_line()}"
    failure = next(r for r in report.failures() if r.checkpoint is checkpoint)
    assert failure.fix, "every failure says how to fix it"
    return messages[0]


def test_the_top_models_of_each_backend_pass_every_checkpoint(
    world: RegistryWorld, engine: Engine
) -> None:
    store = ArtifactStore(str(world.artifact_root))
    before = tree_state(world.artifact_root)
    report, inspections = validate_study(engine, store, "alpha", 3, ValidationOptions())
    assert report.passed, report.summary_line()
    assert {r.checkpoint for r in report.results} == {
        Checkpoint.COMPLETION,
        Checkpoint.MODEL_FILES,
        Checkpoint.UNIQUENESS,
        Checkpoint.METADATA,
    }
    assert len(report.results) == 12
    assert [i.trial.trial_id for i in inspections] == [
        t.trial_id for t in world.complete("alpha")[:3]
    ]
    assert "best_trial agree" in report.for_subject(report.results[0].subject)[3].message
    assert tree_state(world.artifact_root) == before


def test_a_value_threshold_fails_completion(world: RegistryWorld, engine: Engine) -> None:
    store = ArtifactStore(str(world.artifact_root))
    report, _ = validate_study(engine, store, "alpha", 5, ValidationOptions(min_value=1.0))
    assert len([r for r in report.failures() if r.checkpoint is Checkpoint.COMPLETION]) == 3


def test_a_pruned_trial_fails_completion(world: RegistryWorld, engine: Engine) -> None:
    pruned = next(t for t in world.trials["alpha"] if t.state == "PRUNED")
    store = ArtifactStore(str(world.artifact_root))
    report, _ = validate_trial_id(engine, store, pruned.trial_id, ValidationOptions())
    assert "PRUNED" in _failed(report, Checkpoint.COMPLETION)


def _write_record(trial_dir: Path, **changes: object) -> None:
    record = TrialRecord.model_validate_json((trial_dir / "trial.json").read_text())
    (trial_dir / "trial.json").write_text(record.model_copy(update=changes).model_dump_json())


def _other_actor(net_dimension: int = 16, seed: int = 12345) -> bytes:
    torch.manual_seed(seed)
    return state_dict_bytes(Actor.from_spec(make_spec(net_dimension=net_dimension)))


Damage = Callable[[Path, RegistryWorld], None]

BAD_INPUTS: dict[str, tuple[Damage, Checkpoint, str, ValidationOptions]] = {
    "missing actor.pth": (
        lambda d, w: (d / "actor.pth").unlink(),
        Checkpoint.MODEL_FILES,
        "actor.pth is missing",
        ValidationOptions(),
    ),
    "truncated actor.pth": (
        lambda d, w: (d / "actor.pth").write_bytes((d / "actor.pth").read_bytes()[:700]),
        Checkpoint.MODEL_FILES,
        "cannot be read as a plain tensor state dict",
        ValidationOptions(),
    ),
    "corrupted actor.pth": (
        lambda d, w: (d / "actor.pth").write_bytes(
            (d / "actor.pth").read_bytes()[:300] + bytes(200) + (d / "actor.pth").read_bytes()[500:]
        ),
        Checkpoint.MODEL_FILES,
        "cannot be read",
        ValidationOptions(),
    ),
    "zero-byte actor.pth": (
        lambda d, w: (d / "actor.pth").write_bytes(b""),
        Checkpoint.MODEL_FILES,
        "is 0 bytes, outside the accepted",
        ValidationOptions(),
    ),
    "weights of the wrong shape": (
        lambda d, w: (d / "actor.pth").write_bytes(_other_actor(net_dimension=32)),
        Checkpoint.MODEL_FILES,
        "does not fit the network its trial describes",
        ValidationOptions(),
    ),
    "file over the size bound": (
        lambda d, w: None,
        Checkpoint.MODEL_FILES,
        "outside the accepted 64..1000 bytes",
        ValidationOptions(bounds=SizeBounds(max_bytes=1000)),
    ),
    "checksum mismatch": (
        lambda d, w: (d / "actor.pth").write_bytes(_other_actor()),
        Checkpoint.METADATA,
        "but trial.json records",
        ValidationOptions(),
    ),
    "database value differs from trial.json": (
        lambda d, w: _write_record(d, value=7.5),
        Checkpoint.METADATA,
        "value 7.5 (database: 2.0)",
        ValidationOptions(),
    ),
    "files of another study (wrong study)": (
        lambda d, w: _replace_with(d, _dir(w.artifact_root, w.trials["beta"][0])),
        Checkpoint.METADATA,
        "study_name 'beta' (database: 'alpha')",
        ValidationOptions(),
    ),
    "missing trial.json": (
        lambda d, w: (d / "trial.json").unlink(),
        Checkpoint.METADATA,
        "trial.json is missing",
        ValidationOptions(),
    ),
}


def _replace_with(target: Path, source: Path) -> None:
    shutil.rmtree(target)
    shutil.copytree(source, target)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_fail_clearly_and_modify_nothing(
    case: str, sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    damage, checkpoint, needle, options = BAD_INPUTS[case]
    root, store = copy_artifacts(sqlite_world, tmp_path)
    best = _best(sqlite_world)
    damage(_dir(root, best), sqlite_world)
    before = tree_state(root)
    report, _ = validate_trial_id(sqlite_engine, store, best.trial_id, options)
    assert not report.passed
    assert needle in _failed(report, checkpoint)
    assert f"alpha:trial_id={best.trial_id}" in report.summary_line()
    assert "\n" not in report.summary_line()
    assert tree_state(root) == before


def test_old_layout_with_weights_in_stored_agent_passes(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    best = _best(sqlite_world)
    trial_dir = _dir(root, best)
    (trial_dir / "stored_agent").mkdir()
    for name in ("actor.pth", "critic.pth"):
        (trial_dir / name).rename(trial_dir / "stored_agent" / name)
    report, _ = validate_trial_id(sqlite_engine, store, best.trial_id, ValidationOptions())
    assert report.passed, report.summary_line()


def test_a_malicious_best_trial_pickle_is_never_executed(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    best = _best(sqlite_world)
    (_dir(root, best) / "best_trial").write_bytes(pickle.dumps(Payload()))
    before = tree_state(root)
    report, _ = validate_trial_id(sqlite_engine, store, best.trial_id, ValidationOptions())
    message = _failed(report, Checkpoint.METADATA)
    assert "cannot be verified safely" in message and "not loaded" in message
    assert not marker.exists()
    assert tree_state(root) == before


def test_a_best_trial_pickle_of_another_trial_is_reported(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    alpha, other = _best(sqlite_world), sqlite_world.complete("alpha")[1]
    source = _dir(root, alpha) / "best_trial"
    shutil.copy(source, _dir(root, other) / "best_trial")
    report, _ = validate_trial_id(sqlite_engine, store, other.trial_id, ValidationOptions())
    assert "best_trial pickle disagrees" in _failed(report, Checkpoint.METADATA)


def test_fix_regenerates_a_missing_trial_json_and_a_pickle_from_the_database(
    world: RegistryWorld, engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(world, tmp_path)
    second = world.complete("alpha")[1]
    trial_dir = _dir(root, second)
    original = json.loads((trial_dir / "trial.json").read_text())
    (trial_dir / "trial.json").unlink()
    trial = get_trial(engine, second.trial_id)
    report, _ = validate_trial_id(engine, store, second.trial_id, ValidationOptions())
    assert not report.passed
    fs, path = resolve_trial_dir(store, trial)
    actions = fix_trial(fs, path, trial, world.storage, write_pickle=True)
    assert len(actions) == 2 and "regenerated" in actions[0]
    regenerated = json.loads((trial_dir / "trial.json").read_text())
    for key in ("study_name", "trial_id", "number", "value", "params", "checksums", "model"):
        assert regenerated[key] == original[key]
    report, _ = validate_trial_id(engine, store, second.trial_id, ValidationOptions())
    assert report.passed, report.summary_line()
    assert "best_trial agree" in report.results[-1].message
    assert fix_trial(fs, path, trial, world.storage, write_pickle=True) == []


def test_fix_refuses_to_describe_weights_the_database_does_not_know(
    sqlite_world: RegistryWorld, sqlite_engine: Engine, tmp_path: Path
) -> None:
    root, store = copy_artifacts(sqlite_world, tmp_path)
    best = _best(sqlite_world)
    trial_dir = _dir(root, best)
    (trial_dir / "trial.json").unlink()
    (trial_dir / "actor.pth").write_bytes(_other_actor())
    trial = get_trial(sqlite_engine, best.trial_id)
    fs, path = resolve_trial_dir(store, trial)
    actions = fix_trial(fs, path, trial, sqlite_world.storage)
    assert len(actions) == 1 and "not this trial's weights" in actions[0]
    assert not (trial_dir / "trial.json").exists()
