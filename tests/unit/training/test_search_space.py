"""Search space: original ranges, config overrides, and every sampled value reaches its object."""

from __future__ import annotations

import dataclasses
from typing import Any

import optuna
import pytest

from cappuccino_runtime.agent.ppo import PPOArgs
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.training.config import (
    TrainingConfig,
    load_config,
    parse_config,
    resolve_trial,
)
from cappuccino_runtime.training.search_space import (
    DEFAULT_SPACE,
    DESTINATIONS,
    CategoricalParam,
    FloatParam,
    IntParam,
    build_space,
    sample_params,
)

# A value inside the default range of every parameter, none equal to a PPOArgs default.
PARAMS: dict[str, Any] = {
    "learning_rate": 2.5e-4,
    "batch_size": 1024,
    "gamma": 0.97,
    "net_dimension": 1088,
    "lookback": 5,
    "clip_range": 0.15,
    "ent_coef": 3e-3,
    "gae_lambda": 0.93,
    "update_epochs": 7,
    "num_steps": 512,
}


def test_default_ranges_are_the_original_systems() -> None:
    assert DEFAULT_SPACE["learning_rate"] == FloatParam(low=1e-5, high=1e-3, log=True)
    assert DEFAULT_SPACE["batch_size"] == CategoricalParam(choices=[1024, 2048, 4096])
    assert DEFAULT_SPACE["gamma"] == FloatParam(low=0.95, high=0.999)
    net = DEFAULT_SPACE["net_dimension"]
    assert isinstance(net, IntParam) and (net.low, net.high) == (1024, 1536)
    assert DEFAULT_SPACE["lookback"] == IntParam(low=4, high=6)
    assert DEFAULT_SPACE["clip_range"] == FloatParam(low=0.1, high=0.3)
    assert {"ent_coef", "gae_lambda", "update_epochs", "num_steps"} <= set(DEFAULT_SPACE)
    assert set(DEFAULT_SPACE) <= set(DESTINATIONS)


def test_every_sampled_parameter_lands_in_the_objects_the_trial_runs_with() -> None:
    config = TrainingConfig()
    params = sample_params(optuna.trial.FixedTrial(PARAMS), config.space())
    assert params == PARAMS
    setup = resolve_trial(params, config, timeframe="1h", seed=11, device="cpu")
    targets = {"ppo": dataclasses.asdict(setup.ppo), "env": setup.env.model_dump()}
    targets["data"] = {"timeframe": setup.timeframe, "feature_set": setup.feature_set}
    for name, value in params.items():
        where, field = DESTINATIONS[name]
        assert targets[where][field] == value, f"{name} did not reach {where}.{field}"
    defaults = dataclasses.asdict(PPOArgs())
    for name in params:
        where, field = DESTINATIONS[name]
        if where == "ppo":
            assert defaults[field] != params[name], "test value must differ from the default"


def test_real_trial_samples_inside_the_ranges() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = build_space()
    for _ in range(20):
        trial = study.ask()
        params = sample_params(trial, space)
        assert 1e-5 <= params["learning_rate"] <= 1e-3
        assert params["batch_size"] in (1024, 2048, 4096)
        assert 0.95 <= params["gamma"] <= 0.999
        assert 1024 <= params["net_dimension"] <= 1536
        assert 4 <= params["lookback"] <= 6
        assert 0.1 <= params["clip_range"] <= 0.3
        study.tell(trial, 0.0)


def test_timeframe_and_feature_set_reach_the_data_pipeline() -> None:
    space = build_space({"timeframe": "4h", "feature_set": "minimal"})
    fixed = {**PARAMS, "timeframe": "4h", "feature_set": "minimal"}
    params = sample_params(optuna.trial.FixedTrial(fixed), space)
    setup = resolve_trial(params, TrainingConfig(), timeframe="1h", seed=0, device="cpu")
    assert (setup.timeframe, setup.feature_set) == ("4h", "minimal")


def test_overrides_partial_type_change_and_fixed_values() -> None:
    space = build_space(
        {
            "learning_rate": {"low": 1e-4},
            "batch_size": {"choices": [64]},
            "net_dimension": {"type": "categorical", "choices": [32, 64]},
            "gamma": 0.9,
        }
    )
    assert space["learning_rate"] == FloatParam(low=1e-4, high=1e-3, log=True)
    assert space["batch_size"] == CategoricalParam(choices=[64])
    assert space["net_dimension"] == CategoricalParam(choices=[32, 64])
    assert space["gamma"] == CategoricalParam(choices=[0.9])


def test_unknown_or_invalid_overrides_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match=r"'learning_rat'.*known parameters"):
        build_space({"learning_rat": 0.1})
    with pytest.raises(ConfigError, match=r"search_space\.gamma is invalid"):
        build_space({"gamma": {"low": 2.0, "high": 1.0}})
    with pytest.raises(ConfigError, match="invalid"):
        parse_config({"ppo": {"total_timestep": 5}})


def test_config_file_yaml_and_json(tmp_path: Any) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("search_space:\n  batch_size: 64\nenv:\n  num_envs: 4\n")
    j = tmp_path / "c.json"
    j.write_text('{"search_space": {"batch_size": 64}, "env": {"num_envs": 4}}')
    for path in (y, j):
        cfg = load_config(path)
        assert cfg.env.num_envs == 4
        assert cfg.space()["batch_size"] == CategoricalParam(choices=[64])
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_leftover_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="silently dropped"):
        resolve_trial(
            {**PARAMS, "eval_time_gap": 3}, TrainingConfig(), timeframe="1h", seed=0, device="cpu"
        )
