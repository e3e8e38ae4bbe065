"""The hyperparameter search space, its overrides, and where every sampled value goes.

Defaults are the original system's ranges (learning_rate 1e-5..1e-3 log, batch_size
{1024, 2048, 4096} (the original's 3072 does not divide a power-of-two rollout evenly, see
PPOArgs.minibatch_size), gamma 0.95..0.999, net_dimension 1024..1536, lookback 4..6, clip_range
0.1..0.3) plus the PPO knobs it sampled but never passed on (ent_coef, gae_lambda,
update_epochs, num_steps). Phase 1 of two-phase training adds timeframe and feature_set.

`DESTINATIONS` says which object and field receives each parameter. A search space may only
hold parameters that have a destination, and `apply_params` fails if a sampled value is left
over, so a sampled value can never be silently dropped (the original's bug).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from cappuccino_runtime.errors import ConfigError

__all__ = [
    "DEFAULT_SPACE",
    "DESTINATIONS",
    "PHASE1_PARAMS",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "ParamSpec",
    "SearchSpace",
    "Suggester",
    "build_space",
    "sample_params",
]


class FloatParam(BaseModel):
    """A float in [low, high], optionally on a log scale or a step grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> FloatParam:
        if self.low > self.high or (self.log and self.low <= 0):
            raise ValueError(
                f"float range low={self.low} high={self.high} log={self.log} is invalid: need "
                "low <= high, and low > 0 on a log scale."
            )
        return self


class IntParam(BaseModel):
    """An integer in [low, high] on a step grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntParam:
        if self.low > self.high or self.step < 1:
            raise ValueError(
                f"int range low={self.low} high={self.high} step={self.step} is invalid: need "
                "low <= high and step >= 1."
            )
        return self


class CategoricalParam(BaseModel):
    """One of a fixed list of values; a single choice fixes the parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["categorical"] = "categorical"
    choices: list[int | float | str] = Field(min_length=1)


ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
SearchSpace = dict[str, FloatParam | IntParam | CategoricalParam]
_PARAM = TypeAdapter(ParamSpec)

#: Where each parameter goes: ("ppo", PPOArgs field), ("env", EnvConfig field) or
#: ("data", field of the data/feature pipeline).
DESTINATIONS: dict[str, tuple[Literal["ppo", "env", "data"], str]] = {
    "learning_rate": ("ppo", "learning_rate"),
    "batch_size": ("ppo", "minibatch_size"),
    "gamma": ("ppo", "gamma"),
    "net_dimension": ("ppo", "net_dimension"),
    "clip_range": ("ppo", "clip_coef"),
    "ent_coef": ("ppo", "ent_coef"),
    "gae_lambda": ("ppo", "gae_lambda"),
    "update_epochs": ("ppo", "update_epochs"),
    "num_steps": ("ppo", "num_steps"),
    "lookback": ("env", "lookback"),
    "timeframe": ("data", "timeframe"),
    "feature_set": ("data", "feature_set"),
}

DEFAULT_SPACE: SearchSpace = {
    "learning_rate": FloatParam(low=1e-5, high=1e-3, log=True),
    "batch_size": CategoricalParam(choices=[1024, 2048, 4096]),
    "gamma": FloatParam(low=0.95, high=0.999),
    "net_dimension": IntParam(low=1024, high=1536, step=64),
    "lookback": IntParam(low=4, high=6),
    "clip_range": FloatParam(low=0.1, high=0.3),
    "ent_coef": FloatParam(low=1e-5, high=1e-2, log=True),
    "gae_lambda": FloatParam(low=0.9, high=0.99),
    "update_epochs": IntParam(low=4, high=12),
    "num_steps": CategoricalParam(choices=[256, 512, 1024]),
}

#: What phase 1 searches (timeframe and feature_set choices are added by two_phase.py).
PHASE1_PARAMS = ("timeframe", "lookback", "feature_set")


class Suggester(Protocol):
    """The part of optuna.Trial (or FixedTrial) that sampling uses."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def build_space(
    overrides: Mapping[str, Any] | None = None, base: Mapping[str, Any] | None = None
) -> SearchSpace:
    """The default space (or `base`) with overrides applied.

    An override is a full or partial spec (`{"low": 1e-4}` keeps the rest of the default), a
    spec of another type (`{"type": "categorical", "choices": [...]}`), or a plain value, which
    fixes the parameter. Unknown names are an error naming the known ones.
    """
    space: SearchSpace = dict(base if base is not None else DEFAULT_SPACE)
    for name, override in (overrides or {}).items():
        if name not in DESTINATIONS:
            raise ConfigError(
                f"search_space names {name!r}, which no part of training reads; known "
                f"parameters: {', '.join(sorted(DESTINATIONS))}."
            )
        if isinstance(override, (int, float, str)) and not isinstance(override, bool):
            raw: dict[str, Any] = {"type": "categorical", "choices": [override]}
        elif isinstance(override, Mapping):
            current = space.get(name)
            same_type = current is not None and override.get("type", current.type) == current.type
            raw = {**current.model_dump(), **override} if same_type and current else dict(override)
        else:
            raise ConfigError(
                f"search_space.{name} = {override!r} is neither a value nor a mapping such as "
                "{'low': ..., 'high': ...} or {'type': 'categorical', 'choices': [...]}."
            )
        try:
            space[name] = _PARAM.validate_python(raw)
        except ValidationError as e:
            raise ConfigError(f"search_space.{name} is invalid: {e}") from e
    return space


def sample_params(trial: Suggester, space: SearchSpace) -> dict[str, Any]:
    """Asks the trial for every parameter of the space, in a stable (sorted) order."""
    params: dict[str, Any] = {}
    for name in sorted(space):
        spec = space[name]
        if isinstance(spec, FloatParam):
            params[name] = trial.suggest_float(
                name, spec.low, spec.high, step=spec.step, log=spec.log
            )
        elif isinstance(spec, IntParam):
            params[name] = trial.suggest_int(
                name, spec.low, spec.high, step=spec.step, log=spec.log
            )
        else:
            params[name] = trial.suggest_categorical(name, spec.choices)
    return params
