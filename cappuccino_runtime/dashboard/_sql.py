"""Counted execution: every dashboard query goes through `QueryLog.fetch`, so tests can assert
that a page stays aggregate (statements and rows fetched), not that it is fast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Executable

__all__ = ["QueryLog", "as_utc", "as_utc_required"]


@dataclass
class QueryLog:
    """Statements executed and rows they returned, for one page-model build."""

    statements: int = 0
    rows: int = 0

    def fetch(self, conn: Connection, statement: Executable) -> Sequence[Any]:
        rows = conn.execute(statement).all()
        self.statements += 1
        self.rows += len(rows)
        return rows


def as_utc(value: object) -> datetime | None:
    """A database time (datetime or SQLite text) as an aware UTC datetime.

    Optuna writes naive times; they are read as UTC (the containers and CI run in UTC).
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from the database, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc_required(value: object) -> datetime:
    """`as_utc` for a NOT NULL time column: a missing time is a database error, said so."""
    when = as_utc(value)
    if when is None:
        raise TypeError("expected a datetime from the database, got NULL")
    return when
