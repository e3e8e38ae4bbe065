"""Risk guards: pure checks that decide whether a trader may trade now, each with a logged reason.

Guards never liquidate: a halted trader keeps its positions, its ledger and its snapshots, keeps
marking to market and says why it is not trading (log line, /metrics `guard_halted`, ledger).

- max drawdown kill switch: equity below (1 - max_drawdown) x its peak. Latched: it stays
  halted across polls and restarts until an operator clears it in the ledger.
- max loss per hour: equity fell more than max_loss_per_hour below its value one hour ago.
  Halts until the loss over the trailing hour is back inside the limit.
- stale market data: the newest completed bar ended more than stale_data_seconds ago.
  Halts this poll; trading resumes when fresh bars arrive.
- max trades per hour: no new orders while the trailing hour already holds that many trades.
- per-asset position cap: not a halt; target weights above the cap are cut to it (`cap_targets`).

The limits are `cappuccino_contracts.risk.RiskSettings`, the one model the CRD, the manifest and
the trader share.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from cappuccino_contracts.risk import RiskSettings
from pydantic import BaseModel, ConfigDict

__all__ = ["GuardKind", "GuardStatus", "cap_targets", "check_guards"]

_HOUR = timedelta(hours=1)


class GuardKind(StrEnum):
    DRAWDOWN = "max_drawdown"
    HOURLY_LOSS = "max_loss_per_hour"
    STALE_DATA = "stale_market_data"
    TRADE_RATE = "max_trades_per_hour"


class GuardStatus(BaseModel):
    """Whether trading is allowed now; when not, which guard tripped and why, in a full sentence."""

    model_config = ConfigDict(frozen=True)

    halted: bool
    kind: GuardKind | None = None
    reason: str | None = None
    latched: bool = False

    @classmethod
    def ok(cls) -> GuardStatus:
        return cls(halted=False)


def check_guards(
    config: RiskSettings,
    *,
    now: datetime,
    equity: Sequence[tuple[datetime, float]],
    latest_bar_end: datetime | None,
    trade_times: Sequence[datetime],
    latched_reason: str | None = None,
) -> GuardStatus:
    """Evaluates the guards in order of severity and returns the first that trips.

    Args:
        config: the limits.
        now: the trader's clock (the replay clock when replaying).
        equity: (ts, equity) snapshots of the book, oldest first, the current one last.
        latest_bar_end: end time of the newest completed bar, or None when there is none.
        trade_times: times of the book's filled orders (only the trailing hour matters).
        latched_reason: a kill-switch reason persisted earlier; it keeps the trader halted.
    """
    if latched_reason:
        return GuardStatus(
            halted=True, kind=GuardKind.DRAWDOWN, reason=latched_reason, latched=True
        )
    if equity:
        current = equity[-1][1]
        peak = max(v for _, v in equity)
        if peak > 0 and current < peak * (1.0 - config.max_drawdown):
            return GuardStatus(
                halted=True,
                kind=GuardKind.DRAWDOWN,
                latched=True,
                reason=(
                    f"Kill switch: equity {current:.2f} is {1 - current / peak:.2%} below its "
                    f"peak {peak:.2f}, beyond max_drawdown {config.max_drawdown:.2%}; trading "
                    "stops until the halt is cleared."
                ),
            )
        hour_ago = [v for ts, v in equity if ts <= now - _HOUR]
        if hour_ago and hour_ago[-1] > 0:
            loss = 1.0 - current / hour_ago[-1]
            if loss > config.max_loss_per_hour:
                return GuardStatus(
                    halted=True,
                    kind=GuardKind.HOURLY_LOSS,
                    reason=(
                        f"Equity fell {loss:.2%} in the last hour (from {hour_ago[-1]:.2f} to "
                        f"{current:.2f}), beyond max_loss_per_hour "
                        f"{config.max_loss_per_hour:.2%}; not trading until it recovers."
                    ),
                )
    if latest_bar_end is None or (now - latest_bar_end).total_seconds() > config.stale_data_seconds:
        age = (
            "no bar at all"
            if latest_bar_end is None
            else f"the newest bar ended at {latest_bar_end.isoformat()}"
        )
        return GuardStatus(
            halted=True,
            kind=GuardKind.STALE_DATA,
            reason=(
                f"Market data is stale at {now.isoformat()}: {age}, more than "
                f"{config.stale_data_seconds:.0f} s ago; not trading on old prices."
            ),
        )
    recent = sum(1 for ts in trade_times if ts > now - _HOUR)
    if recent >= config.max_trades_per_hour:
        return GuardStatus(
            halted=True,
            kind=GuardKind.TRADE_RATE,
            reason=(
                f"{recent} trades in the last hour reach max_trades_per_hour "
                f"{config.max_trades_per_hour}; no new orders until the rate falls."
            ),
        )
    return GuardStatus.ok()


def cap_targets(targets: Sequence[float], max_position_fraction: float) -> list[float]:
    """Per-asset position cap: each target weight is cut to at most max_position_fraction."""
    return [min(float(t), max_position_fraction) for t in targets]
