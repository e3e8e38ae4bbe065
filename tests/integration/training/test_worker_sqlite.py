"""The worker loop on a real SQLite study with a trivial objective: limits and budget counting."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.training.worker import (
    HeartbeatSettings,
    TrialsFailing,
    create_study,
    load_study,
    open_storage,
    run_worker,
)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path / 'o.db'}", HeartbeatSettings(1, 3))
    return load_study("w", storage, sampler=optuna.samplers.RandomSampler(seed=0))


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number % 2 == 1:
        raise optuna.TrialPruned()
    return x


def test_budget_counts_complete_and_pruned_and_stops_later_workers(tmp_path: Path) -> None:
    study = _study(tmp_path)
    first = run_worker(study, _objective, n_trials=None, study_budget=3)
    assert (first.trials_run, first.study_finished) == (3, 3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    second = run_worker(_study(tmp_path), _objective, n_trials=5, study_budget=3)
    assert second.trials_run == 0 and second.stopped_because == "study budget reached"


def test_worker_limit_and_failing_objective(tmp_path: Path) -> None:
    study = _study(tmp_path)
    assert run_worker(study, _objective, n_trials=2, study_budget=None).trials_run == 2

    def broken(trial: optuna.Trial) -> float:
        raise ConfigError("episode_length 9999 is too long")

    with pytest.raises(ConfigError, match="9999"):
        run_worker(study, broken, n_trials=None, study_budget=10)
    assert study.trials[-1].state == TrialState.FAIL


def test_limits_and_direction_are_checked(tmp_path: Path) -> None:
    study = _study(tmp_path)
    with pytest.raises(ConfigError, match="never stops"):
        run_worker(study, _objective, n_trials=None, study_budget=None)
    with pytest.raises(ConfigError, match="--study-budget must be at least 1"):
        run_worker(study, _objective, n_trials=None, study_budget=0)
    storage = open_storage(f"sqlite:///{tmp_path / 'o.db'}", HeartbeatSettings(1, 3))
    with pytest.raises(ConfigError, match="already exists with direction maximize"):
        create_study("w", storage, "minimize")


def test_heartbeat_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPPUCCINO_HEARTBEAT_INTERVAL", "5")
    monkeypatch.setenv("CAPPUCCINO_HEARTBEAT_GRACE", "4")
    with pytest.raises(ConfigError, match="grace period"):
        HeartbeatSettings.from_env()
    monkeypatch.setenv("CAPPUCCINO_HEARTBEAT_GRACE", "20")
    assert HeartbeatSettings.from_env() == HeartbeatSettings(5, 20, 3)


def test_a_failing_trial_does_not_stop_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10.4: one exception is one FAIL trial (with its reason and sweep), not a dead
    worker; only failures in a row beyond CAPPUCCINO_MAX_CONSECUTIVE_FAILURES stop it."""
    monkeypatch.setenv("CAPPUCCINO_SWEEP_ID", "ns/sweep/uid-1")
    monkeypatch.setenv("CAPPUCCINO_MAX_CONSECUTIVE_FAILURES", "2")
    study = _study(tmp_path)
    calls = {"n": 0}

    def flaky(trial: optuna.Trial) -> float:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA hiccup")
        return 1.0

    summary = run_worker(study, flaky, n_trials=None, study_budget=3)
    assert summary.stopped_because == "study budget reached"
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 3
    failed = next(t for t in study.trials if t.state == TrialState.FAIL)
    assert failed.user_attrs["fail_reason"] == "RuntimeError: CUDA hiccup"
    assert all(t.user_attrs["sweep"] == "ns/sweep/uid-1" for t in study.trials)

    def always(trial: optuna.Trial) -> float:
        raise RuntimeError("broken")

    with pytest.raises(TrialsFailing, match="2 trials in a row failed"):
        run_worker(study, always, n_trials=None, study_budget=10)


def test_a_raised_budget_file_reaches_a_running_worker(tmp_path: Path) -> None:
    """Issue 10.8: the TrainingSweep's budget lives in a ConfigMap file the worker re-reads
    between trials, so a worker started with budget 3 stops at 5 once the file says 5."""
    budget = tmp_path / "study_budget"
    budget.write_text("3\n")

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 1:
            budget.write_text("5")  # what the kubelet does when the operator updates the key
        return trial.suggest_float("x", 0.0, 1.0)

    study = _study(tmp_path)
    summary = run_worker(study, objective, n_trials=None, study_budget=None, budget_file=budget)
    assert (summary.trials_run, summary.study_finished) == (5, 5)
    assert summary.stopped_because == "study budget reached"
    budget.write_text("lots")
    with pytest.raises(ConfigError, match="must hold a whole number >= 1, got 'lots'"):
        run_worker(study, objective, n_trials=None, study_budget=None, budget_file=budget)
    with pytest.raises(ConfigError, match="cannot read it"):
        run_worker(study, objective, n_trials=1, study_budget=None, budget_file=tmp_path / "no")
