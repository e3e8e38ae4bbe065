"""Checkpoint 7 (live health) of a running trader: pure checks on numbers the trader feeds.

`read_state_dir` turns a trader's state directory into ages: positions_state.json (the
oldest per-book `timestamp`, as trading/state_files.py writes it, else the file's mtime) and
the newest *.log if the trader writes log files (it logs JSON to stderr by default, so the log
check is skipped unless `require_log` is set). The trading loop adds its counters (decision
cycles, errors, closed and losing trades) with `snapshot.model_copy(update=...)`;
`check_live_health` decides.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cappuccino_runtime.validation.report import Checkpoint, CheckResult

__all__ = ["LiveSnapshot", "LiveThresholds", "check_live_health", "read_state_dir"]

POSITIONS_FILE = "positions_state.json"


class LiveThresholds(BaseModel):
    """Limits a healthy trader stays within."""

    model_config = ConfigDict(frozen=True)

    max_positions_age_s: float = Field(default=2 * 3600.0, gt=0)
    max_log_age_s: float = Field(default=2 * 3600.0, gt=0)
    require_log: bool = False
    max_error_rate: float = Field(default=0.10, ge=0, le=1)
    max_loss_rate: float = Field(default=0.65, ge=0, le=1)
    min_trades_for_loss_rate: int = Field(default=10, ge=1)


class LiveSnapshot(BaseModel):
    """What is known about a trader right now (None = not observed)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    positions_age_s: float | None = None
    log_age_s: float | None = None
    cycles: int = Field(default=0, ge=0)
    errors: int = Field(default=0, ge=0)
    trades_closed: int = Field(default=0, ge=0)
    trades_lost: int = Field(default=0, ge=0)


def _parse(stamp: object) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stamps(raw: object) -> list[datetime]:
    """Timestamps of positions_state.json: per book (`{pid: {"timestamp": ...}}`) or top level."""
    if not isinstance(raw, dict):
        return []
    if (top := _parse(raw.get("timestamp"))) is not None:
        return [top]
    books = [_parse(v.get("timestamp")) for v in raw.values() if isinstance(v, dict)]
    return [b for b in books if b is not None]


def _age(path: Path, now: datetime, stamps: list[datetime] | None = None) -> float:
    when = min(stamps) if stamps else datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return max(0.0, (now - when).total_seconds())


def read_state_dir(state_dir: Path, now: datetime, subject: str | None = None) -> LiveSnapshot:
    """Ages of positions_state.json (its `timestamp` field, else mtime) and the newest log."""
    positions = state_dir / POSITIONS_FILE
    positions_age = None
    if positions.is_file():
        try:
            stamps = _stamps(json.loads(positions.read_text()))
        except ValueError:
            stamps = []
        positions_age = _age(positions, now, stamps)
    logs = sorted(state_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    log_age = _age(logs[-1], now) if logs else None
    return LiveSnapshot(
        subject=subject or str(state_dir), positions_age_s=positions_age, log_age_s=log_age
    )


def check_live_health(snapshot: LiveSnapshot, limits: LiveThresholds) -> list[CheckResult]:
    """Freshness of positions and logs, error rate per cycle, loss rate of closed trades."""
    results: list[CheckResult] = []

    def add(passed: bool, message: str, fix: str = "") -> None:
        results.append(
            CheckResult(
                checkpoint=Checkpoint.LIVE_HEALTH,
                subject=snapshot.subject,
                passed=passed,
                message=message,
                fix=fix,
            )
        )

    watched = [(POSITIONS_FILE, snapshot.positions_age_s, limits.max_positions_age_s)]
    if limits.require_log or snapshot.log_age_s is not None:
        watched.append(("trader log", snapshot.log_age_s, limits.max_log_age_s))
    for label, age, limit in watched:
        if age is None:
            add(
                False, f"no {label} was found.", "check that the trader runs with this --state-dir."
            )
        elif age > limit:
            add(
                False,
                f"{label} is {age:.0f} s old, over the {limit:.0f} s limit: the trader is stalled.",
                "inspect the trader's logs and restart it; check the market-data feed.",
            )
        else:
            add(True, f"{label} updated {age:.0f} s ago.")
    if snapshot.cycles:
        rate = snapshot.errors / snapshot.cycles
        if rate > limits.max_error_rate:
            add(
                False,
                f"error rate {rate:.1%} ({snapshot.errors}/{snapshot.cycles} cycles) exceeds "
                f"{limits.max_error_rate:.1%}.",
                "read the trader's errors (broker rejections, data gaps) and fix their cause.",
            )
        else:
            add(True, f"error rate {rate:.1%} over {snapshot.cycles} cycles.")
    if snapshot.trades_closed >= limits.min_trades_for_loss_rate:
        rate = snapshot.trades_lost / snapshot.trades_closed
        if rate > limits.max_loss_rate:
            add(
                False,
                f"loss rate {rate:.1%} ({snapshot.trades_lost}/{snapshot.trades_closed} closed "
                f"trades) exceeds {limits.max_loss_rate:.1%}.",
                "stop the model and re-validate it; it no longer behaves as in its backtest.",
            )
        else:
            add(True, f"loss rate {rate:.1%} over {snapshot.trades_closed} closed trades.")
    return results
