"""The trader's risk settings: one model, one set of defaults, from the CRD to the trader.

`RiskSettings` is the `risk` block of an Arena/Ensemble (camelCase in YAML: the alias
generator), of a frozen manifest (snake_case: the Python names) and the limits the trader's
guards check (cappuccino_runtime/trading/guards.py). The operator's CRD schema is generated from
it, so the API server fills the same defaults a local `cappuccino trade` uses.

The defaults are the cluster's, not the old local trader's (a 30 % kill switch, a 2 h stale
window):

- `max_drawdown` 0.20: the dashboard already flags a drawdown above 20 % as a warning (the
  original system's target is < 10 %); a kill switch that lets a book fall a further 10 % past
  the warning line is not conservative, and the examples/ Arena uses 0.2.
- `stale_data_seconds` 600: the guard is checked when a book decides a newly completed bar,
  normally within one poll (60 s) of the bar's close; a newest bar more than 10 minutes old
  means the feed lags, and trading on it would use old prices. 2 h let a 1 h-bar trader act on
  a bar two closes old. Keep it above the poll interval.
- `max_position_fraction` 1.0, `max_loss_per_hour` 0.05, `max_trades_per_hour` 30: both sides
  agreed (the cluster had no field for the last two; now it does).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["RiskSettings"]

# A fraction of equity: above 0, at most 1 (0.2 = 20%).
Fraction = Annotated[float, Field(gt=0, le=1)]


class RiskSettings(BaseModel):
    """Trader risk guards: drawdown kill switch, hourly-loss and stale-data halts, trade-rate limit,
    per-asset cap. The defaults are the only ones (see this module's docstring for why)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    max_drawdown: Fraction = Field(
        default=0.2,
        description="Stop trading (latched) when equity falls this fraction below its peak "
        "(0.2 = 20%).",
    )
    stale_data_seconds: int = Field(
        default=600,
        ge=1,
        le=86400,
        description="Halt when the newest market bar ended more than this many seconds ago.",
    )
    max_position_fraction: Fraction = Field(
        default=1.0,
        description="Largest fraction of equity one asset may hold.",
    )
    max_loss_per_hour: Fraction = Field(
        default=0.05,
        description="Halt while equity is this fraction below its value one hour ago.",
    )
    max_trades_per_hour: int = Field(
        default=30,
        ge=1,
        le=100000,
        description="No new orders while the trailing hour holds this many trades.",
    )
