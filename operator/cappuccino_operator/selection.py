"""A frozen model selection and the manifests built from it (the registry's JSON shapes).

The shapes are cappuccino_contracts.manifests (EnsembleManifest, ArenaConfig), so the
trader's `cappuccino validate --manifest` init container reads what the operator froze.
Every model carries study_name, trial_id and the sha256 of its actor weights (the one rule of
identity); `number` is for display only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cappuccino_contracts.artifacts import trial_dir_name
from cappuccino_contracts.naming import model_id

__all__ = [
    "SelectedTrial",
    "Selection",
    "arena_config",
    "dsr_refusals",
    "ensemble_manifest",
    "manifest_hash",
    "model_numbers",
    "selection_document",
    "selection_from_document",
]

CREATED_BY = "cappuccino-operator"


@dataclass(frozen=True)
class SelectedTrial:
    """One COMPLETE trial chosen to trade."""

    trial_id: int
    number: int
    value: float | None
    sha256: str
    artifact_uri: str | None
    timeframe: str
    numbers: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The model's own numbers when known (holdout_sharpe, holdout_bars, dsr, ...)."""

    @property
    def source_dir(self) -> str:
        """`{study_name}/trial_{number}_{timeframe}` without the study (see Selection)."""
        return trial_dir_name(self.number, self.timeframe)


@dataclass(frozen=True)
class Selection:
    """The models of one study, best first."""

    study_name: str
    trials: tuple[SelectedTrial, ...]

    def source_dir(self, t: SelectedTrial) -> str:
        return f"{self.study_name}/{t.source_dir}"

    def model_path(self, t: SelectedTrial) -> str:
        return t.artifact_uri or self.source_dir(t)


def ensemble_manifest(sel: Selection, *, created_at: str, extra: dict[str, Any]) -> dict[str, Any]:
    """ensemble_manifest.json (flat, index-aligned lists), plus the trader settings in `extra`."""
    t = sel.trials
    return {
        "kind": "ensemble",
        "study_name": sel.study_name,
        "model_count": len(t),
        "trial_numbers": [x.number for x in t],
        "trial_ids": [x.trial_id for x in t],
        "trial_values": [x.value for x in t],
        "sha256": [x.sha256 for x in t],
        "model_paths": [sel.model_path(x) for x in t],
        "source_dirs": [sel.source_dir(x) for x in t],
        # Index-aligned: each model's own numbers when known (contract 3).
        "model_numbers": [model_numbers(x) for x in t],
        "created_at": created_at,
        "created_by": CREATED_BY,
        **extra,
    }


def arena_config(
    sel: Selection, *, arena_name: str, created_at: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """arena_config.json: one entry per member, plus the arena settings in `extra`."""
    return {
        "kind": "arena",
        "arena_name": arena_name,
        "study_name": sel.study_name,
        "model_count": len(sel.trials),
        "models": [
            {
                "model_id": model_id(sel.study_name, x.trial_id),
                "trial_number": x.number,
                "trial_id": x.trial_id,
                "sharpe_value": x.value,
                "model_path": sel.model_path(x),
                "source_dir": sel.source_dir(x),
                "sha256": x.sha256,
                **({"numbers": model_numbers(x)} if x.numbers else {}),
                # Not validated yet: the init container runs the checkpoints before trading.
                "validation_status": {"passed": False, "checks": {}, "validated_at": created_at},
            }
            for x in sel.trials
        ],
        "created_at": created_at,
        "created_by": CREATED_BY,
        **extra,
    }


def model_numbers(x: SelectedTrial) -> dict[str, Any]:
    """The registry's ModelNumbers of one model: its own figures; a refit agent's Sharpe is its
    hold-out Sharpe (`sharpe_kind` "holdout")."""
    out = dict(x.numbers)
    if isinstance(out.get("holdout_sharpe"), int | float):
        out |= {"sharpe": out["holdout_sharpe"], "sharpe_kind": "holdout"}
    return out


def selection_document(sel: Selection) -> dict[str, Any]:
    """The selection as JSON, kept with the manifest so later edits of trader settings reuse
    it instead of silently re-selecting (selection_from_document reads it back)."""
    return {
        "study_name": sel.study_name,
        "trials": [
            {
                "trial_id": x.trial_id,
                "number": x.number,
                "value": x.value,
                "sha256": x.sha256,
                "artifact_uri": x.artifact_uri,
                "timeframe": x.timeframe,
                "numbers": dict(x.numbers),
            }
            for x in sel.trials
        ],
    }


def selection_from_document(doc: dict[str, Any]) -> Selection:
    """Inverse of selection_document."""
    return Selection(
        study_name=str(doc["study_name"]),
        trials=tuple(
            SelectedTrial(
                trial_id=int(t["trial_id"]),
                number=int(t["number"]),
                value=t.get("value"),
                sha256=str(t["sha256"]),
                artifact_uri=t.get("artifact_uri"),
                timeframe=str(t["timeframe"]),
                numbers=dict(t.get("numbers") or {}),
            )
            for t in doc["trials"]
        ),
    )


def dsr_refusals(
    sel: Selection, study_dsr: float | None, threshold: float
) -> list[tuple[SelectedTrial, float]]:
    """Models whose deflated Sharpe ratio (their own `dsr`, else the study report's) is below
    `threshold`. A model with no DSR at all is not refused: nothing says it is low."""
    out = []
    for x in sel.trials:
        own = x.numbers.get("dsr")
        dsr = own if isinstance(own, int | float) else study_dsr
        if dsr is not None and dsr < threshold:
            out.append((x, float(dsr)))
    return out


def manifest_hash(manifest: dict[str, Any]) -> str:
    """Content hash of a manifest, ignoring when it was written (so a re-freeze of the same
    selection and settings keeps its ConfigMap name)."""
    stable = json.dumps(_without_times(manifest), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(stable.encode()).hexdigest()


def _without_times(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_times(v) for k, v in node.items() if k not in ("created_at", "validated_at")
        }
    if isinstance(node, list):
        return [_without_times(v) for v in node]
    return node
