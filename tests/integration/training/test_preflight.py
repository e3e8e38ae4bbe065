"""A data set too short for the search fails once, before the first trial, with one clear
message, and leaves the study without trials or a stored plan (fix the range and rerun)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.settings import Settings
from cappuccino_runtime.training.plan import PLAN_ATTR
from cappuccino_runtime.training.runner import TrainOptions, run_training


def test_too_short_data_is_refused_before_any_trial(tmp_path: Path) -> None:
    settings = Settings.from_env(home=tmp_path)
    opts = TrainOptions(
        study="short",
        n_trials=2,
        start="2019-01-01T00:00:00Z",
        end="2019-01-20T00:00:00Z",  # 19 days of hourly bars: less than the features reach
    )
    with pytest.raises(ConfigError, match="cannot hold every trial this search may sample"):
        run_training(opts, settings=settings)
    study = optuna.load_study(study_name="short", storage=settings.storage)
    assert study.trials == []  # no trial ran, so no per-trial traceback was logged
    assert PLAN_ATTR not in study.user_attrs  # a longer range can be planned on the next run
