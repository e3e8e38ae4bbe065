"""Model artifacts as every package sees them: layout, trial user attrs, trial.json, metadata.json.

Layout (an artifact root is a local path, a PVC mount or an s3:// URL):

    {root}/{study_name}/trial_{number}_{timeframe}/   one trial (trial_dir_name)
        actor.pth, critic.pth      plain state dicts (WEIGHT_FILES)
        oos_returns.npz            per-bar out-of-sample returns (RETURNS_FILE)
        trial.json                 TrialRecord, written last (TRIAL_FILE)
        best_trial                 optional Optuna pickle, never unpickled (PICKLE_FILE)
        stored_agent/              the original system's weights subdir (LEGACY_SUBDIR)
    {deploy dir}/model_{i}/        one deployed model (deployed_model_dir): the weights,
        trial.json and metadata.json (ModelMetadata, METADATA_FILE)

trial.json and metadata.json are read by `read_trial_json` and `read_metadata` only. Both
models are strict: an unknown key fails with one line naming the key and the file.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cappuccino_contracts.errors import describe_validation_error

__all__ = [
    "ACTOR_FILE",
    "ATTR_ARTIFACT_URI",
    "ATTR_CODE_VERSION",
    "ATTR_MODEL_SPEC",
    "ATTR_RETURNS_SHA256",
    "ATTR_SHA256_ACTOR",
    "ATTR_SHA256_CRITIC",
    "ATTR_TIMEFRAME",
    "CHECKSUM_ATTRS",
    "CRITIC_FILE",
    "LEGACY_SUBDIR",
    "LOCAL_FILES",
    "METADATA_FILE",
    "PICKLE_FILE",
    "RETURNS_FILE",
    "TRIAL_FILE",
    "TRIAL_USER_ATTRS",
    "WEIGHT_FILES",
    "ArtifactFileError",
    "ExecutionSpec",
    "FileSource",
    "LocalFiles",
    "ModelIdentity",
    "ModelMetadata",
    "ModelNumbers",
    "ModelSpec",
    "NormalizerStats",
    "RewardName",
    "TrialRecord",
    "checksum_mismatch",
    "deployed_model_dir",
    "identity_mismatches",
    "parse_metadata",
    "parse_trial_json",
    "read_metadata",
    "read_trial_json",
    "trial_dir_name",
    "trial_source_dir",
]

ACTOR_FILE: Final = "actor.pth"
CRITIC_FILE: Final = "critic.pth"
WEIGHT_FILES: Final = (ACTOR_FILE, CRITIC_FILE)
RETURNS_FILE: Final = "oos_returns.npz"
TRIAL_FILE: Final = "trial.json"
METADATA_FILE: Final = "metadata.json"
PICKLE_FILE: Final = "best_trial"
LEGACY_SUBDIR: Final = "stored_agent"

# Optuna user attrs of a trial that name its artifacts (docs/CONTRACTS.md lists the rest).
ATTR_TIMEFRAME: Final = "timeframe"
ATTR_ARTIFACT_URI: Final = "artifact_uri"
ATTR_SHA256_ACTOR: Final = "sha256_actor"
ATTR_SHA256_CRITIC: Final = "sha256_critic"
ATTR_RETURNS_SHA256: Final = "oos_returns_sha256"
ATTR_MODEL_SPEC: Final = "model_spec"
ATTR_CODE_VERSION: Final = "code_version"

#: The user attr recording each artifact file's sha256.
CHECKSUM_ATTRS: Final = {
    ACTOR_FILE: ATTR_SHA256_ACTOR,
    CRITIC_FILE: ATTR_SHA256_CRITIC,
    RETURNS_FILE: ATTR_RETURNS_SHA256,
}

#: The user attrs every COMPLETE training trial carries.
TRIAL_USER_ATTRS: Final = (
    "mean_sharpe_bot",
    "mean_sharpe_hodl",
    "sharpe_list_bot",
    "sharpe_list_hodl",
    "std_sharpe_bot",
    ATTR_TIMEFRAME,
    ATTR_ARTIFACT_URI,
    ATTR_SHA256_ACTOR,
    ATTR_SHA256_CRITIC,
    "data_hash",
    ATTR_CODE_VERSION,
    "seed",
    ATTR_MODEL_SPEC,
    "objective",
    "value_label",
    "sharpe_list_excess",
    "split_seeds",
    "plan_digest",
    ATTR_RETURNS_SHA256,
    "split_diagnostics",
)


def trial_dir_name(number: int, timeframe: str) -> str:
    """`trial_{number}_{timeframe}`: one trial's directory under its study."""
    return f"trial_{number}_{timeframe}"


def trial_source_dir(study_name: str, number: int, timeframe: str) -> str:
    """`{study_name}/trial_{number}_{timeframe}`: a trial's directory relative to the root."""
    return posixpath.join(study_name, trial_dir_name(number, timeframe))


def deployed_model_dir(index: int) -> str:
    """`model_{index}`: one model's directory inside a deploy dir."""
    return f"model_{index}"


RewardName = Literal["log_return", "simple_return", "excess_log_return"]
"""Per-step rewards the env can pay (docs/env.md, "Rewards")."""


class ExecutionSpec(BaseModel):
    """The execution rule and reward a model was trained and scored with, frozen with it.

    The env, CPCV scoring, the replay broker and the live trader all execute with these values
    (cappuccino_runtime.env.execution.rebalance); the trader never substitutes its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fee_rate: float = Field(default=0.0025, ge=0.0, lt=0.1)
    slippage_bps: float = Field(default=5.0, ge=0.0, lt=1000.0)
    min_order_notional: float = Field(default=1.0, ge=0.0)
    no_trade_band: float = Field(
        default=0.05,
        ge=0.0,
        lt=1.0,
        description="an asset trades only when |target - current weight| exceeds this",
    )
    rebalance_fraction: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="fraction of the distance to the target an asset that trades moves",
    )
    min_qty: dict[str, float] = Field(
        default_factory=dict,
        description="per-symbol minimum order size in units, where known (0 / absent: none)",
    )
    reward: RewardName = "log_return"
    reward_scale: float = Field(default=1.0, gt=0.0)
    turnover_penalty: float = Field(
        default=0.0, ge=0.0, description="reward -= this * traded notional / book value"
    )
    reward_normalization: bool = Field(
        default=True, description="training divided rewards by a running std of the returns"
    )

    @property
    def slippage(self) -> float:
        """Slippage as a fraction (slippage_bps * 1e-4)."""
        return self.slippage_bps * 1e-4


class NormalizerStats(BaseModel):
    """Per-feature mean and std fitted on the training segment only (flattened feature order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _same_length(self) -> NormalizerStats:
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"normalizer mean has {len(self.mean)} entries but std has {len(self.std)}; "
                "they must describe the same features."
            )
        return self


class ModelSpec(BaseModel):
    """Everything needed to rebuild the networks and the state builder for one trained model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: list[str] = Field(min_length=1)
    timeframe: str
    lookback: int = Field(ge=1)
    feature_set: str
    obs_dim: int = Field(ge=1)
    action_dim: int = Field(ge=1)
    net_dimension: int = Field(ge=1)
    normalizer: NormalizerStats | None = None
    initial_cash: float = 10_000.0
    fee_rate: float = 0.0025
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec,
        description="the frozen execution rule and reward the model was trained and scored with",
    )
    price_scale: float = Field(
        default=1.0,
        gt=0.0,
        description="train-fitted std of one-bar log returns; the state's price ratios are "
        "divided by price_scale * sqrt(lag)",
    )

    @model_validator(mode="before")
    @classmethod
    def _execution_from_fee(cls, data: Any) -> Any:
        # A spec that names only fee_rate (older trial.json) gets the default rule at that fee.
        if isinstance(data, dict) and "execution" not in data and "fee_rate" in data:
            return {**data, "execution": {"fee_rate": data["fee_rate"]}}
        return data

    @model_validator(mode="after")
    def _one_fee(self) -> ModelSpec:
        if self.execution.fee_rate != self.fee_rate:
            raise ValueError(
                f"ModelSpec.fee_rate {self.fee_rate} differs from execution.fee_rate "
                f"{self.execution.fee_rate}; write the same fee in both."
            )
        return self


class TrialRecord(BaseModel):
    """trial.json: the identity of a model and what the database said when it was written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_name: str = Field(min_length=1)
    trial_id: int = Field(ge=0)
    number: int = Field(ge=0)
    value: float | None
    state: str = "COMPLETE"
    params: dict[str, Any] = Field(default_factory=dict)
    user_attrs: dict[str, Any] = Field(default_factory=dict)
    timeframe: str
    checksums: dict[str, str] = Field(
        description="sha256 hex digest per file name (actor.pth, critic.pth, oos_returns.npz)."
    )
    model: ModelSpec
    code_version: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ModelNumbers(BaseModel):
    """The numbers attached to one deployed model, each that model's own.

    `sharpe` is the agent's own out-of-sample Sharpe (annualised): its hold-out Sharpe for a
    refit agent (`sharpe_kind` "holdout", with bar count and period), or for a CPCV trial
    deployed as is, the Sharpe of its saved split-0 agent on that split's held-out groups
    ("cpcv_split0"). `hyperparameter_score` is the search's mean CPCV score of the
    hyperparameters, which no single agent earned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sharpe: float | None = None
    sharpe_kind: Literal["holdout", "cpcv_split0"] | None = None
    holdout_sharpe: float | None = None
    holdout_bars: int | None = None
    holdout_start: datetime | None = None
    holdout_end: datetime | None = None
    dsr: float | None = None
    psr: float | None = None
    hyperparameter_score: float | None = None


class ModelMetadata(BaseModel):
    """metadata.json beside each deployed model's weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trial_number: int
    trial_id: int
    study_name: str = Field(min_length=1)
    sharpe_value: float | None
    timeframe: str
    source_dir: str
    sha256: str
    sha256_critic: str | None = None
    validation_passed: bool
    deployed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    deployed_by: str
    numbers: ModelNumbers | None = None
    """this model's own numbers (sharpe_value is numbers.sharpe)"""


class _Named(Protocol):
    @property
    def study_name(self) -> str: ...
    @property
    def trial_id(self) -> int: ...
    @property
    def number(self) -> int: ...


class ModelIdentity(BaseModel):
    """Who a model is: (study_name, trial_id), the number for display, its actor's sha256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_name: str
    trial_id: int
    number: int | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, model: _Named) -> ModelIdentity:
        """The identity of anything that names a trial (a TrialRecord, a registry trial...)."""
        return cls(study_name=model.study_name, trial_id=model.trial_id, number=model.number)

    def describe(self) -> str:
        """`study 'S' trial_id 7 #3`: how messages name a model."""
        shown = f" #{self.number}" if self.number is not None else ""
        return f"study {self.study_name!r} trial_id {self.trial_id}{shown}"


def identity_mismatches(found: ModelIdentity, expected: ModelIdentity, against: str) -> list[str]:
    """The identity rule (DESIGN.md): where `found` names another model than `expected`.

    Each clause reads `<key> <found> (<against>: <expected>)`; a number or sha256 that one
    side does not know is not compared. Empty: the same model.
    """
    pairs: list[tuple[str, object, object]] = [
        ("study_name", found.study_name, expected.study_name),
        ("trial_id", found.trial_id, expected.trial_id),
        ("number", found.number, expected.number),
    ]
    out = [
        f"{key} {a!r} ({against}: {b!r})" if isinstance(a, str) else f"{key} {a} ({against}: {b})"
        for key, a, b in pairs
        if a is not None and b is not None and a != b
    ]
    mismatch = checksum_mismatch("the actor", found.sha256, expected.sha256, against)
    return [*out, mismatch] if mismatch else out


def checksum_mismatch(
    name: str, found: str | None, recorded: str | None, recorded_by: str
) -> str | None:
    """`<name> hashes to <found> but <recorded_by> records <recorded>` when both are known and
    differ (shortened to 12 hex digits, enough to tell them apart); else None."""
    if found is None or recorded is None or found == recorded:
        return None
    return f"{name} hashes to {found[:12]}… but {recorded_by} records {recorded[:12]}…"


class ArtifactFileError(ValueError):
    """trial.json or metadata.json is missing, not JSON, or breaks its model (one line).

    `problem` says what is wrong with which file, `hint` how to fix it; str() is both.
    """

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem} {hint}")
        self.problem = problem
        self.hint = hint


class FileSource(Protocol):
    """What the readers need of a filesystem (an fsspec AbstractFileSystem is one)."""

    def cat_file(self, path: str) -> bytes:
        """The whole file's bytes; FileNotFoundError when absent."""
        ...

    def unstrip_protocol(self, name: str) -> str:
        """The path as a URL, for messages."""
        ...


class LocalFiles:
    """A FileSource over local paths with the stdlib alone (for callers without fsspec)."""

    def cat_file(self, path: str) -> bytes:
        """The whole file's bytes."""
        with open(path, "rb") as fh:
            return fh.read()

    def unstrip_protocol(self, name: str) -> str:
        """Local paths are shown as they are."""
        return name


LOCAL_FILES: Final = LocalFiles()


_TRIAL_HINT = (
    "Re-run the trial, or move the file aside and regenerate it from the database with "
    "`cappuccino validate --trial-id ID --fix`."
)
_METADATA_HINT = "Rebuild the deployment with `cappuccino deploy arena|ensemble`."


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], data: bytes, where: str, hint: str) -> _M:
    try:
        return model.model_validate_json(data)
    except ValidationError as e:
        raise ArtifactFileError(
            f"{where} is not a valid {posixpath.basename(where)}: {describe_validation_error(e)}.",
            hint,
        ) from e


def parse_trial_json(data: bytes, where: str = TRIAL_FILE) -> TrialRecord:
    """Parses trial.json bytes (`where` names the file in the error).

    Raises:
        ArtifactFileError: not JSON, a missing or unknown key, or a bad value (one line).
    """
    return _parse(TrialRecord, data, where, _TRIAL_HINT)


def parse_metadata(data: bytes, where: str = METADATA_FILE) -> ModelMetadata:
    """Parses metadata.json bytes (`where` names the file in the error).

    Raises:
        ArtifactFileError: not JSON, a missing or unknown key, or a bad value (one line).
    """
    return _parse(ModelMetadata, data, where, _METADATA_HINT)


def _cat(fs: FileSource, model_dir: str, name: str, hint: str) -> tuple[bytes, str]:
    path = posixpath.join(model_dir, name)
    where = fs.unstrip_protocol(path)
    try:
        return bytes(fs.cat_file(path)), where
    except FileNotFoundError as e:
        raise ArtifactFileError(f"{where} is missing.", hint) from e
    except OSError as e:
        raise ArtifactFileError(f"{where} cannot be read ({type(e).__name__}).", hint) from e


def read_trial_json(fs: FileSource, model_dir: str) -> TrialRecord:
    """The trial.json of a trial directory (or a deployed `model_{i}`) on `fs`.

    Raises:
        ArtifactFileError: the file is missing, unreadable or invalid (one line naming it).
    """
    data, where = _cat(fs, model_dir, TRIAL_FILE, _TRIAL_HINT)
    return parse_trial_json(data, where)


def read_metadata(fs: FileSource, model_dir: str) -> ModelMetadata:
    """The metadata.json of a deployed `model_{i}` directory on `fs`.

    Raises:
        ArtifactFileError: the file is missing, unreadable or invalid (one line naming it).
    """
    data, where = _cat(fs, model_dir, METADATA_FILE, _METADATA_HINT)
    return parse_metadata(data, where)
