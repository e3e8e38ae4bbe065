"""Manifest settings -> TraderConfig: mapping, CLI precedence and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cappuccino_contracts.manifests import ManifestError, read_manifest
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.trading.ensemble import EnsembleRule
from cappuccino_runtime.trading.runner import RunOptions, trader_config

BASE: dict[str, Any] = {
    "kind": "ensemble",
    "study_name": "s",
    "model_count": 1,
    "trial_numbers": [0],
    "trial_ids": [1],
    "trial_values": [1.0],
    "sha256": ["a" * 64],
    "model_paths": ["model_0"],
    "source_dirs": ["s/trial_0_1h"],
    "created_by": "t",
}


def _write(tmp_path: Path, **extra: Any) -> Path:
    p = tmp_path / "ensemble_manifest.json"
    p.write_text(json.dumps(BASE | extra))
    return p


def _opts(p: Path, **kw: Any) -> RunOptions:
    return RunOptions(kind="ensemble", manifest=p, broker="replay", **kw)


def test_no_settings_keep_the_defaults(tmp_path: Path) -> None:
    p = _write(tmp_path)
    cfg = trader_config(_opts(p), read_manifest(p))
    assert (cfg.initial_cash, cfg.poll_seconds, cfg.rule) == (10_000.0, 60.0, EnsembleRule.MAJORITY)
    assert cfg.risk == RiskSettings() and cfg.vote_dead_band == 0.01


def test_voting_object_with_dead_band_and_poll_precedence(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        voting={"rule": "majority", "dead_band": 0.05},
        poll_interval_seconds=120,
        risk={"max_loss_per_hour": 0.02, "max_trades_per_hour": 4},
    )
    m = read_manifest(p)
    cfg = trader_config(_opts(p), m)
    assert (cfg.rule, cfg.vote_dead_band, cfg.poll_seconds) == (EnsembleRule.MAJORITY, 0.05, 120.0)
    assert (cfg.risk.max_loss_per_hour, cfg.risk.max_trades_per_hour) == (0.02, 4)
    assert trader_config(_opts(p, poll_interval=3.0), m).poll_seconds == 3.0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"voting": "median"}, "voting.rule"),
        ({"risk": {"maxDrawdown": 0.1}}, "risk.maxDrawdown"),
        ({"risk": {"max_drawdown": 1.5}}, "risk.max_drawdown"),
        ({"initial_cash": 0}, "initial_cash"),
        ({"poll_interval_seconds": -1}, "poll_interval_seconds"),
    ],
)
def test_invalid_settings_fail_with_one_line_naming_the_field(
    tmp_path: Path, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ManifestError) as e:
        read_manifest(_write(tmp_path, **extra))
    assert field in str(e.value) and "\n" not in str(e.value)


def test_promote_top_above_the_model_count_is_refused(tmp_path: Path) -> None:
    arena = {
        "kind": "arena",
        "arena_name": "a",
        "study_name": "s",
        "model_count": 1,
        "promote_top": 2,
        "models": [
            {
                "model_id": "s:1",
                "trial_number": 0,
                "trial_id": 1,
                "sharpe_value": 1.0,
                "model_path": "model_0",
                "source_dir": "s/trial_0_1h",
                "sha256": "a" * 64,
                "validation_status": {"passed": True},
            }
        ],
    }
    p = tmp_path / "arena_config.json"
    p.write_text(json.dumps(arena))
    with pytest.raises(ManifestError, match="promote_top 2 exceeds"):
        read_manifest(p)
