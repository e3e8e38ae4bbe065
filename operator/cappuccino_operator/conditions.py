"""metav1.Condition bookkeeping: pure functions over plain status dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Status", "condition", "get_condition", "merge_conditions", "now_iso"]

Status = Literal["True", "False", "Unknown"]
MAX_MESSAGE = 32768


def now_iso() -> str:
    """Current UTC time in the RFC 3339 form Kubernetes uses (second precision)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str, status: Status, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    """A new condition (lastTransitionTime is filled in by merge_conditions)."""
    out: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
    }
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def get_condition(
    conditions: Iterable[Mapping[str, Any]] | None, type_: str
) -> Mapping[str, Any] | None:
    """The condition of `type_`, or None."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def merge_conditions(
    existing: Iterable[Mapping[str, Any]] | None,
    updates: Iterable[Mapping[str, Any]],
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Applies `updates` over `existing` by type. lastTransitionTime changes only when a
    condition's status flips; conditions not updated are kept as they were."""
    now = now or now_iso()
    merged: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in existing or ()}
    for update in updates:
        old = merged.get(update["type"])
        new = dict(update)
        if old is not None and old.get("status") == new["status"] and old.get("lastTransitionTime"):
            new["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            new["lastTransitionTime"] = now
        merged[new["type"]] = new
    return list(merged.values())
