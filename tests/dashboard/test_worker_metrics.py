"""Worker metrics (`cappuccino train --metrics-port P`): trials by state and env-steps/s,
scraped over HTTP while the worker runs and after it stopped."""

from __future__ import annotations

import socket
import threading
import urllib.request
from pathlib import Path

import optuna
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cappuccino_runtime.cli.main import main
from cappuccino_runtime.training.config import parse_config
from cappuccino_runtime.training.metrics import WorkerMetrics, trial_env_steps
from tests.dashboard.world import TINY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_train_cli_serves_worker_metrics_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(TINY))
    port = _free_port()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    during: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []

    # scrape from a study callback: the worker is still running when the second trial ends
    original = WorkerMetrics.on_trial

    def on_trial(self: WorkerMetrics, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        original(self, study, trial)
        during.append(_scrape(port))

    monkeypatch.setattr(WorkerMetrics, "on_trial", on_trial)
    argv = ["train", "--study", "m", "--storage", storage, "--artifact-root",
            str(tmp_path / "art"), "--n-trials", "2", "--config", str(config), "--end",
            "2017-09-01", "--device", "cpu", "--metrics-port", str(port)]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code in (0, None)
    labels = lambda state: (("state", state), ("study", "m"))  # noqa: E731
    assert [d[("cappuccino_worker_trials_total", labels("complete"))] for d in during] == [1, 2]
    assert during[-1][("cappuccino_worker_trials_total", labels("failed"))] == 0
    study = optuna.load_study(study_name="m", storage=storage)
    steps = sum(trial_env_steps(t, parse_config(TINY)) for t in study.trials)
    assert steps > 0
    assert during[-1][("cappuccino_worker_env_steps_total", (("study", "m"),))] == steps
    last = study.trials[-1]
    rate = trial_env_steps(last, parse_config(TINY)) / last.duration.total_seconds()  # type: ignore[union-attr]
    assert during[-1][("cappuccino_worker_env_steps_per_second", (("study", "m"),))] == (
        pytest.approx(rate)
    )


def test_a_failing_objective_counts_a_failed_trial() -> None:
    metrics = WorkerMetrics("s", parse_config(TINY))
    port = _free_port()
    metrics.serve(port, host="127.0.0.1")
    study = optuna.create_study()

    def broken(trial: optuna.Trial) -> float:
        raise RuntimeError("the objective broke")

    with pytest.raises(RuntimeError), metrics.track():
        study.optimize(broken, n_trials=1, callbacks=[metrics.on_trial])
    scraped = _scrape(port)
    assert scraped[("cappuccino_worker_trials_total", (("state", "failed"), ("study", "s")))] == 1
    assert scraped[("cappuccino_worker_trials_total", (("state", "complete"), ("study", "s")))] == 0
    assert threading.active_count() >= 1
