"""`cappuccino deploy arena|ensemble`: select the top N of one study, validate, copy, freeze.

Layout of DIR:
    ensemble_manifest.json | arena_config.json
    model_{i}/actor.pth, critic.pth, trial.json, metadata.json
When study `S-refit` holds refit agents (`cappuccino models refit`), those are deployed
instead of S's CPCV trials: their numbers are their own hold-out results. Every number written
next to a model (metadata.json, manifest entries) is that model's own (ModelNumbers). With
`min_dsr` set, models whose deflated Sharpe is below it (or unknown) are refused unless
`allow_low_dsr`, and the manifest records the gate and whether it was overridden.
Nothing failing validation is deployed, the copied bytes are checked against trial.json as
they are written, the finished directory is validated again (checkpoints 5 and 6) before it
is swapped in, and an existing DIR is replaced atomically (see `atomic.py`).
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    METADATA_FILE,
    TRIAL_FILE,
    ModelMetadata,
    ModelNumbers,
    checksum_mismatch,
    deployed_model_dir,
    trial_source_dir,
)
from cappuccino_contracts.manifests import (
    ARENA_FILE,
    ENSEMBLE_FILE,
    ArenaConfig,
    ArenaModel,
    DsrGate,
    EnsembleManifest,
    ValidationStatus,
)
from cappuccino_contracts.naming import model_id, refit_study_name
from sqlalchemy import Engine

from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes
from cappuccino_runtime.deploy.atomic import replace_dir, sibling_temp_dir
from cappuccino_runtime.errors import ConfigError, IdentityError, ValidationFailed
from cappuccino_runtime.registry.models import RegistryTrial
from cappuccino_runtime.registry.queries import list_studies, top_trials
from cappuccino_runtime.validation.files import locate
from cappuccino_runtime.validation.report import ValidationReport
from cappuccino_runtime.validation.runner import (
    TrialInspection,
    ValidationOptions,
    validate_manifest,
    validate_trials,
)

__all__ = [
    "DeployKind",
    "DeployRefused",
    "DeployResult",
    "LowDsrRefused",
    "check_dsr",
    "default_creator",
    "deploy",
    "deploy_source",
]

DeployKind = Literal["arena", "ensemble"]


class DeployRefused(ValidationFailed):
    """Validation failed, so nothing was deployed; `report` holds every result."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


class LowDsrRefused(ValidationFailed):
    """A selected model's deflated Sharpe is below the gate (or unknown) and no override."""


def check_dsr(trials: list[RegistryTrial], min_dsr: float, allow_low_dsr: bool) -> DsrGate:
    """The DSR gate (pure): refuses models below `min_dsr` unless `allow_low_dsr`.

    A model whose DSR is unknown counts as below: nothing shows it is more than luck.
    """
    low = [
        (t, t.numbers().dsr)
        for t in trials
        if t.numbers().dsr is None or float(t.numbers().dsr or 0.0) < min_dsr
    ]
    if low and not allow_low_dsr:
        named = ", ".join(
            f"{t.study_name!r} trial_id {t.trial_id} (DSR "
            f"{'unknown' if d is None else format(d, '.3f')})"
            for t, d in low
        )
        hint = (
            "Refit the study (`cappuccino models refit`) so its models carry a DSR, or"
            if any(d is None for _, d in low)
            else "Their out-of-sample edge may be luck of the search. Lower --min-dsr, or"
        )
        raise LowDsrRefused(
            f"Refusing to deploy: {named} below --min-dsr {min_dsr}. {hint} pass "
            "--allow-low-dsr to deploy anyway (recorded in the manifest)."
        )
    return DsrGate(threshold=min_dsr, overridden=bool(low))


def deploy_source(engine: Engine, study_name: str) -> str:
    """The study to deploy from: `S-refit` when it holds COMPLETE refit agents, else S."""
    refit = refit_study_name(study_name)
    if refit in list_studies(engine) and top_trials(engine, refit, 1):
        return refit
    return study_name


@dataclass(frozen=True)
class DeployResult:
    """A finished deployment: where it is and the validation that admitted it."""

    kind: DeployKind
    out_dir: Path
    manifest_path: Path
    manifest: EnsembleManifest | ArenaConfig
    report: ValidationReport


def default_creator() -> str:
    """`user@host`, recorded as created_by/deployed_by."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _read_checked(inspection: TrialInspection, name: str) -> bytes:
    """Reads a file of a validated trial and checks it again against trial.json."""
    assert inspection.record is not None
    path = locate(inspection.fs, inspection.trial_dir, name)
    if path is None:
        raise IdentityError(f"{name} of {inspection.trial_dir} vanished during deployment.")
    data = bytes(inspection.fs.cat_file(path))
    recorded = inspection.record.checksums.get(name)
    if mismatch := checksum_mismatch(name, sha256_bytes(data), recorded, "trial.json"):
        raise IdentityError(
            f"{inspection.fs.unstrip_protocol(path)} of study {inspection.trial.study_name!r} "
            f"trial_id {inspection.trial.trial_id} changed during deployment ({mismatch}); "
            "nothing was deployed. Retry once the artifacts are stable."
        )
    return data


def _source_rel(inspection: TrialInspection) -> str:
    """`{study}/trial_{n}_{tf}`: the trial dir relative to the artifact root."""
    t = inspection.trial
    timeframe = inspection.record.timeframe if inspection.record else (t.timeframe or "")
    return trial_source_dir(t.study_name, t.number, timeframe)


def _write_model(
    target: Path, inspection: TrialInspection, deployed_by: str, now: datetime
) -> tuple[str, ModelMetadata]:
    record = inspection.record
    assert record is not None
    target.mkdir()
    actor = _read_checked(inspection, ACTOR_FILE)
    critic = _read_checked(inspection, CRITIC_FILE)
    (target / ACTOR_FILE).write_bytes(actor)
    (target / CRITIC_FILE).write_bytes(critic)
    (target / TRIAL_FILE).write_text(record.model_dump_json(indent=2))
    numbers = inspection.trial.numbers()
    meta = ModelMetadata(
        trial_number=record.number,
        trial_id=record.trial_id,
        study_name=record.study_name,
        sharpe_value=numbers.sharpe,
        numbers=numbers,
        timeframe=record.timeframe,
        source_dir=inspection.fs.unstrip_protocol(inspection.trial_dir),
        sha256=sha256_bytes(actor),
        sha256_critic=sha256_bytes(critic),
        validation_passed=inspection.passed,
        deployed_at=now,
        deployed_by=deployed_by,
    )
    (target / METADATA_FILE).write_text(meta.model_dump_json(indent=2))
    return sha256_bytes(actor), meta


def _relocate(report: ValidationReport, staging: Path, out_dir: Path) -> ValidationReport:
    """Names the final directory, not the staging one, in the deploy-time results."""
    results = [
        r.model_copy(
            update={
                "subject": r.subject.replace(str(staging), str(out_dir)),
                "message": r.message.replace(str(staging), str(out_dir)),
            }
        )
        for r in report.results
    ]
    return ValidationReport(results=results, created_at=report.created_at)


def _guard_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory; choose another path.")
    holds_deployment = (out_dir / ENSEMBLE_FILE).is_file() or (out_dir / ARENA_FILE).is_file()
    if out_dir.is_dir() and any(out_dir.iterdir()) and not holds_deployment:
        raise ConfigError(
            f"--out {out_dir} is a non-empty directory that holds no deployment "
            f"({ENSEMBLE_FILE} or {ARENA_FILE}); refusing to replace it. Choose an empty "
            "or new directory."
        )


def deploy(
    kind: DeployKind,
    engine: Engine,
    store: ArtifactStore,
    study_name: str,
    top_n: int,
    out_dir: Path,
    *,
    options: ValidationOptions | None = None,
    created_by: str | None = None,
    arena_name: str | None = None,
    prefer_refit: bool = True,
    min_dsr: float | None = None,
    allow_low_dsr: bool = False,
) -> DeployResult:
    """Deploys the top N COMPLETE trials of one study as an arena or an ensemble.

    Args:
        kind: "arena" (arena_config.json) or "ensemble" (ensemble_manifest.json).
        engine: the Optuna storage.
        store: the artifact root the trials were written to.
        study_name: the one study to deploy from.
        top_n: how many models (fewer if the study has fewer COMPLETE trials).
        out_dir: the deployment directory; replaced atomically if it already holds one.
        options: validation thresholds.
        created_by: recorded in the manifest and metadata (default user@host).
        arena_name: arena_config.json's arena_name (default: the directory name).
        prefer_refit: deploy the refit agents of `S-refit` when it has any.
        min_dsr: refuse models whose DSR is below this (None: no gate).
        allow_low_dsr: deploy them anyway; the manifest records the override.

    Raises:
        DeployRefused: a selected model failed validation; `out_dir` is left untouched.
        LowDsrRefused: a selected model is below `min_dsr` and no override was given.
    """
    options = options or ValidationOptions()
    creator = created_by or default_creator()
    out_dir = out_dir.resolve()
    _guard_target(out_dir)
    if prefer_refit:
        study_name = deploy_source(engine, study_name)
    trials = top_trials(engine, study_name, top_n)
    if not trials:
        raise ValidationFailed(
            f"Study {study_name!r} has no COMPLETE trial to deploy; train first "
            f"(`cappuccino train --study {study_name}`)."
        )
    gate = check_dsr(trials, min_dsr, allow_low_dsr) if min_dsr is not None else None
    report, inspections = validate_trials(engine, store, trials, options)
    if not report.passed:
        raise DeployRefused(
            f"Refusing to deploy {kind} from study {study_name!r}: "
            f"{len(report.failures())} check(s) failed, first: {report.summary_line()} "
            f"{out_dir} was left unchanged.",
            report,
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = sibling_temp_dir(out_dir)
    try:
        now = datetime.now(UTC)
        shas: list[str] = []
        metas: list[ModelMetadata] = []
        for i, inspection in enumerate(inspections):
            sha, meta = _write_model(staging / deployed_model_dir(i), inspection, creator, now)
            shas.append(sha)
            metas.append(meta)
        rels = [_source_rel(i) for i in inspections]
        manifest: EnsembleManifest | ArenaConfig
        if kind == "ensemble":
            manifest = EnsembleManifest(
                study_name=study_name,
                model_count=len(inspections),
                trial_numbers=[i.trial.number for i in inspections],
                trial_ids=[i.trial.trial_id for i in inspections],
                # the database value (identity check 5); for refit agents it is their own
                # hold-out Sharpe, and model_numbers keeps each model's own numbers apart
                trial_values=[i.trial.value for i in inspections],
                model_numbers=[m.numbers or ModelNumbers() for m in metas],
                dsr_gate=gate,
                sha256=shas,
                model_paths=[deployed_model_dir(i) for i in range(len(inspections))],
                source_dirs=rels,
                created_at=now,
                created_by=creator,
            )
            manifest_path = staging / ENSEMBLE_FILE
        else:
            manifest = ArenaConfig(
                arena_name=arena_name or out_dir.name,
                study_name=study_name,
                model_count=len(inspections),
                models=[
                    ArenaModel(
                        model_id=model_id(study_name, ins.trial.trial_id),
                        trial_number=ins.trial.number,
                        trial_id=ins.trial.trial_id,
                        sharpe_value=ins.trial.value,
                        numbers=metas[i].numbers,
                        model_path=deployed_model_dir(i),
                        source_dir=rels[i],
                        sha256=shas[i],
                        validation_status=ValidationStatus(
                            passed=ins.passed,
                            checks={r.checkpoint.value: r.passed for r in ins.results},
                            validated_at=now,
                        ),
                    )
                    for i, ins in enumerate(inspections)
                ],
                created_at=now,
                created_by=creator,
                dsr_gate=gate,
            )
            manifest_path = staging / ARENA_FILE
        manifest_path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2))
        final = _relocate(validate_manifest(manifest_path, options=options), staging, out_dir)
        report = ValidationReport(results=report.results + final.results)
        if not final.passed:
            raise DeployRefused(
                f"The staged {kind} failed its own validation ({final.summary_line()}); "
                f"{out_dir} was left unchanged.",
                report,
            )
        replace_dir(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return DeployResult(
        kind=kind,
        out_dir=out_dir,
        manifest_path=out_dir / manifest_path.name,
        manifest=manifest,
        report=report,
    )
