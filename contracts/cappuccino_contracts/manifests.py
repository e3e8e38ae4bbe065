"""Deployment manifests: the original JSON shapes, plus the identity every model must carry.

- ensemble_manifest.json (`EnsembleManifest`): flat, index-aligned lists, as the original
  ensemble trader read them, plus `study_name`, `trial_ids` and a sha256 per model.
- arena_config.json (`ArenaConfig`): one entry per arena member.

`cappuccino deploy` (runtime) and the operator's Arena/Ensemble handlers write these files;
the trader, `cappuccino validate --manifest` (the init container) and the dashboard read them
with `read_manifest`. Every model is strict (`extra="forbid"`): a key this module does not
know fails with a one-line error naming the key and the file, never silently dropped.

`source_dirs`/`source_dir` entries are relative to the artifact root
(`{study_name}/trial_{number}_{timeframe}`) so a manifest frozen into a ConfigMap can be
resolved against whatever path the artifact volume is mounted at (`--artifacts`).
A manifest without `study_name` or `trial_ids` is rejected: such files are how the original
system loaded another study's models.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cappuccino_contracts.artifacts import ModelNumbers
from cappuccino_contracts.errors import ConfigError, describe_validation_error
from cappuccino_contracts.risk import RiskSettings

__all__ = [
    "ARENA_FILE",
    "ENSEMBLE_FILE",
    "ArenaConfig",
    "ArenaModel",
    "DeployedModelEntry",
    "DsrGate",
    "EnsembleManifest",
    "Manifest",
    "ManifestError",
    "TraderSettings",
    "ValidationStatus",
    "VotingSettings",
    "manifest_file",
    "read_manifest",
]

ENSEMBLE_FILE = "ensemble_manifest.json"
ARENA_FILE = "arena_config.json"


class ManifestError(ConfigError):
    """A manifest is missing, unreadable, lacks identity fields or contradicts itself."""


def _rebuild_hint(kind: str = "ensemble|arena") -> str:
    return (
        f"Rebuild it from the registry with `cappuccino deploy {kind} --study STUDY "
        "--top-n N --out DIR`."
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _check_relative(paths: list[str]) -> None:
    """Source dirs must stay inside the artifact root they are resolved against."""
    for path in paths:
        parts = path.replace("\\", "/").split("/")
        if not path or path.startswith("/") or ".." in parts or "://" in path:
            raise ValueError(
                f"source dir {path!r} must be relative to the artifact root "
                "(`{study}/trial_{number}_{timeframe}`) and must not contain '..'"
            )


def _check_model_paths(paths: list[str]) -> None:
    """A model path is a dir beside the manifest (no '..') or an absolute path/URL."""
    for path in paths:
        absolute = path.startswith("/") or "://" in path
        if not path or (not absolute and ".." in path.replace("\\", "/").split("/")):
            raise ValueError(
                f"model path {path!r} must be a directory beside the manifest (no '..') or "
                "an absolute path or URL"
            )


class ValidationStatus(BaseModel):
    """Outcome of the checkpoints run on one model at deploy time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    checks: dict[str, bool] = Field(default_factory=dict)
    validated_at: datetime = Field(default_factory=_now)


class VotingSettings(BaseModel):
    """`voting` of an ensemble manifest: the rule (majority | mean) and the vote's HOLD band."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Literal["majority", "mean"] = "majority"
    dead_band: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, v: Any) -> Any:
        return {"rule": v} if isinstance(v, str) else v


class TraderSettings(BaseModel):
    """Trader settings the operator freezes beside the models; all optional (a manifest from
    `cappuccino deploy` carries none and the trader keeps its defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    portfolio_id: str | None = Field(default=None, min_length=1)
    initial_cash: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    symbols: list[str] | None = Field(default=None, min_length=1)
    timeframe: str | None = Field(default=None, min_length=1)
    poll_interval_seconds: float | None = Field(default=None, gt=0)
    broker: Literal["alpaca", "replay"] | None = None
    risk: RiskSettings | None = None


class DsrGate(BaseModel):
    """`dsr_gate` of a manifest: the deflated-Sharpe threshold deploy applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float
    overridden: bool


class DeployedModelEntry(BaseModel):
    """One model of a manifest, in a kind-independent form (what loaders iterate over)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    study_name: str
    trial_id: int
    trial_number: int
    value: float | None
    model_path: str
    source_dir: str
    sha256: str
    numbers: ModelNumbers | None = None


class EnsembleManifest(TraderSettings):
    """ensemble_manifest.json: N models of ONE study voting as one portfolio."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ensemble"] = "ensemble"
    study_name: str = Field(min_length=1)
    model_count: int = Field(ge=1)
    trial_numbers: list[int]
    trial_ids: list[int]
    trial_values: list[float | None]
    sha256: list[str]
    model_paths: list[str]
    source_dirs: list[str]
    created_at: datetime = Field(default_factory=_now)
    created_by: str
    voting: VotingSettings | None = None
    model_numbers: list[ModelNumbers] | None = Field(
        default=None, description="Each model's own numbers, index-aligned with trial_ids."
    )
    dsr_gate: DsrGate | None = None

    @model_validator(mode="after")
    def _aligned(self) -> EnsembleManifest:
        lists: dict[str, list[Any]] = {
            "trial_numbers": self.trial_numbers,
            "trial_ids": self.trial_ids,
            "trial_values": self.trial_values,
            "sha256": self.sha256,
            "model_paths": self.model_paths,
            "source_dirs": self.source_dirs,
        }
        if self.model_numbers is not None:
            lists["model_numbers"] = self.model_numbers
        bad = {k: len(v) for k, v in lists.items() if len(v) != self.model_count}
        if bad:
            raise ValueError(
                f"model_count is {self.model_count} but these lists have other lengths: {bad}"
            )
        if len(set(self.trial_ids)) != len(self.trial_ids):
            raise ValueError(f"trial_ids {self.trial_ids} list the same model twice")
        _check_relative(self.source_dirs)
        _check_model_paths(self.model_paths)
        return self

    def entries(self) -> list[DeployedModelEntry]:
        """The models in manifest order."""
        return [
            DeployedModelEntry(
                index=i,
                study_name=self.study_name,
                trial_id=self.trial_ids[i],
                trial_number=self.trial_numbers[i],
                value=self.trial_values[i],
                model_path=self.model_paths[i],
                source_dir=self.source_dirs[i],
                sha256=self.sha256[i],
                numbers=self.model_numbers[i] if self.model_numbers is not None else None,
            )
            for i in range(self.model_count)
        ]


class ArenaModel(BaseModel):
    """One arena member in arena_config.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str = Field(min_length=1)
    trial_number: int
    trial_id: int
    sharpe_value: float | None
    model_path: str
    source_dir: str
    sha256: str
    validation_status: ValidationStatus
    numbers: ModelNumbers | None = None


class ArenaConfig(TraderSettings):
    """arena_config.json: N models of ONE study, each trading its own book."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["arena"] = "arena"
    arena_name: str = Field(min_length=1)
    study_name: str = Field(min_length=1)
    model_count: int = Field(ge=1)
    models: list[ArenaModel]
    created_at: datetime = Field(default_factory=_now)
    created_by: str = ""
    ranking_window_seconds: float | None = Field(default=None, gt=0)
    promote_top: int | None = Field(default=None, ge=0)
    min_sharpe: float | None = None
    dsr_gate: DsrGate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ArenaConfig:
        if len(self.models) != self.model_count:
            raise ValueError(
                f"model_count is {self.model_count} but {len(self.models)} models are listed"
            )
        if self.promote_top is not None and self.promote_top > self.model_count:
            raise ValueError(
                f"promote_top {self.promote_top} exceeds the {self.model_count} models; "
                "set promoteTop to at most the number of models"
            )
        if self.min_sharpe is not None:
            low = [
                m.model_id
                for m in self.models
                if m.sharpe_value is None or m.sharpe_value < self.min_sharpe
            ]
            if low:
                raise ValueError(
                    f"min_sharpe is {self.min_sharpe} but models {low} have a lower (or no) "
                    "Sharpe; re-freeze the selection or lower minSharpe"
                )
        ids = [m.trial_id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"trial_ids {ids} list the same model twice")
        model_ids = [m.model_id for m in self.models]
        if len(set(model_ids)) != len(model_ids):
            raise ValueError(f"model_ids {model_ids} are not unique")
        _check_relative([m.source_dir for m in self.models])
        _check_model_paths([m.model_path for m in self.models])
        return self

    def entries(self) -> list[DeployedModelEntry]:
        """The members in config order."""
        return [
            DeployedModelEntry(
                index=i,
                study_name=self.study_name,
                trial_id=m.trial_id,
                trial_number=m.trial_number,
                value=m.sharpe_value,
                model_path=m.model_path,
                source_dir=m.source_dir,
                sha256=m.sha256,
                numbers=m.numbers,
            )
            for i, m in enumerate(self.models)
        ]


Manifest = EnsembleManifest | ArenaConfig


def manifest_file(path: str | Path) -> Path:
    """The manifest file itself: `path`, or the one manifest inside a deploy directory."""
    p = Path(path)
    if not p.is_dir():
        return p
    found = [c for c in (p / ENSEMBLE_FILE, p / ARENA_FILE) if c.is_file()]
    if len(found) != 1:
        raise ManifestError(
            f"{p} holds {'both' if found else 'neither'} {ENSEMBLE_FILE} "
            f"{'and' if found else 'nor'} {ARENA_FILE}; pass the manifest file itself. "
            f"{_rebuild_hint()}"
        )
    return found[0]


def _read_json(path: Path, what: str) -> Any:
    """The JSON document at `path`; ManifestError naming `what` and the file otherwise."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ManifestError(f"{what} {path} does not exist. {_rebuild_hint()}") from e
    except (OSError, ValueError) as e:
        raise ManifestError(f"{what} {path} is not readable JSON ({e}). {_rebuild_hint()}") from e


def read_manifest(path: str | Path) -> Manifest:
    """Parses an ensemble manifest or arena config (a file, or a deploy directory holding one).

    Raises:
        ManifestError: the file is missing or lacks study_name/trial_ids (with how to rebuild
            it), or its fields contradict each other.
    """
    p = manifest_file(path)
    raw = _read_json(p, "Manifest")
    if not isinstance(raw, dict):
        raise ManifestError(f"Manifest {p} is not a JSON object. {_rebuild_hint()}")
    is_arena = "arena_name" in raw or "models" in raw or p.name == ARENA_FILE
    kind = "arena" if is_arena else "ensemble"
    missing = [k for k in ("study_name",) if not raw.get(k)]
    if kind == "ensemble" and not raw.get("trial_ids"):
        missing.append("trial_ids")
    if kind == "arena" and any(
        not isinstance(m, dict) or "trial_id" not in m for m in raw.get("models", [])
    ):
        missing.append("models[].trial_id")
    if missing:
        raise ManifestError(
            f"Manifest {p} has no {' or '.join(missing)}: without them it cannot say which "
            "study's models it names (trial numbers repeat across studies), so it is refused. "
            f"{_rebuild_hint(kind)}"
        )
    try:
        if kind == "arena":
            # snake_case only: `risk` is RiskSettings, whose camelCase aliases are the CRD's
            return ArenaConfig.model_validate(raw, by_alias=False, by_name=True)
        return EnsembleManifest.model_validate(raw, by_alias=False, by_name=True)
    except ValidationError as e:
        raise ManifestError(
            f"Manifest {p} is invalid: {describe_validation_error(e)}. {_rebuild_hint(kind)}"
        ) from e
