"""The one way a trader loads deployed models: identity and checksums verified, or nothing.

`load_deployed_models(path)` reads an ensemble_manifest.json / arena_config.json (or a deploy
dir holding one) and returns one `LoadedModel` per entry, in manifest order. Every model
goes through the one model verifier (validation/verify.py, the same checks and messages as
`cappuccino validate`): trial.json (and metadata.json in a deploy dir) name the manifest's
study, trial_id and number, the weights hash to what the manifest and trial.json record and
stay within the size bound, and the actor loads with `weights_only=True` into the network
trial.json describes. Any mismatch is an `IdentityError`/`ArtifactError`: never a fallback
to another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cappuccino_contracts.artifacts import ModelSpec, TrialRecord
from cappuccino_contracts.manifests import ARENA_FILE, ENSEMBLE_FILE, Manifest, read_manifest

from cappuccino_runtime.errors import IdentityError
from cappuccino_runtime.validation.deployment import expected_identity
from cappuccino_runtime.validation.runner import is_deploy_dir_entry, resolve_entry_dir
from cappuccino_runtime.validation.verify import verify_model

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
        verified = verify_model(
            fs,
            model_dir,
            expected_identity(entry),
            require_metadata=is_deploy_dir_entry(entry.model_path, artifacts),
        )
        record = verified.files.record
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
                actor=verified.weights.actor,
                model_dir=fs.unstrip_protocol(model_dir),
            )
        )
    return loaded
