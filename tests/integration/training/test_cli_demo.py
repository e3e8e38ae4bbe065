"""The CLI surface of training (flags of docs/CONTRACTS.md) and the demo end to end."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
import pytest
from rich.console import Console
from typer.testing import CliRunner

from cappuccino_runtime.cli.main import app
from cappuccino_runtime.demo import run_demo
from cappuccino_runtime.training.worker import open_storage

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

TRAIN_FLAGS = [
    "--study", "--storage", "--artifact-root", "--n-trials", "--study-budget", "--config",
    "--phase", "--data", "--symbols", "--timeframe", "--start", "--end", "--seed", "--device",
]  # fmt: skip


def test_train_and_study_create_accept_the_contract_flags() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    for flag in TRAIN_FLAGS:
        assert flag in out.output, flag
    out = runner.invoke(app, ["study", "create", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "--direction" in out.output
    out = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert "--home" in out.output and "--trials" in out.output


def test_study_create_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    runner = CliRunner()
    for _ in range(2):
        out = runner.invoke(app, ["study", "create", "--study", "s", "--storage", url])
        assert out.exit_code == 0, out.output
    assert optuna.load_study(study_name="s", storage=url).direction.name == "MAXIMIZE"


def test_train_without_a_limit_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cappuccino_runtime.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--study", "s", "--storage", f"sqlite:///{tmp_path / 'o.db'}",
              "--artifact-root", str(tmp_path / "a"), "--device", "cpu",
              "--start", "2019-05-01", "--end", "2019-06-01"])  # fmt: skip
    assert exc.value.code == 2
    assert "--n-trials, --study-budget" in capsys.readouterr().err


def test_demo_runs_a_study_and_prints_the_leaderboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("CAPPUCCINO_STORAGE", "CAPPUCCINO_ARTIFACT_ROOT", "CAPPUCCINO_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    buf = io.StringIO()
    ctx = run_demo(home=tmp_path, trials=1, console=Console(file=buf, width=200))
    text = buf.getvalue()
    assert "Leaderboard" in text and "buy & hold" in text
    (row,) = ctx.leaderboard
    study = optuna.load_study(study_name="demo", storage=open_storage(ctx.settings.storage))
    (trial,) = study.trials
    assert (row["study_name"], row["trial_id"], row["number"]) == ("demo", trial._trial_id, 0)
    # the leaderboard shows the raw mean agent Sharpe; the trial value is the hyperparameter
    # score (mean excess Sharpe over buy-and-hold), a different number
    assert row["sharpe_bot"] == trial.user_attrs["mean_sharpe_bot"]
    excess = trial.user_attrs["sharpe_list_excess"]
    assert len(excess) == 3  # the demo runs 3 CPCV splits per trial
    assert trial.value == pytest.approx(sum(excess) / len(excess))
    assert (tmp_path / "optuna.db").is_file()
    assert (tmp_path / "artifacts" / "demo" / "trial_0_1h" / "trial.json").is_file()
