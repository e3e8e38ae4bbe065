"""Checkpoint 6 (deployment files): a deployed model dir holds the weights, trial.json and
metadata.json of exactly the model its manifest entry names (verify.verify_files)."""

from __future__ import annotations

import fsspec
from cappuccino_contracts.artifacts import ModelIdentity, TrialRecord
from cappuccino_contracts.manifests import DeployedModelEntry

from cappuccino_runtime.validation.checks import subject_of
from cappuccino_runtime.validation.report import Checkpoint, CheckResult
from cappuccino_runtime.validation.verify import Rejection, verify_files

__all__ = ["check_deployed_model", "expected_identity"]


def expected_identity(entry: DeployedModelEntry) -> ModelIdentity:
    """The model a manifest entry names, with the actor sha256 it records."""
    return ModelIdentity(
        study_name=entry.study_name,
        trial_id=entry.trial_id,
        number=entry.trial_number,
        sha256=entry.sha256,
    )


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
    outcome = verify_files(fs, model_dir, expected_identity(entry), require_metadata)
    if isinstance(outcome, Rejection):
        return outcome.result(subject), None
    ok = CheckResult(
        checkpoint=Checkpoint.DEPLOYMENT,
        subject=subject,
        passed=True,
        message=f"{fs.unstrip_protocol(model_dir)}: weights, trial.json"
        f"{' and metadata.json' if require_metadata else ''} match the manifest.",
    )
    return ok, outcome.record
