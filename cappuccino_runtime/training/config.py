"""The training config file (YAML or JSON) and the one place sampled parameters become objects.

A config file only overrides what it names; everything else keeps the defaults below, which
are the original system's sizes. `resolve_trial` turns one trial's parameters plus the config
into the PPOArgs, EnvConfig and data choices the trial actually runs with; it consumes every
parameter through search_space.DESTINATIONS and fails on a leftover.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml
from cappuccino_contracts.artifacts import RewardName
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cappuccino_runtime.agent.ppo import PPOArgs
from cappuccino_runtime.env import EnvConfig
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.training.search_space import DESTINATIONS, SearchSpace, build_space

__all__ = [
    "CPCVSettings",
    "EnvSettings",
    "HoldoutSettings",
    "PPOSettings",
    "Phase1Settings",
    "TrainingConfig",
    "TrialSetup",
    "load_config",
    "resolve_trial",
]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EnvSettings(_Strict):
    """Market rules, execution rule, reward and episode shape that are not searched.

    A field left out (None) takes EnvConfig's default; see EnvConfig and docs/env.md.
    """

    num_envs: int = Field(default=16, ge=1, description="Parallel training episodes.")
    episode_length: int = Field(
        default=EnvConfig.model_fields["episode_length"].default,
        ge=2,
        description="Decisions per training episode.",
    )
    fee_rate: float = Field(default=EnvConfig.model_fields["fee_rate"].default, ge=0.0, lt=0.1)
    slippage_bps: float | None = Field(default=None, ge=0.0)
    initial_cash: float | None = Field(default=None, gt=0.0)
    min_order_notional: float | None = Field(default=None, ge=0.0)
    no_trade_band: float | None = Field(default=None, ge=0.0, lt=1.0)
    rebalance_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    reward: RewardName | None = None
    reward_scale: float | None = Field(default=None, gt=0.0)
    turnover_penalty: float | None = Field(default=None, ge=0.0)

    def env_fields(self) -> dict[str, Any]:
        """The EnvConfig fields this section sets (the others keep EnvConfig's defaults)."""
        return {k: v for k, v in self.model_dump(exclude={"num_envs"}).items() if v is not None}


class PPOSettings(_Strict):
    """PPO knobs that are not searched. A field left out (None) takes PPOArgs' default, the
    one source of PPO defaults (see PPOArgs for meanings)."""

    total_timesteps: int | None = Field(default=None, ge=1, description="Env steps per split.")
    anneal_lr: bool | None = None
    norm_adv: bool | None = None
    norm_reward: bool | None = None
    clip_vloss: bool | None = None
    vf_coef: float | None = Field(default=None, ge=0.0)
    max_grad_norm: float | None = Field(default=None, gt=0.0)
    target_kl: float | None = Field(default=None, gt=0.0)
    init_log_std: float | None = Field(default=None, ge=-5.0, le=2.0)
    eval_interval: int | None = Field(default=None, ge=1)

    def ppo_fields(self) -> dict[str, Any]:
        """The PPOArgs fields this section sets."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class CPCVSettings(_Strict):
    """Combinatorial purged cross-validation: groups, held-out groups and the purge gap."""

    n_groups: int = Field(default=4, ge=2)
    n_test_groups: int = Field(default=2, ge=1)
    embargo_bars: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Training bars dropped after a held-out group; None = the trial's feature support "
            "+ lookback + 1 (plan.feature_embargo). A smaller value is refused."
        ),
    )


class HoldoutSettings(_Strict):
    """The final hold-out: the last bars of the data, never seen by CPCV, Optuna or phase 1."""

    fraction: float = Field(
        default=0.15, ge=0.0, lt=0.9, description="Share of the data's time span; 0 = none."
    )
    embargo_bars: int | None = Field(
        default=None,
        ge=0,
        description="Coarsest-timeframe bars between CPCV and the hold-out; None = lookback + 1.",
    )


class Phase1Settings(_Strict):
    """What phase 1 of two-phase training searches besides lookback."""

    timeframes: list[str] = Field(default_factory=lambda: ["15m", "30m", "1h", "4h", "1d"])
    feature_sets: list[str] | None = Field(
        default=None, description="Feature sets to try; None = every set in FEATURE_SETS."
    )
    fixed: dict[str, Any] = Field(
        default_factory=dict,
        description="PPO parameter values for phase 1; others sit at the centre of their range.",
    )


class TrainingConfig(_Strict):
    """A whole training config file. Every section is optional."""

    search_space: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of search_space.DEFAULT_SPACE (spec, partial spec or fixed value).",
    )
    feature_set: str = Field(default="standard", description="Feature set when it is not searched.")
    env: EnvSettings = Field(default_factory=EnvSettings)
    ppo: PPOSettings = Field(default_factory=PPOSettings)
    cpcv: CPCVSettings = Field(default_factory=CPCVSettings)
    phase1: Phase1Settings = Field(default_factory=Phase1Settings)
    holdout: HoldoutSettings = Field(default_factory=HoldoutSettings)
    objective: Literal["excess_sharpe", "sharpe"] = Field(
        default="excess_sharpe",
        description=(
            "Trial value per CPCV split: annualised Sharpe of the agent's per-bar returns in "
            "excess of buy-and-hold's on the same bars (excess_sharpe), or of its raw returns."
        ),
    )
    sampler: Literal["tpe", "random"] = Field(
        default="tpe", description="Optuna sampler (a Study's spec.algorithm.name)."
    )
    pruner: Literal["median", "none"] = Field(
        default="median", description="Optuna pruner (a Study's spec.earlyStopping.name)."
    )
    n_startup_trials: int = Field(default=10, ge=0, description="Random trials before TPE.")
    pruner_startup_trials: int = Field(
        default=5, ge=0, description="Finished trials before the median pruner may prune."
    )
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "torch intra-op threads when training on CPU; small networks run fastest with 1. "
            "None keeps torch's default."
        ),
    )

    def space(self) -> SearchSpace:
        """The search space this config describes (defaults plus overrides)."""
        return build_space(self.search_space)


def load_config(path: str | Path | None) -> TrainingConfig:
    """Reads a YAML or JSON config file; None gives the defaults."""
    if path is None:
        return TrainingConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the training config {str(p)!r}: {e.strerror}.") from e
    try:
        raw = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"the training config {str(p)!r} is not valid YAML/JSON: {e}") from e
    return parse_config(raw or {}, source=str(p))


def parse_config(raw: Mapping[str, Any], source: str = "config") -> TrainingConfig:
    """Validates a config mapping, including its search-space overrides."""
    try:
        config = TrainingConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"the training config {source!r} is invalid: {e}") from e
    config.space()  # validates the overrides now, not in the middle of a trial
    return config


@dataclass(frozen=True)
class TrialSetup:
    """Everything one trial runs with, built from its parameters and the config."""

    ppo: PPOArgs
    env: EnvConfig
    num_envs: int
    timeframe: str
    feature_set: str


def resolve_trial(
    params: Mapping[str, Any],
    config: TrainingConfig,
    *,
    timeframe: str,
    seed: int,
    device: str,
) -> TrialSetup:
    """Routes every sampled parameter to its destination; a leftover is a programming error.

    `timeframe` and `config.feature_set` are used unless the parameters sample them.
    """
    targets: dict[str, dict[str, Any]] = {"ppo": {}, "env": {}, "data": {}}
    for name, value in params.items():
        if name not in DESTINATIONS:
            raise ConfigError(
                f"sampled parameter {name!r} has no destination; it would be silently dropped."
            )
        where, field_name = DESTINATIONS[name]
        targets[where][field_name] = value

    ppo_fields = {f.name for f in fields(PPOArgs)}
    unknown = set(targets["ppo"]) - ppo_fields
    if unknown:
        raise ConfigError(f"PPOArgs has no field(s) {sorted(unknown)}; fix DESTINATIONS.")
    ppo = PPOArgs(
        seed=seed,
        device=device,
        **config.ppo.ppo_fields(),
        **{k: _cast(PPOArgs, k, v) for k, v in targets["ppo"].items()},
    )
    if "lookback" not in targets["env"]:
        raise ConfigError(
            "the search space has no 'lookback'; fix it to a value in the config, e.g. "
            "search_space: {lookback: 5}."
        )
    env = EnvConfig(lookback=int(targets["env"]["lookback"]), **config.env.env_fields())
    return TrialSetup(
        ppo=ppo,
        env=env,
        num_envs=config.env.num_envs,
        timeframe=str(targets["data"].get("timeframe", timeframe)),
        feature_set=str(targets["data"].get("feature_set", config.feature_set)),
    )


def _cast(cls: type, name: str, value: Any) -> Any:
    """Categorical choices arrive as int/float/str; give PPOArgs the type its field declares."""
    declared = {f.name: f.type for f in fields(cls)}[name]
    if declared in ("int", int):
        return int(value)
    if declared in ("float", float):
        return float(value)
    return value
