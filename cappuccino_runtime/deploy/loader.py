"""The one way a trader loads deployed models: identity and checksums verified, or nothing.

`load_deployed_models(path)` reads an ensemble_manifest.json / arena_config.json (or a deploy
dir holding one) and returns one `LoadedModel` per entry, in manifest order. For every model
it checks that trial.json (and metadata.json in a deploy dir) names the manifest's study,
trial_id and number, that actor.pth hashes to the manifest's sha256 and to trial.json's, and
then loads the weights with `weights_only=True` into the network trial.json describes.
Any mismatch is an `IdentityError`/`ArtifactError`: never a fallback to another model.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cappuccino_contracts.manifests import ARENA_FILE, ENSEMBLE_FILE, Manifest, read_manifest

from cappuccino_runtime.artifacts import ACTOR_FILE, TRIAL_FILE, ModelSpec, TrialRecord
from cappuccino_runtime.errors import ArtifactError, IdentityError
from cappuccino_runtime.registry.metadata import METADATA_FILE
from cappuccino_runtime.validation.files import locate
from cappuccino_runtime.validation.runner import is_deploy_dir_entry, resolve_entry_dir

if TYPE_CHECKING:
    from cappuccino_runtime.agent.networks import Actor

__all__ = ["LoadedModel", "load_deployed_models"]


@dataclass(frozen=True)
class LoadedModel:
    """One verified model, ready to act: identity, spec and the Actor in eval mode."""

    model_id: str
    study_name: str
    trial_id: int
    number: int
    value: float | None
    sha256: str
    spec: ModelSpec
    record: TrialRecord
    actor: Actor
    model_dir: str


def _manifest_file(path: Path, manifest: Manifest) -> Path:
    if path.is_dir():
        return path / (ARENA_FILE if manifest.kind == "arena" else ENSEMBLE_FILE)
    return path


def load_deployed_models(
    path: str | Path,
    artifacts: str | None = None,
    expected_study: str | None = None,
) -> list[LoadedModel]:
    """Loads every model a manifest names, verifying identity and checksums first.

    Args:
        path: ensemble_manifest.json, arena_config.json, or a deploy directory.
        artifacts: artifact root URL; when given, weights come from
            `{artifacts}/{source_dir}` instead of the deploy dir's `model_{i}/`.
        expected_study: if given, the manifest must name this study.

    Raises:
        ManifestError: the manifest is missing, incomplete (no study_name/trial_ids) or
            inconsistent.
        IdentityError: a model's files name another study/trial or fail their checksum.
        ArtifactError: weights are missing, corrupt or do not fit their network.
    """
    from cappuccino_runtime.agent.networks import load_actor

    p = Path(path)
    manifest = read_manifest(p)
    if expected_study is not None and manifest.study_name != expected_study:
        raise IdentityError(
            f"Manifest {p} deploys study {manifest.study_name!r}, but {expected_study!r} was "
            "asked for; refusing to load another study's models. Point --manifest at the "
            "right deployment or rebuild it with `cappuccino deploy`."
        )
    manifest_file = _manifest_file(p, manifest)
    model_ids = (
        [m.model_id for m in manifest.models]
        if manifest.kind == "arena"
        else [f"{manifest.study_name}:{tid}" for tid in manifest.trial_ids]
    )
    loaded: list[LoadedModel] = []
    for entry, model_id in zip(manifest.entries(), model_ids, strict=True):
        fs, model_dir = resolve_entry_dir(
            manifest_file, entry.model_path, entry.source_dir, artifacts
        )
        where = fs.unstrip_protocol(model_dir)
        who = f"study {entry.study_name!r} trial_id {entry.trial_id} (#{entry.trial_number})"
        try:
            record = TrialRecord.model_validate_json(
                fs.cat_file(posixpath.join(model_dir, TRIAL_FILE))
            )
        except FileNotFoundError as e:
            raise ArtifactError(
                f"{where}/{TRIAL_FILE} is missing for {who}; rebuild the deployment with "
                "`cappuccino deploy`."
            ) from e
        except ValueError as e:
            raise ArtifactError(f"{where}/{TRIAL_FILE} of {who} is invalid: {e}") from e
        if (record.study_name, record.trial_id, record.number) != (
            entry.study_name,
            entry.trial_id,
            entry.trial_number,
        ):
            raise IdentityError(
                f"{where} holds study {record.study_name!r} trial_id {record.trial_id} "
                f"(#{record.number}) but the manifest names {who}; refusing to load it. "
                "Rebuild the deployment with `cappuccino deploy`."
            )
        if is_deploy_dir_entry(entry.model_path, artifacts):
            meta_path = posixpath.join(model_dir, METADATA_FILE)
            try:
                meta = json.loads(fs.cat_file(meta_path))
            except (FileNotFoundError, ValueError) as e:
                raise ArtifactError(
                    f"{where}/{METADATA_FILE} is missing or invalid for {who}; rebuild the "
                    "deployment with `cappuccino deploy`."
                ) from e
            if (meta.get("study_name"), meta.get("trial_id")) != (
                entry.study_name,
                entry.trial_id,
            ):
                raise IdentityError(
                    f"{where}/{METADATA_FILE} names study {meta.get('study_name')!r} trial_id "
                    f"{meta.get('trial_id')} but the manifest names {who}; refusing to load it."
                )
        if record.checksums.get(ACTOR_FILE) != entry.sha256:
            raise IdentityError(
                f"trial.json in {where} records actor sha256 "
                f"{record.checksums.get(ACTOR_FILE)} but the manifest records {entry.sha256} "
                f"for {who}; refusing to load it."
            )
        actor_path = locate(fs, model_dir, ACTOR_FILE)
        if actor_path is None:
            raise ArtifactError(f"{where}/{ACTOR_FILE} is missing for {who}.")
        actor = load_actor(
            bytes(fs.cat_file(actor_path)),
            record.model,
            entry.sha256,
            what=f"{fs.unstrip_protocol(actor_path)} ({who})",
        )
        loaded.append(
            LoadedModel(
                model_id=model_id,
                study_name=entry.study_name,
                trial_id=entry.trial_id,
                number=entry.trial_number,
                value=entry.value,
                sha256=entry.sha256,
                spec=record.model,
                record=record,
                actor=actor,
                model_dir=where,
            )
        )
    return loaded
