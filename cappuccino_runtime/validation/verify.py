"""The one model verifier: identity, checksums, size bound and network shapes.

Every path that trusts a model's files goes through here: `cappuccino validate` (checkpoints 2
and 6), `deploy` (it validates the staged directory before swapping it in), the init container
(the same `validate --manifest` command) and the trader's loader (deploy/loader.py). A model
is refused with one line naming the directory and every disagreement, the same line wherever
it is found; the comparisons themselves are cappuccino_contracts.artifacts'
`identity_mismatches` and `checksum_mismatch`.

Order: the directory and its weights exist; trial.json parses and names the expected model;
the weights hash (streamed, after a size check from the listing) to what the manifest,
trial.json and metadata.json record; then the actor's bytes (the same bytes that were hashed)
load with weights_only=True into the network trial.json describes, whose shapes must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec
from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    LEGACY_SUBDIR,
    ArtifactFileError,
    ModelIdentity,
    ModelMetadata,
    ModelSpec,
    TrialRecord,
    checksum_mismatch,
    identity_mismatches,
    read_metadata,
    read_trial_json,
)

from cappuccino_runtime.artifacts import sha256_bytes
from cappuccino_runtime.errors import ArtifactError, IdentityError
from cappuccino_runtime.validation.files import DEFAULT_BOUNDS, SizeBounds, file_sha256, locate
from cappuccino_runtime.validation.report import Checkpoint, CheckResult

if TYPE_CHECKING:
    from cappuccino_runtime.agent.networks import Actor

__all__ = [
    "REDEPLOY",
    "Rejection",
    "VerifiedFiles",
    "VerifiedModel",
    "VerifiedWeights",
    "check_model_files",
    "verify_files",
    "verify_model",
    "verify_weights",
]

REDEPLOY = (
    "rebuild the deployment with `cappuccino deploy arena|ensemble --study S --top-n N --out DIR`."
)
_RESTORE = "restore the original actor.pth or re-run the trial."


@dataclass(frozen=True)
class Rejection:
    """Why a model is refused: one line, what to do, and which checkpoint refused it."""

    checkpoint: Checkpoint
    message: str
    fix: str
    identity: bool = True
    """True: the files are another model's or were changed (IdentityError); False: they are
    missing, corrupt or do not fit (ArtifactError)."""

    def result(self, subject: str) -> CheckResult:
        """The failed report line validation shows."""
        return CheckResult(
            checkpoint=self.checkpoint,
            subject=subject,
            passed=False,
            message=self.message,
            fix=self.fix,
        )

    def error(self) -> ArtifactError:
        """The exception a loader raises: the same message, then the fix."""
        kind = IdentityError if self.identity else ArtifactError
        return kind(f"{self.message} Fix: {self.fix}")


@dataclass(frozen=True)
class VerifiedFiles:
    """A model directory whose trial.json (and metadata.json) name the expected model and
    whose weights hash to what every record says."""

    record: TrialRecord
    metadata: ModelMetadata | None
    actor_sha256: str


@dataclass(frozen=True)
class VerifiedWeights:
    """An actor.pth within the size bound that loads into its network."""

    path: str
    size: int
    actor: Actor


@dataclass(frozen=True)
class VerifiedModel:
    """Both halves: what the loader hands to a trader."""

    files: VerifiedFiles
    weights: VerifiedWeights


def _metadata_problems(
    meta: ModelMetadata, expected: ModelIdentity, actor: str | None, critic: str | None
) -> list[str]:
    found = ModelIdentity(
        study_name=meta.study_name, trial_id=meta.trial_id, number=meta.trial_number
    )
    problems = [
        f"metadata.json names {p}" for p in identity_mismatches(found, expected, "manifest")
    ]
    for name, recorded, sha in (
        (ACTOR_FILE, meta.sha256, actor),
        (CRITIC_FILE, meta.sha256_critic, critic),
    ):
        if (mismatch := checksum_mismatch(name, sha, recorded, "metadata.json")) is not None:
            problems.append(mismatch)
    if not meta.validation_passed:
        problems.append("metadata.json records a failed validation")
    return problems


def _checksum_problems(
    record: TrialRecord, expected: ModelIdentity, actor: str | None, critic: str | None
) -> list[str]:
    clauses = [
        checksum_mismatch(ACTOR_FILE, actor, expected.sha256, "the manifest"),
        checksum_mismatch(ACTOR_FILE, actor, record.checksums.get(ACTOR_FILE), "trial.json"),
        checksum_mismatch(CRITIC_FILE, critic, record.checksums.get(CRITIC_FILE), "trial.json"),
    ]
    return [c for c in clauses if c is not None]


def verify_files(
    fs: fsspec.AbstractFileSystem,
    model_dir: str,
    expected: ModelIdentity,
    require_metadata: bool,
    bounds: SizeBounds = DEFAULT_BOUNDS,
) -> VerifiedFiles | Rejection:
    """Identity and checksums of one model directory (checkpoint 6).

    Args:
        fs: filesystem of the directory.
        model_dir: a deploy dir's `model_{i}` or a trial directory of the artifact store.
        expected: the model asked for; its sha256 is the actor's as the manifest records it.
        require_metadata: whether metadata.json must be present and agree (deploy dirs).
        bounds: weights larger than bounds.max_bytes are refused without being read.
    """
    url = fs.unstrip_protocol(model_dir)

    def refuse(message: str, identity: bool = True) -> Rejection:
        return Rejection(Checkpoint.DEPLOYMENT, message, REDEPLOY, identity)

    if not fs.isdir(model_dir):
        return refuse(f"model directory {url} does not exist.", identity=False)
    missing = [n for n in (ACTOR_FILE, CRITIC_FILE) if locate(fs, model_dir, n) is None]
    if missing:
        return refuse(f"{url} lacks {', '.join(missing)}.", identity=False)
    try:
        record = read_trial_json(fs, model_dir)
    except ArtifactFileError as e:
        return refuse(f"{e.problem} A deployed model must carry its trial.json.", identity=False)
    problems = [
        f"trial.json names {p}"
        for p in identity_mismatches(ModelIdentity.of(record), expected, "manifest")
    ]
    try:
        actor = file_sha256(fs, model_dir, ACTOR_FILE, bounds.max_bytes)
        critic = file_sha256(fs, model_dir, CRITIC_FILE, bounds.max_bytes)
    except ArtifactError as e:
        return refuse(str(e), identity=False)
    problems += _checksum_problems(record, expected, actor, critic)
    meta: ModelMetadata | None = None
    if require_metadata:
        try:
            meta = read_metadata(fs, model_dir)
        except ArtifactFileError as e:
            problems.append(e.problem.rstrip("."))
        else:
            problems += _metadata_problems(meta, expected, actor, critic)
    if problems:
        head = (
            f"{url} holds {ModelIdentity.of(record).describe()}, not the model the manifest names "
            f"({expected.describe()})"
            if (record.study_name, record.trial_id) != (expected.study_name, expected.trial_id)
            else f"{url} is not the model the manifest names ({expected.describe()})"
        )
        return refuse(f"{head}: " + "; ".join(problems) + ".")
    assert actor is not None  # located above
    return VerifiedFiles(record=record, metadata=meta, actor_sha256=actor)


def _read_weights(
    fs: fsspec.AbstractFileSystem, model_dir: str, bounds: SizeBounds
) -> tuple[str, int] | Rejection:
    path = locate(fs, model_dir, ACTOR_FILE)
    if path is None:
        return Rejection(
            Checkpoint.MODEL_FILES,
            f"{ACTOR_FILE} is missing from {fs.unstrip_protocol(model_dir)} (and from its "
            f"{LEGACY_SUBDIR}/ subdirectory).",
            "restore the trial's artifacts or re-run the trial; a model without weights "
            "cannot be deployed.",
            identity=False,
        )
    size = int(fs.size(path))
    if size < bounds.min_bytes or size > bounds.max_bytes:
        return Rejection(
            Checkpoint.MODEL_FILES,
            f"{fs.unstrip_protocol(path)} is {size} bytes, outside the accepted "
            f"{bounds.min_bytes}..{bounds.max_bytes} bytes (empty, truncated or not a weights "
            "file).",
            "restore the original actor.pth or re-run the trial; raise --max-bytes only if the "
            "network really is that large.",
            identity=False,
        )
    return path, size


def _spec_problem(spec: ModelSpec | None, params: dict[str, Any]) -> Rejection | None:
    if spec is None:
        return Rejection(
            Checkpoint.MODEL_FILES,
            "no ModelSpec is recorded (trial.json and the model_spec user attr are both "
            "missing), so the network to load into is unknown.",
            "re-run the trial with the current trainer; old trials cannot be rebuilt safely.",
            identity=False,
        )
    declared = params.get("net_dimension")
    if declared is not None and int(declared) != spec.net_dimension:
        return Rejection(
            Checkpoint.MODEL_FILES,
            f"params say net_dimension={declared} but the ModelSpec says "
            f"{spec.net_dimension}; the recorded network is not the one trained.",
            "regenerate trial.json from the database (--fix) or re-run the trial.",
            identity=False,
        )
    return None


def verify_weights(
    fs: fsspec.AbstractFileSystem,
    model_dir: str,
    spec: ModelSpec | None,
    params: dict[str, Any],
    bounds: SizeBounds = DEFAULT_BOUNDS,
    expected_sha256: str | None = None,
) -> VerifiedWeights | Rejection:
    """Size bound and network shapes of actor.pth (checkpoint 2); the loaded Actor.

    Args:
        spec: the network trial.json (or the model_spec user attr) describes.
        params: the trial's params; a `net_dimension` param must agree with the spec.
        expected_sha256: when given, the bytes loaded must hash to it (they are the bytes
            read here, so a file swapped after verify_files is still caught).
    """
    found = _read_weights(fs, model_dir, bounds)
    if isinstance(found, Rejection):
        return found
    path, size = found
    if (problem := _spec_problem(spec, params)) is not None:
        return problem
    assert spec is not None
    data = bytes(fs.cat_file(path))
    where = fs.unstrip_protocol(path)
    if (
        mismatch := checksum_mismatch(
            ACTOR_FILE, sha256_bytes(data), expected_sha256, "the manifest"
        )
    ) is not None:
        return Rejection(Checkpoint.MODEL_FILES, f"{where}: {mismatch}.", REDEPLOY)
    from cappuccino_runtime.agent.networks import load_actor

    try:
        actor = load_actor(data, spec, None, what=where)
    except ArtifactError as e:
        return Rejection(Checkpoint.MODEL_FILES, str(e), _RESTORE, identity=False)
    return VerifiedWeights(path=path, size=size, actor=actor)


def verify_model(
    fs: fsspec.AbstractFileSystem,
    model_dir: str,
    expected: ModelIdentity,
    require_metadata: bool,
    bounds: SizeBounds = DEFAULT_BOUNDS,
) -> VerifiedModel:
    """verify_files then verify_weights; what a trader loads.

    Raises:
        IdentityError: the files name another model or their bytes changed.
        ArtifactError: files are missing, oversized, corrupt or do not fit their network.
    """
    files = verify_files(fs, model_dir, expected, require_metadata, bounds)
    if isinstance(files, Rejection):
        raise files.error()
    weights = verify_weights(
        fs, model_dir, files.record.model, files.record.params, bounds, expected.sha256
    )
    if isinstance(weights, Rejection):
        raise weights.error()
    return VerifiedModel(files=files, weights=weights)


def check_model_files(
    fs: fsspec.AbstractFileSystem,
    trial_dir: str,
    spec: ModelSpec | None,
    params: dict[str, Any],
    subject: str,
    bounds: SizeBounds = DEFAULT_BOUNDS,
) -> CheckResult:
    """Checkpoint 2 on one trial (or deployed model) directory: verify_weights as a report line.

    Args:
        fs: the filesystem holding the directory.
        trial_dir: path of the trial (or deployed model) directory on `fs`.
        spec: the ModelSpec describing the network; None fails (nothing to load into).
        params: the trial's params; a `net_dimension` param must agree with the spec.
        subject: how the model is named in the report.
        bounds: accepted actor.pth size.
    """
    outcome = verify_weights(fs, trial_dir, spec, params, bounds)
    if isinstance(outcome, Rejection):
        return outcome.result(subject)
    assert spec is not None  # verify_weights refuses a missing spec
    return CheckResult(
        checkpoint=Checkpoint.MODEL_FILES,
        subject=subject,
        passed=True,
        message=(
            f"{ACTOR_FILE} ({outcome.size} bytes) loads with weights_only=True into "
            f"Actor(obs_dim={spec.obs_dim}, action_dim={spec.action_dim}, "
            f"net_dimension={spec.net_dimension})."
        ),
    )
