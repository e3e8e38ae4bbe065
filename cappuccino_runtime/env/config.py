"""EnvConfig: the market rules and episode shape shared by training, evaluation and the oracle.

One config object describes the execution convention everywhere (vectorized env, evaluation,
buy-and-hold benchmark, NumPy reference), so a backtest and a replay can only differ if their
configs differ.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnvConfig"]


class EnvConfig(BaseModel):
    """Rules of the simulated market and of an episode. Frozen; unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback: int = Field(ge=1, description="Bars of features (and prices) the state shows.")
    fee_rate: float = Field(
        default=0.0025,
        ge=0.0,
        lt=0.1,
        description="Fee per trade as a fraction of notional; buys pay it in the received asset.",
    )
    slippage_bps: float = Field(
        default=5.0,
        ge=0.0,
        lt=1000.0,
        description="Fill price offset from the bar's open, in basis points, against the trader.",
    )
    initial_cash: float = Field(default=10_000.0, gt=0.0, description="Quote cash at reset.")
    min_order_notional: float = Field(
        default=1.0,
        ge=0.0,
        description="Orders whose notional (quote) is below this are skipped, as brokers reject them.",
    )
    episode_length: int = Field(
        default=720, ge=1, description="Decisions per training episode (720 = 30 days of 1h bars)."
    )
    reward: Literal["log_return", "simple_return"] = Field(
        default="log_return",
        description="Per-step reward: log(V_t+1 / V_t) or V_t+1 / V_t - 1, values marked at close.",
    )
    reward_scale: float = Field(default=1.0, gt=0.0, description="Multiplies every reward.")

    @property
    def slippage(self) -> float:
        """Slippage as a fraction: buys fill at open * (1 + slippage), sells at open * (1 - it)."""
        return self.slippage_bps * 1e-4
