"""Checkpoint 6 (deployment files): a deployed model dir holds the weights, trial.json and
metadata.json of exactly the model its manifest entry names."""

from __future__ import annotations

import json
import posixpath

import fsspec
from cappuccino_contracts.manifests import DeployedModelEntry
from pydantic import ValidationError

from cappuccino_runtime.artifacts import ACTOR_FILE, CRITIC_FILE, TRIAL_FILE, TrialRecord
from cappuccino_runtime.errors import ArtifactError
from cappuccino_runtime.registry.metadata import METADATA_FILE, ModelMetadata
from cappuccino_runtime.validation.checks import subject_of
from cappuccino_runtime.validation.files import file_sha256, locate
from cappuccino_runtime.validation.report import Checkpoint, CheckResult

__all__ = ["check_deployed_model", "read_trial_record"]

_REDEPLOY = (
    "rebuild the deployment with `cappuccino deploy arena|ensemble --study S --top-n N --out DIR`."
)


def read_trial_record(
    fs: fsspec.AbstractFileSystem, trial_dir: str
) -> tuple[TrialRecord | None, str | None]:
    """Parses trial.json; returns (record, None) or (None, why it cannot be used)."""
    path = posixpath.join(trial_dir, TRIAL_FILE)
    if not fs.isfile(path):
        return None, f"{fs.unstrip_protocol(path)} is missing."
    try:
        return TrialRecord.model_validate_json(fs.cat_file(path)), None
    except ValueError as e:
        first = str(e).splitlines()[0]
        return None, f"{fs.unstrip_protocol(path)} is not a valid trial record ({first})."


def _read_metadata(
    fs: fsspec.AbstractFileSystem, model_dir: str
) -> tuple[ModelMetadata | None, str | None]:
    path = posixpath.join(model_dir, METADATA_FILE)
    if not fs.isfile(path):
        return None, f"{fs.unstrip_protocol(path)} is missing."
    try:
        return ModelMetadata.model_validate(json.loads(fs.cat_file(path))), None
    except (ValueError, ValidationError) as e:
        first = str(e).splitlines()[0]
        return None, f"{fs.unstrip_protocol(path)} is not valid metadata ({first})."


def _identity_problems(record: TrialRecord, entry: DeployedModelEntry) -> list[str]:
    """Where trial.json names another model than the manifest entry."""
    problems = []
    if record.study_name != entry.study_name:
        problems.append(f"trial.json names study {record.study_name!r}")
    if record.trial_id != entry.trial_id:
        problems.append(f"trial.json names trial_id {record.trial_id}")
    if record.number != entry.trial_number:
        problems.append(f"trial.json names number {record.number}")
    return problems


def _checksum_problems(
    record: TrialRecord, entry: DeployedModelEntry, actor_sha: str | None, critic_sha: str | None
) -> list[str]:
    """Where the weights' hashes disagree with the manifest entry or trial.json."""
    problems = []
    if actor_sha != entry.sha256:
        problems.append(
            f"actor.pth hashes to {str(actor_sha)[:12]}…, manifest says {entry.sha256[:12]}…"
        )
    if record.checksums.get(ACTOR_FILE) != actor_sha:
        problems.append("actor.pth does not match the checksum in trial.json")
    if record.checksums.get(CRITIC_FILE) not in (None, critic_sha):
        problems.append("critic.pth does not match the checksum in trial.json")
    return problems


def _metadata_problems(
    meta: ModelMetadata, entry: DeployedModelEntry, actor_sha: str | None
) -> list[str]:
    """Where metadata.json names another model, another actor hash, or a failed validation."""
    problems = []
    if (meta.study_name, meta.trial_id, meta.trial_number) != (
        entry.study_name,
        entry.trial_id,
        entry.trial_number,
    ):
        problems.append(
            f"metadata.json names {meta.study_name}:trial_id={meta.trial_id} #{meta.trial_number}"
        )
    if meta.sha256 != actor_sha:
        problems.append("metadata.json sha256 does not match actor.pth")
    if not meta.validation_passed:
        problems.append("metadata.json records a failed validation")
    return problems


def check_deployed_model(
    fs: fsspec.AbstractFileSystem,
    model_dir: str,
    entry: DeployedModelEntry,
    require_metadata: bool,
) -> tuple[CheckResult, TrialRecord | None]:
    """Checkpoint 6 on one manifest entry; also returns the parsed trial.json when valid.

    Args:
        fs: filesystem of the model directory.
        model_dir: a deploy dir's `model_{i}` (require_metadata=True) or the trial's
            directory in the artifact store (`--artifacts`, require_metadata=False).
        entry: what the manifest says this model is.
        require_metadata: whether metadata.json must be present (deploy dirs only).
    """
    subject = subject_of(entry.study_name, entry.trial_id, entry.trial_number)
    url = fs.unstrip_protocol(model_dir)

    def fail(message: str) -> tuple[CheckResult, None]:
        result = CheckResult(
            checkpoint=Checkpoint.DEPLOYMENT,
            subject=subject,
            passed=False,
            message=message,
            fix=_REDEPLOY,
        )
        return result, None

    if not fs.isdir(model_dir):
        return fail(f"model directory {url} does not exist.")
    missing = [n for n in (ACTOR_FILE, CRITIC_FILE) if locate(fs, model_dir, n) is None]
    if missing:
        return fail(f"{url} lacks {', '.join(missing)}.")
    record, error = read_trial_record(fs, model_dir)
    if record is None:
        return fail(f"{error} A deployed model must carry its trial.json.")
    problems = _identity_problems(record, entry)
    try:
        actor_sha = file_sha256(fs, model_dir, ACTOR_FILE)
        critic_sha = file_sha256(fs, model_dir, CRITIC_FILE)
    except ArtifactError as e:
        return fail(str(e))
    problems += _checksum_problems(record, entry, actor_sha, critic_sha)
    if require_metadata:
        meta, meta_error = _read_metadata(fs, model_dir)
        if meta is None:
            problems.append(str(meta_error))
        else:
            problems += _metadata_problems(meta, entry, actor_sha)
    if problems:
        return fail(
            f"{url} is not the model the manifest names ({entry.study_name}:trial_id="
            f"{entry.trial_id}): " + "; ".join(problems) + "."
        )
    ok = CheckResult(
        checkpoint=Checkpoint.DEPLOYMENT,
        subject=subject,
        passed=True,
        message=f"{url}: weights, trial.json{' and metadata.json' if require_metadata else ''} "
        "match the manifest.",
    )
    return ok, record
