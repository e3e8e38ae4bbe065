"""EnvConfig: the market rules and episode shape shared by training, evaluation and the oracle.

One config object describes the execution convention everywhere (vectorized env, evaluation,
buy-and-hold benchmark, NumPy reference), so a backtest and a replay can only differ if their
configs differ.
"""

from __future__ import annotations

import copy
from typing import Any

from cappuccino_contracts.artifacts import ExecutionSpec, RewardName
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnvConfig"]

_RULE = ExecutionSpec.model_fields  # the one place the execution defaults and bounds live


def _rule(name: str, description: str) -> Any:
    """ExecutionSpec's field `name` (its default and bounds), described as the env reads it."""
    info = copy.deepcopy(_RULE[name])
    info.description = description
    return info


class EnvConfig(BaseModel):
    """Rules of the simulated market and of an episode. Frozen; unknown fields are an error.

    The execution and reward fields take their defaults and bounds from ExecutionSpec.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback: int = Field(ge=1, description="Bars of features (and prices) the state shows.")
    fee_rate: float = _rule(
        "fee_rate",
        "Fee per trade as a fraction of notional; buys pay it in the received asset.",
    )
    slippage_bps: float = _rule(
        "slippage_bps",
        "Fill price offset from the bar's open, in basis points, against the trader.",
    )
    initial_cash: float = Field(default=10_000.0, gt=0.0, description="Quote cash at reset.")
    min_order_notional: float = _rule(
        "min_order_notional",
        "Orders whose notional (quote) is below this are skipped, as brokers reject them.",
    )
    episode_length: int = Field(
        default=720, ge=1, description="Decisions per training episode (720 = 30 days of 1h bars)."
    )
    no_trade_band: float = _rule(
        "no_trade_band", "An asset trades only when |target - current weight| exceeds this."
    )
    rebalance_fraction: float = _rule(
        "rebalance_fraction",
        "Fraction of the way to the target an asset that trades moves per bar.",
    )
    reward: RewardName = _rule(
        "reward",
        "Per-step reward: log(V_t+1 / V_t), V_t+1 / V_t - 1, or excess_log_return (the log "
        "return minus that of the episode's equal-weight buy-and-hold book); marked at close.",
    )
    reward_scale: float = _rule("reward_scale", "Multiplies every reward.")
    turnover_penalty: float = _rule(
        "turnover_penalty",
        "Subtracted from the reward per unit of turnover (traded notional / value).",
    )

    @classmethod
    def from_execution(cls, execution: ExecutionSpec, lookback: int, **fields: object) -> EnvConfig:
        """The env that executes (and rewards) exactly as a model's frozen ExecutionSpec says,
        e.g. to backtest a deployed model on the bars a replay trader trades."""
        rule = execution.model_dump(exclude={"min_qty", "reward_normalization"})
        return cls.model_validate({**rule, "lookback": lookback, **fields})

    def execution_spec(self, *, reward_normalization: bool) -> ExecutionSpec:
        """The execution rule and reward of this config, as frozen into a ModelSpec."""
        return ExecutionSpec(
            fee_rate=self.fee_rate,
            slippage_bps=self.slippage_bps,
            min_order_notional=self.min_order_notional,
            no_trade_band=self.no_trade_band,
            rebalance_fraction=self.rebalance_fraction,
            reward=self.reward,
            reward_scale=self.reward_scale,
            turnover_penalty=self.turnover_penalty,
            reward_normalization=reward_normalization,
        )

    @property
    def slippage(self) -> float:
        """Slippage as a fraction: buys fill at open * (1 + slippage), sells at open * (1 - it)."""
        return self.slippage_bps * 1e-4
