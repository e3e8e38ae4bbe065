"""Runs the checkpoints over what a user names: a study's top N, one trial, or a manifest.

These are the library entry points the CLI, `deploy` and the init container share.
Validation only reads: nothing here writes a file (see `fix.py` for --fix).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    PICKLE_FILE,
    ArtifactFileError,
    ModelSpec,
    TrialRecord,
    read_trial_json,
)
from cappuccino_contracts.manifests import (
    ARENA_FILE,
    ENSEMBLE_FILE,
    ManifestError,
    read_manifest,
)
from fsspec.core import url_to_fs
from sqlalchemy import Engine

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.registry.models import RegistryTrial, TrialRef
from cappuccino_runtime.registry.queries import find_by_number, get_trial, top_trials
from cappuccino_runtime.validation.checks import (
    check_completion,
    check_db_identity,
    check_metadata,
    check_uniqueness,
    subject_of,
)
from cappuccino_runtime.validation.deployment import check_deployed_model
from cappuccino_runtime.validation.files import SizeBounds, file_sha256
from cappuccino_runtime.validation.report import Checkpoint, CheckResult, ValidationReport
from cappuccino_runtime.validation.safe_pickle import (
    MAX_PICKLE_BYTES,
    PickleSummary,
    UnverifiablePickle,
    read_trial_pickle,
)
from cappuccino_runtime.validation.verify import check_model_files

__all__ = [
    "TrialInspection",
    "ValidationOptions",
    "inspect_trial",
    "is_deploy_dir_entry",
    "resolve_entry_dir",
    "resolve_trial_dir",
    "validate_manifest",
    "validate_study",
    "validate_trial_id",
    "validate_trials",
]


@dataclass(frozen=True)
class ValidationOptions:
    """Thresholds of checkpoints 1 and 2."""

    min_value: float | None = None
    bounds: SizeBounds = field(default_factory=SizeBounds)


@dataclass
class TrialInspection:
    """A registry trial with everything validation found about it (deploy reuses this)."""

    trial: RegistryTrial
    fs: fsspec.AbstractFileSystem
    trial_dir: str
    record: TrialRecord | None
    spec: ModelSpec | None
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        """True when every checkpoint on this trial passed."""
        return all(r.passed for r in self.results)


def resolve_trial_dir(
    store: ArtifactStore, trial: RegistryTrial
) -> tuple[fsspec.AbstractFileSystem, str]:
    """Where a trial's files are: the layout under the artifact root, else its artifact_uri.

    The layout path wins so that a root mounted elsewhere (`--artifacts`) is honoured; the
    recorded `artifact_uri` is the fallback for roots that moved.
    """
    timeframe = trial.timeframe
    if timeframe is None and (spec := trial.model_spec()) is not None:
        timeframe = spec.timeframe
    layout = store.trial_path(trial.study_name, trial.number, timeframe or "unknown")
    if store.fs.isdir(layout) or not trial.artifact_uri:
        return store.fs, layout
    fs, path = url_to_fs(trial.artifact_uri)
    if fs.isdir(path):
        return fs, str(path)
    return store.fs, layout


def _read_pickle(
    fs: fsspec.AbstractFileSystem, trial_dir: str
) -> tuple[PickleSummary | None, str | None]:
    path = posixpath.join(trial_dir, PICKLE_FILE)
    if not fs.isfile(path):
        return None, None
    if int(fs.size(path)) > MAX_PICKLE_BYTES:
        return None, f"it is larger than {MAX_PICKLE_BYTES} bytes"
    try:
        return read_trial_pickle(fs.cat_file(path)), None
    except UnverifiablePickle as e:
        return None, str(e)


def _read_record(
    fs: fsspec.AbstractFileSystem, trial_dir: str
) -> tuple[TrialRecord | None, str | None]:
    """trial.json, or why it cannot be used (checkpoint 4 reports it)."""
    try:
        return read_trial_json(fs, trial_dir), None
    except ArtifactFileError as e:
        return None, e.problem


def inspect_trial(
    engine: Engine, store: ArtifactStore, trial: RegistryTrial, options: ValidationOptions
) -> TrialInspection:
    """Checkpoints 1-4 on one registry trial."""
    subject = subject_of(trial.study_name, trial.trial_id, trial.number)
    fs, trial_dir = resolve_trial_dir(store, trial)
    results = [check_completion(trial, options.min_value)]
    record, record_error = _read_record(fs, trial_dir)
    spec = record.model if record is not None else trial.model_spec()
    results.append(check_model_files(fs, trial_dir, spec, trial.params, subject, options.bounds))
    results.append(
        check_uniqueness(trial.ref(), find_by_number(engine, trial.number, trial.study_name))
    )
    shas = {name: file_sha256(fs, trial_dir, name) for name in (ACTOR_FILE, CRITIC_FILE)}
    summary, pickle_error = _read_pickle(fs, trial_dir)
    results.append(check_metadata(trial, record, record_error, shas, summary, pickle_error))
    return TrialInspection(
        trial=trial, fs=fs, trial_dir=trial_dir, record=record, spec=spec, results=results
    )


def validate_trials(
    engine: Engine,
    store: ArtifactStore,
    trials: list[RegistryTrial],
    options: ValidationOptions,
) -> tuple[ValidationReport, list[TrialInspection]]:
    """Checkpoints 1-4 on each trial; the report and the per-trial inspections."""
    inspections = [inspect_trial(engine, store, t, options) for t in trials]
    report = ValidationReport(results=[r for i in inspections for r in i.results])
    return report, inspections


def validate_study(
    engine: Engine, store: ArtifactStore, study_name: str, top_n: int, options: ValidationOptions
) -> tuple[ValidationReport, list[TrialInspection]]:
    """Checkpoints 1-4 on the top N COMPLETE trials of one study."""
    trials = top_trials(engine, study_name, top_n)
    if not trials:
        failed = CheckResult(
            checkpoint=Checkpoint.COMPLETION,
            subject=study_name,
            passed=False,
            message=f"study {study_name!r} has no COMPLETE trial.",
            fix="train first (`cappuccino train --study ...`), then validate.",
        )
        return ValidationReport(results=[failed]), []
    return validate_trials(engine, store, trials, options)


def validate_trial_id(
    engine: Engine, store: ArtifactStore, trial_id: int, options: ValidationOptions
) -> tuple[ValidationReport, list[TrialInspection]]:
    """Checkpoints 1-4 on one trial named by its trial_id."""
    return validate_trials(engine, store, [get_trial(engine, trial_id)], options)


def is_deploy_dir_entry(model_path: str, artifacts: str | None) -> bool:
    """True when an entry resolves to a deploy dir's `model_{i}` (which must hold metadata.json)."""
    return artifacts is None and not ("://" in model_path or model_path.startswith("/"))


def resolve_entry_dir(
    manifest_path: Path, model_path: str, source_dir: str, artifacts: str | None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """Where a manifest entry's files are.

    With an artifact root: `{artifacts}/{source_dir}` (a frozen manifest, weights on the
    artifact volume). Without: `model_path`, relative to the manifest's directory (a deploy
    dir's `model_{i}`) or an absolute path/URL (operator-built manifests record artifact_uri).
    """
    if artifacts is not None:
        from cappuccino_runtime.validation.files import check_artifact_root

        fs, root = url_to_fs(check_artifact_root(artifacts).rstrip("/"))
        return fs, posixpath.join(str(root), source_dir)
    if "://" in model_path or model_path.startswith("/"):
        fs, path = url_to_fs(model_path)
        return fs, str(path)
    fs = fsspec.filesystem("file")
    return fs, str((manifest_path.parent / model_path).resolve())


def validate_manifest(
    manifest_path: str | Path,
    artifacts: str | None = None,
    engine: Engine | None = None,
    options: ValidationOptions | None = None,
) -> ValidationReport:
    """Checkpoints 5 and 6 (and 2; with a database also 1, 3 and the DB side of 5).

    Args:
        manifest_path: ensemble_manifest.json, arena_config.json, or a deploy dir.
        artifacts: artifact root URL; when given, models are read from
            `{artifacts}/{source_dir}` (the init-container case: the manifest comes from a
            ConfigMap, the weights from the artifact volume) and need no metadata.json.
            When None, models are the deploy dir's `model_{i}/` next to the manifest (with
            metadata.json), or the absolute path/URL in `model_path` (operator manifests).
        engine: the Optuna storage, to check every entry against the database.
        options: thresholds of checkpoints 1 and 2.
    """
    options = options or ValidationOptions()
    path = Path(manifest_path)
    try:
        manifest = read_manifest(path)
    except ManifestError as e:
        failed = CheckResult(
            checkpoint=Checkpoint.MANIFEST,
            subject=str(path),
            passed=False,
            message=str(e),
            fix="",
        )
        return ValidationReport(results=[failed])
    if path.is_dir():
        path = path / (ARENA_FILE if manifest.kind == "arena" else ENSEMBLE_FILE)
    results = [
        CheckResult(
            checkpoint=Checkpoint.MANIFEST,
            subject=str(path),
            passed=True,
            message=f"{manifest.kind} manifest of study {manifest.study_name!r} lists "
            f"{manifest.model_count} models with trial_ids {[e.trial_id for e in manifest.entries()]}.",
        )
    ]
    for entry in manifest.entries():
        subject = subject_of(entry.study_name, entry.trial_id, entry.trial_number)
        fs, model_dir = resolve_entry_dir(path, entry.model_path, entry.source_dir, artifacts)
        deployed, record = check_deployed_model(
            fs, model_dir, entry, is_deploy_dir_entry(entry.model_path, artifacts)
        )
        results.append(deployed)
        spec = record.model if record is not None else None
        params = record.params if record is not None else {}
        results.append(check_model_files(fs, model_dir, spec, params, subject, options.bounds))
        if engine is not None:
            try:
                db: RegistryTrial | None = get_trial(engine, entry.trial_id)
            except ConfigError:
                db = None
            ref = TrialRef(
                study_name=entry.study_name, trial_id=entry.trial_id, number=entry.trial_number
            )
            results.append(check_db_identity(ref, db, entry.value))
            if db is not None and db.study_name == entry.study_name:
                results.append(check_completion(db, options.min_value))
                results.append(
                    check_uniqueness(ref, find_by_number(engine, db.number, db.study_name))
                )
    return ValidationReport(results=results)
