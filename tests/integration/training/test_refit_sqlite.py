"""A study through the CLI path on SQLite: train, `study report`, `models refit`, own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
from cappuccino_contracts.artifacts import ACTOR_FILE, RETURNS_FILE

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.cli.main import main
from cappuccino_runtime.settings import Settings
from cappuccino_runtime.training.oos import decode_returns
from cappuccino_runtime.training.refit import RefitOptions, run_refit
from cappuccino_runtime.training.report import (
    REPORT_ATTR,
    StudyReport,
    compute_report,
    refresh_report,
)
from cappuccino_runtime.training.runner import read_plan
from cappuccino_runtime.training.worker import open_storage
from tests.integration.training.support import local_settings, train_tiny


def _cli(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0


CONTRACT_ATTRS = {
    "source_study",
    "source_trial_id",
    "source_number",
    "refit_seed",
    "holdout_sharpe",
    "holdout_sharpe_hodl",
    "holdout_bars",
    "holdout_start",
    "holdout_end",
    "hyperparameter_score",
    "dsr",
    "psr",
    "artifact_uri",
    "sha256_actor",
    "sha256_critic",
    "model_spec",
    "timeframe",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    tmp = tmp_path_factory.mktemp("refit")
    settings = local_settings(tmp)
    return settings, train_tiny(settings, "s", n_trials=3, seed=1)


def _report_argv(settings: Settings, *extra: str) -> list[str]:
    """`cappuccino study report` of study s in these settings' storage and artifacts."""
    storage = ["--storage", settings.storage, "--artifact-root", settings.artifact_root]
    return ["study", "report", "--study", "s", *storage, *extra]


def test_the_worker_stores_the_report_when_it_ends(trained: tuple[Settings, object]) -> None:
    """`cappuccino train` leaves the study's PBO/DSR over every trial (so a Study shows them
    after any sweep, refit or not): the same numbers `cappuccino study report` computes."""
    settings, _ = trained
    storage = open_storage(settings.storage)
    study = optuna.load_study(study_name="s", storage=storage)
    left = dict(study.user_attrs[REPORT_ATTR])
    assert left["n_trials"] == 3 and left["pbo"] is not None and left["dsr"] is not None
    plan = read_plan(study)
    assert plan is not None
    again, _ = compute_report(study, plan, ArtifactStore(settings.artifact_root))
    assert (again.pbo, again.dsr, again.selected_trial_id) == (
        left["pbo"], left["dsr"], left["selected_trial_id"]
    )  # fmt: skip
    # a worker that ends with fewer configurations counted never replaces a fuller report
    study.set_user_attr(REPORT_ATTR, {**left, "n_trials": 99, "pbo": 0.123})
    assert refresh_report(study, plan, ArtifactStore(settings.artifact_root)) is None
    assert study.user_attrs[REPORT_ATTR]["pbo"] == 0.123
    study.set_user_attr(REPORT_ATTR, left)


def test_study_report_cli_stores_the_contract_json(
    trained: tuple[Settings, object], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = trained
    _cli(_report_argv(settings, "--json", "--blocks", "8"))
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == set(StudyReport.model_fields)
    study = optuna.load_study(study_name="s", storage=open_storage(settings.storage))
    stored = study.user_attrs[REPORT_ATTR]
    assert stored["n_trials"] == 3
    best = max(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value)
    assert stored["selected_trial_id"] == best._trial_id
    for key in ("pbo", "dsr", "psr", "prob_oos_loss"):
        assert stored[key] is not None and 0.0 <= stored[key] <= 1.0, key
    _cli(_report_argv(settings))
    assert "PBO (CSCV" in capsys.readouterr().out


def test_refit_agents_carry_their_own_hold_out_numbers(trained: tuple[Settings, object]) -> None:
    settings, market = trained
    results = run_refit(
        RefitOptions(study="s", top_n=2, seeds=2, device="cpu"),
        settings=settings,
        market=market,  # type: ignore[arg-type]
    )
    assert len(results) == 4 and not any(r.skipped for r in results)
    storage = open_storage(settings.storage)
    source = optuna.load_study(study_name="s", storage=storage)
    plan = read_plan(source)
    assert plan is not None and plan.holdout is not None
    refit = optuna.load_study(study_name="s-refit", storage=storage)
    trials = refit.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4
    top2 = sorted(
        source.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: -t.value
    )[:2]
    assert {t.user_attrs["source_trial_id"] for t in trials} == {t._trial_id for t in top2}
    store = ArtifactStore(settings.artifact_root)
    seeds = set()
    for t in trials:
        a = t.user_attrs
        assert set(a) >= CONTRACT_ATTRS
        assert t.value == a["holdout_sharpe"]
        src = next(s for s in top2 if s._trial_id == a["source_trial_id"])
        assert t.params == src.params
        assert a["hyperparameter_score"] == src.value
        assert a["holdout_start"] == plan.holdout[0].isoformat()
        assert a["holdout_end"] == plan.holdout[1].isoformat()
        assert 0.0 <= a["psr"] <= 1.0 and 0.0 <= a["dsr"] <= a["psr"]
        (diag,) = a["split_diagnostics"]
        assert {"turnover_per_bar", "fees_fraction", "exposure"} <= set(diag)
        seeds.add(a["seed"])
        assert a["artifact_uri"].endswith(f"/s-refit/trial_{t.number}_1h")
        record = store.read_record(a["artifact_uri"])
        assert (record.study_name, record.trial_id) == ("s-refit", t._trial_id)
        store.read_verified(a["artifact_uri"], ACTOR_FILE, record)
        (part,) = decode_returns(store.read_verified(a["artifact_uri"], RETURNS_FILE, record))
        # scored once, on the hold-out only
        assert pd.Timestamp(int(part.timestamp[0]), tz="UTC") > plan.holdout[0]
        assert pd.Timestamp(int(part.timestamp[-1]), tz="UTC") < plan.holdout[1]
        assert part.timestamp.size == a["holdout_bars"] - 1
    assert len(seeds) == 4
    # a re-run finishes the set instead of duplicating it
    again = run_refit(
        RefitOptions(study="s", top_n=2, seeds=2, device="cpu"),
        settings=settings,
        market=market,  # type: ignore[arg-type]
    )
    assert all(r.skipped for r in again)
    assert len(refit.get_trials()) == 4
    assert source.user_attrs[REPORT_ATTR]["n_trials"] == 3


def test_refit_of_a_study_without_a_plan_says_why(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    optuna.create_study(study_name="old", storage=storage)
    settings = Settings.from_env(home=tmp_path, storage=None).model_copy(
        update={"storage": storage, "artifact_root": str(tmp_path / "art")}
    )
    from cappuccino_runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="no evaluation plan"):
        run_refit(RefitOptions(study="old"), settings=settings)


def test_models_top_shows_each_refit_agents_own_numbers(
    trained: tuple[Settings, object], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, market = trained
    run_refit(  # already refit by the test above when run in order; skipped then
        RefitOptions(study="s", top_n=1, seeds=1, device="cpu"),
        settings=settings,
        market=market,  # type: ignore[arg-type]
    )
    capsys.readouterr()
    _cli(
        ["models", "top", "--study", "s-refit", "--n", "2", "--storage", settings.storage, "--json"]
    )
    rows = json.loads(capsys.readouterr().out)
    for row in rows:
        n = row["numbers"]
        assert n["sharpe_kind"] == "holdout" and n["sharpe"] == row["value"]
        assert n["holdout_bars"] == row["user_attrs"]["holdout_bars"]
        assert n["hyperparameter_score"] == row["user_attrs"]["hyperparameter_score"]
    _cli(["models", "top", "--study", "s", "--n", "1", "--storage", settings.storage])
    table = capsys.readouterr().out
    assert "own Sharpe" in table and "hyperparameter score: mean CPCV excess Sharpe" in table
