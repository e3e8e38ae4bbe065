"""Pure checkpoint decisions: each takes what was read and returns CheckResults, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CHECKSUM_ATTRS,
    WEIGHT_FILES,
    ModelIdentity,
    TrialRecord,
    checksum_mismatch,
    identity_mismatches,
)

from cappuccino_runtime.registry.models import RegistryTrial, TrialRef
from cappuccino_runtime.validation.report import Checkpoint, CheckResult
from cappuccino_runtime.validation.safe_pickle import PickleSummary

__all__ = [
    "check_completion",
    "check_db_identity",
    "check_metadata",
    "check_uniqueness",
    "same_value",
    "subject_of",
]

_VALUE_TOLERANCE = 1e-9


def subject_of(study_name: str, trial_id: int, number: int | None = None) -> str:
    """How a model is named in reports: study and trial_id always, number for display."""
    shown = f" #{number}" if number is not None else ""
    return f"{study_name}:trial_id={trial_id}{shown}"


def same_value(a: float | None, b: float | None) -> bool:
    """Values agree when both are None or equal within a relative 1e-9 (JSON round trips)."""
    if a is None or b is None:
        return a is None and b is None
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=_VALUE_TOLERANCE, abs_tol=_VALUE_TOLERANCE)


def _same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Names of params that differ (missing on one side, or unequal values)."""
    diff = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool):
            if not same_value(float(x), float(y)):
                diff.append(key)
        elif x != y or (key in a) != (key in b):
            diff.append(key)
    return diff


def check_completion(trial: RegistryTrial, min_value: float | None) -> CheckResult:
    """Checkpoint 1: the trial is COMPLETE and its value clears the threshold (if any).

    For a minimize study the threshold is an upper bound.
    """
    subject = subject_of(trial.study_name, trial.trial_id, trial.number)
    if trial.state != "COMPLETE":
        return CheckResult(
            checkpoint=Checkpoint.COMPLETION,
            subject=subject,
            passed=False,
            message=f"trial state is {trial.state}, not COMPLETE.",
            fix="deploy only COMPLETE trials; pick another trial from `cappuccino models top`.",
        )
    if trial.value is None or (isinstance(trial.value, float) and math.isnan(trial.value)):
        return CheckResult(
            checkpoint=Checkpoint.COMPLETION,
            subject=subject,
            passed=False,
            message="trial is COMPLETE but has no value.",
            fix="re-run the trial; its objective did not report a value.",
        )
    if min_value is not None:
        maximize = trial.direction != "MINIMIZE"
        ok = trial.value >= min_value if maximize else trial.value <= min_value
        if not ok:
            rel = "below" if maximize else "above"
            return CheckResult(
                checkpoint=Checkpoint.COMPLETION,
                subject=subject,
                passed=False,
                message=f"value {trial.value:.6g} is {rel} the threshold {min_value:.6g}.",
                fix="choose better trials, or lower the threshold with --min-value.",
            )
    return CheckResult(
        checkpoint=Checkpoint.COMPLETION,
        subject=subject,
        passed=True,
        message=f"COMPLETE, value {trial.value:.6g}.",
    )


def check_uniqueness(ref: TrialRef, same_number: Sequence[TrialRef]) -> CheckResult:
    """Checkpoint 3: (study_name, number) resolves to exactly this one trial_id."""
    subject = subject_of(ref.study_name, ref.trial_id, ref.number)
    ids = sorted(r.trial_id for r in same_number if r.study_name == ref.study_name)
    if ids == [ref.trial_id]:
        return CheckResult(
            checkpoint=Checkpoint.UNIQUENESS,
            subject=subject,
            passed=True,
            message=f"({ref.study_name}, #{ref.number}) is trial_id {ref.trial_id} only.",
        )
    return CheckResult(
        checkpoint=Checkpoint.UNIQUENESS,
        subject=subject,
        passed=False,
        message=(
            f"({ref.study_name}, #{ref.number}) resolves to trial_ids {ids}, not exactly "
            f"[{ref.trial_id}]."
        ),
        fix="the study's database is inconsistent; address the model by --trial-id.",
    )


def check_db_identity(
    expected: TrialRef, db: RegistryTrial | None, value: float | None
) -> CheckResult:
    """Checkpoint 5 (with a database): a manifest entry names a trial of the manifest's study."""
    subject = subject_of(expected.study_name, expected.trial_id, expected.number)
    if db is None:
        return CheckResult(
            checkpoint=Checkpoint.MANIFEST,
            subject=subject,
            passed=False,
            message=f"trial_id {expected.trial_id} does not exist in the database.",
            fix="the manifest names a deleted trial; rebuild it with `cappuccino deploy`.",
        )
    problems = identity_mismatches(ModelIdentity.of(db), ModelIdentity.of(expected), "manifest")
    if not same_value(db.value, value):
        problems.append(f"value {db.value} (manifest: {value})")
    if problems:
        return CheckResult(
            checkpoint=Checkpoint.MANIFEST,
            subject=subject,
            passed=False,
            message=f"the database's trial_id {expected.trial_id} has " + "; ".join(problems) + ".",
            fix=f"rebuild the manifest with `cappuccino deploy ... --study {expected.study_name}`.",
        )
    return CheckResult(
        checkpoint=Checkpoint.MANIFEST,
        subject=subject,
        passed=True,
        message="manifest entry matches the database.",
    )


def _record_mismatches(record: TrialRecord, trial: RegistryTrial) -> list[str]:
    """What trial.json says differently from the database (empty: they agree)."""
    problems = identity_mismatches(ModelIdentity.of(record), ModelIdentity.of(trial), "database")
    if not same_value(record.value, trial.value):
        problems.append(f"value {record.value} (database: {trial.value})")
    if diff := _same_params(record.params, trial.params):
        problems.append(f"params {diff} differ from the database")
    return problems


def _checksum_problem(
    trial: RegistryTrial, record: TrialRecord, file_sha256: Mapping[str, str | None]
) -> tuple[str, str] | None:
    """The first weights file whose sha256 disagrees with trial.json or the database, or has
    none recorded, as (message, fix); None when every file present checks out."""
    for name in WEIGHT_FILES:
        attr = CHECKSUM_ATTRS[name]
        db_sha = trial.user_attrs.get(attr)
        db_sha = str(db_sha) if db_sha is not None else None
        found = file_sha256.get(name)
        listed = record.checksums.get(name)
        if found is None:
            if name == ACTOR_FILE:
                return f"{name} is missing.", "restore the weights or re-run the trial."
            continue
        if mismatch := checksum_mismatch(name, found, listed, "trial.json"):
            return (
                f"{mismatch}: the file was changed or replaced.",
                "restore the original weights (or re-run the trial); never edit weights in place.",
            )
        if mismatch := checksum_mismatch(name, found, db_sha, f"the database ({attr})"):
            return (
                f"{mismatch}.",
                "the artifact directory holds another run's weights; restore the right ones.",
            )
        if listed is None and db_sha is None:
            return (
                f"no checksum is recorded for {name} in trial.json or the database.",
                f"regenerate trial.json with `cappuccino validate --trial-id {trial.trial_id} --fix`.",
            )
    return None


def _pickle_mismatches(summary: PickleSummary, trial: RegistryTrial) -> list[str]:
    """What a best_trial pickle claims differently from the database (empty: they agree)."""
    issues = []
    if summary.trial_id != trial.trial_id:
        issues.append(f"trial_id {summary.trial_id}")
    if summary.number != trial.number:
        issues.append(f"number {summary.number}")
    if not same_value(summary.value, trial.value):
        issues.append(f"value {summary.value}")
    if diff := _same_params(summary.params, trial.params):
        issues.append(f"params {diff}")
    return issues


def check_metadata(
    trial: RegistryTrial,
    record: TrialRecord | None,
    record_error: str | None,
    file_sha256: Mapping[str, str | None],
    pickle_summary: PickleSummary | None,
    pickle_error: str | None,
) -> CheckResult:
    """Checkpoint 4: trial.json (and a best_trial pickle) agree with the DB; checksums match.

    Args:
        trial: the trial as the database has it.
        record: parsed trial.json, or None when missing/invalid (see record_error).
        record_error: why trial.json could not be read, if it could not.
        file_sha256: sha256 of actor.pth / critic.pth as found on disk (None when absent).
        pickle_summary: what a best_trial pickle claims, read without executing it.
        pickle_error: why a present best_trial pickle could not be verified safely.
    """
    subject = subject_of(trial.study_name, trial.trial_id, trial.number)

    def fail(message: str, fix: str) -> CheckResult:
        return CheckResult(
            checkpoint=Checkpoint.METADATA, subject=subject, passed=False, message=message, fix=fix
        )

    if record is None:
        return fail(
            f"trial.json cannot be used: {record_error}",
            "run `cappuccino validate --trial-id "
            f"{trial.trial_id} --fix` to regenerate trial.json from the database (move an "
            "unreadable trial.json aside first; --fix never overwrites a file).",
        )
    if problems := _record_mismatches(record, trial):
        return fail(
            "trial.json disagrees with the database: " + "; ".join(problems) + ".",
            "the directory holds another trial's files or stale metadata; re-run training for "
            "this trial or restore its artifacts, then validate again.",
        )
    if problem := _checksum_problem(trial, record, file_sha256):
        return fail(*problem)
    if pickle_error is not None:
        return fail(
            f"best_trial pickle cannot be verified safely ({pickle_error}); it was not loaded.",
            "delete the best_trial file (it is never required) or regenerate it with --fix "
            "--fix-pickle.",
        )
    if pickle_summary is not None and (issues := _pickle_mismatches(pickle_summary, trial)):
        return fail(
            "best_trial pickle disagrees with the database: " + ", ".join(issues) + ".",
            "delete it (never required) or regenerate it with --fix --fix-pickle.",
        )
    agree = "trial.json and best_trial agree" if pickle_summary is not None else "trial.json agrees"
    return CheckResult(
        checkpoint=Checkpoint.METADATA,
        subject=subject,
        passed=True,
        message=f"{agree} with the database; checksums match the files.",
    )
