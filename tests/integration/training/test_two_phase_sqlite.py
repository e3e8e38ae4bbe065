"""Two-phase training on SQLite: phase 1 stores its winner, phase 2 runs its own study with it fixed."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.training.config import parse_config
from cappuccino_runtime.training.runner import TrainOptions, run_training
from cappuccino_runtime.training.two_phase import WINNER_ATTR, WINNER_FILE
from cappuccino_runtime.training.worker import open_storage
from tests.integration.training.support import TINY_CONFIG, local_settings, tiny_market

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_phase1_then_phase2(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    config = parse_config(TINY_CONFIG)
    market = tiny_market()
    notes: list[str] = []

    with pytest.raises(ConfigError, match="run `cappuccino train --study tp --phase phase1`"):
        run_training(
            TrainOptions(study="tp", phase="phase2", n_trials=1),
            settings=settings,
            config=config,
            market=market,
        )

    run_training(
        TrainOptions(study="tp", phase="phase1", n_trials=2, seed=1),
        settings=settings,
        config=config,
        market=market,
        notify=notes.append,
    )
    assert any("30m" in n and "aggregated" in n for n in notes)
    storage = open_storage(settings.storage)
    phase1 = optuna.load_study(study_name="tp-phase1", storage=storage)
    best = phase1.best_trial
    winner = phase1.user_attrs[WINNER_ATTR]
    assert winner["trial_id"] == best._trial_id
    assert winner["params"] == {k: best.params[k] for k in ("timeframe", "lookback", "feature_set")}
    on_disk = json.loads((tmp_path / "art" / "tp-phase1" / WINNER_FILE).read_text())
    assert on_disk == winner
    for t in phase1.trials:
        assert t.params["timeframe"] in ("1h", "4h")
        assert t.user_attrs["timeframe"] == t.params["timeframe"]

    run_training(
        TrainOptions(study="tp", phase="phase2", n_trials=1, seed=2),
        settings=settings,
        config=config,
        market=market,
    )
    phase2 = optuna.load_study(study_name="tp", storage=storage)
    (trial,) = phase2.trials
    assert {k: trial.params[k] for k in winner["params"]} == winner["params"]
    assert trial.user_attrs["model_spec"]["timeframe"] == winner["params"]["timeframe"]
    assert trial.user_attrs["model_spec"]["lookback"] == winner["params"]["lookback"]
    assert trial.user_attrs["model_spec"]["feature_set"] == winner["params"]["feature_set"]
