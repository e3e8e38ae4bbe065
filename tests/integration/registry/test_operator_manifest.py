"""Contract: manifests the operator freezes (cappuccino_operator.selection) validate and load
with the registry's code, in the init-container form `--manifest FILE --artifacts URL`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cappuccino_contracts.manifests import (
    ARENA_FILE,
    ENSEMBLE_FILE,
    ArenaConfig,
    EnsembleManifest,
    read_manifest,
)
from cappuccino_operator import selection

from cappuccino_runtime.deploy import load_deployed_models
from cappuccino_runtime.validation import validate_manifest
from tests.support.registry_fixtures import RegistryWorld


def _selection(world: RegistryWorld, n: int = 2):  # type: ignore[no-untyped-def]
    best = world.complete("alpha")[:n]
    trials = tuple(
        selection.SelectedTrial(
            trial_id=t.trial_id,
            number=t.number,
            value=t.value,
            sha256=t.actor_sha256,
            artifact_uri=(t.trial_dir.as_uri() if t.trial_dir else None),
            timeframe="1h",
        )
        for t in best
    )
    return selection.Selection("alpha", trials)


@pytest.mark.parametrize("kind", ["ensemble", "arena"])
def test_an_operator_frozen_manifest_validates_and_loads(
    kind: str, sqlite_world: RegistryWorld, tmp_path: Path
) -> None:
    sel = _selection(sqlite_world)
    extra: dict[str, object] = {"portfolio_id": "ns/t", "initial_cash": 10_000.0}
    if kind == "ensemble":  # the operator writes `voting` for ensembles only (strict models)
        extra["voting"] = "majority"
        doc = selection.ensemble_manifest(sel, created_at="2026-01-01T00:00:00Z", extra=extra)
        path = tmp_path / ENSEMBLE_FILE
    else:
        doc = selection.arena_config(
            sel, arena_name="t", created_at="2026-01-01T00:00:00Z", extra=extra
        )
        path = tmp_path / ARENA_FILE
    path.write_text(json.dumps(doc))
    manifest = read_manifest(path)
    assert isinstance(manifest, EnsembleManifest if kind == "ensemble" else ArenaConfig)
    root = str(sqlite_world.artifact_root)
    report = validate_manifest(path, artifacts=root)
    assert report.passed, report.summary_line()
    loaded = load_deployed_models(path, artifacts=root, expected_study="alpha")
    assert [m.trial_id for m in loaded] == [t.trial_id for t in sel.trials]
    # Without --artifacts the recorded artifact_uri (model_path) is followed instead.
    assert [m.trial_id for m in load_deployed_models(path)] == [t.trial_id for t in sel.trials]
