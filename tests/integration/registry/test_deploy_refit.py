"""A trained, refit study deployed on each backend: refit agents preferred, own numbers, DSR gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cappuccino_contracts.artifacts import LOCAL_FILES, read_metadata
from cappuccino_contracts.manifests import read_manifest

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.deploy.build import LowDsrRefused, deploy
from cappuccino_runtime.registry import connect, top_trials
from cappuccino_runtime.settings import Settings
from cappuccino_runtime.training.refit import RefitOptions, run_refit
from cappuccino_runtime.validation import validate_manifest
from tests.integration.training.support import local_settings, train_tiny
from tests.support.postgres import BACKENDS, backend_url


@pytest.fixture(scope="module", params=BACKENDS)
def refit_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    base = tmp_path_factory.mktemp(f"refit-{request.param}")
    settings = local_settings(base, backend_url(request, base))
    market = train_tiny(settings, "q", n_trials=2, seed=2)
    run_refit(
        RefitOptions(study="q", top_n=1, seeds=2, device="cpu"), settings=settings, market=market
    )
    return settings


def test_deploy_prefers_refit_agents_and_writes_their_own_numbers(
    refit_world: Settings, tmp_path: Path
) -> None:
    engine = connect(refit_world.storage)
    store = ArtifactStore(refit_world.artifact_root)
    refits = top_trials(engine, "q-refit", 2)
    assert len(refits) == 2
    with pytest.raises(LowDsrRefused, match=r"below --min-dsr 2\.0"):
        deploy("ensemble", engine, store, "q", 2, tmp_path / "no", min_dsr=2.0)
    assert not (tmp_path / "no").exists()
    result = deploy(
        "ensemble", engine, store, "q", 2, tmp_path / "ens", min_dsr=2.0, allow_low_dsr=True
    )
    manifest = read_manifest(tmp_path / "ens")
    assert manifest.study_name == "q-refit"
    assert manifest.dsr_gate is not None and manifest.dsr_gate.overridden
    raw = json.loads((tmp_path / "ens" / "ensemble_manifest.json").read_text())
    assert raw["dsr_gate"] == {"threshold": 2.0, "overridden": True}
    for i, (entry, t) in enumerate(zip(manifest.entries(), refits, strict=True)):
        a = t.user_attrs
        assert entry.trial_id == t.trial_id and entry.value == a["holdout_sharpe"]
        n = entry.numbers
        assert n is not None and n.sharpe_kind == "holdout"
        assert n.holdout_sharpe == a["holdout_sharpe"] and n.holdout_bars == a["holdout_bars"]
        assert n.holdout_start is not None and n.holdout_start.isoformat() == a["holdout_start"]
        assert n.dsr == a["dsr"] and n.hyperparameter_score == a["hyperparameter_score"]
        meta = read_metadata(LOCAL_FILES, str(tmp_path / "ens" / f"model_{i}"))
        assert meta.study_name == "q-refit" and meta.sharpe_value == a["holdout_sharpe"]
        assert meta.numbers == n
    assert result.report.passed
    assert validate_manifest(tmp_path / "ens" / "ensemble_manifest.json", None, engine).passed
    arena = deploy(
        "arena", engine, store, "q", 2, tmp_path / "arena", min_dsr=0.0, allow_low_dsr=True
    )
    assert isinstance(arena.manifest.models[0].numbers.holdout_bars, int)  # type: ignore[union-attr]


def test_no_refit_deploys_the_cpcv_trials_with_split0_numbers(
    refit_world: Settings, tmp_path: Path
) -> None:
    engine = connect(refit_world.storage)
    store = ArtifactStore(refit_world.artifact_root)
    result = deploy("ensemble", engine, store, "q", 1, tmp_path / "cpcv", prefer_refit=False)
    (entry,) = result.manifest.entries()
    (best,) = top_trials(engine, "q", 1)
    assert entry.study_name == "q"
    assert entry.numbers is not None and entry.numbers.sharpe_kind == "cpcv_split0"
    assert entry.numbers.sharpe == best.user_attrs["sharpe_list_bot"][0]
    assert entry.numbers.hyperparameter_score == best.value
    assert result.manifest.dsr_gate is None
