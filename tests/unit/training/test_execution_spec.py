"""The execution rule and reward are frozen in the ModelSpec a trial writes; configs route to it."""

from __future__ import annotations

import pytest
from cappuccino_contracts.artifacts import ExecutionSpec, ModelSpec
from pydantic import ValidationError

from cappuccino_runtime.env import EnvConfig
from cappuccino_runtime.training.config import parse_config, resolve_trial

SPEC = dict(
    symbols=["A/USD"], timeframe="1h", lookback=2, feature_set="minimal", obs_dim=9,
    action_dim=1, net_dimension=8,
)  # fmt: skip


def test_an_older_spec_with_only_a_fee_gets_the_default_rule_at_that_fee() -> None:
    spec = ModelSpec.model_validate({**SPEC, "fee_rate": 0.001})
    assert spec.execution == ExecutionSpec(fee_rate=0.001)
    assert spec.price_scale == 1.0
    again = ModelSpec.model_validate_json(spec.model_dump_json())
    assert again == spec


def test_fee_rate_and_the_frozen_rule_must_agree() -> None:
    with pytest.raises(ValidationError, match=r"differs from execution\.fee_rate"):
        ModelSpec(**SPEC, fee_rate=0.001, execution=ExecutionSpec(fee_rate=0.002))


def test_config_routes_the_rule_and_reward_into_the_env_and_the_spec() -> None:
    config = parse_config(
        {
            "env": {
                "no_trade_band": 0.1,
                "rebalance_fraction": 0.5,
                "reward": "excess_log_return",
                "turnover_penalty": 0.002,
                "slippage_bps": 12.0,
            },
            "ppo": {"norm_reward": False},
        }
    )
    setup = resolve_trial({"lookback": 3}, config, timeframe="1h", seed=0, device="cpu")
    assert (setup.env.no_trade_band, setup.env.rebalance_fraction) == (0.1, 0.5)
    spec = setup.env.execution_spec(reward_normalization=setup.ppo.norm_reward)
    assert spec == ExecutionSpec(
        slippage_bps=12.0,
        no_trade_band=0.1,
        rebalance_fraction=0.5,
        reward="excess_log_return",
        turnover_penalty=0.002,
        reward_normalization=False,
    )
    assert EnvConfig.from_execution(spec, 3) == setup.env.model_copy(
        update={"episode_length": EnvConfig.model_fields["episode_length"].default}
    )
    # a section that names nothing takes EnvConfig's defaults (one source)
    plain = resolve_trial({"lookback": 3}, parse_config({}), timeframe="1h", seed=0, device="cpu")
    assert plain.env == EnvConfig(lookback=3)


def test_bad_rule_values_are_clear_errors() -> None:
    from cappuccino_runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="no_trade_band"):
        parse_config({"env": {"no_trade_band": 1.5}})
    with pytest.raises(ConfigError, match="reward"):
        parse_config({"env": {"reward": "sharpe"}})
