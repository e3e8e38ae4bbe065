"""Data-quality findings: what was wrong with which rows of which file, and what was done.

Every repair the loaders make is recorded here; nothing is dropped or changed silently. The
policy behind each `kind` is documented in docs/data.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DataQualityIssue", "DataQualityReport", "IssueKind", "format_rows"]

IssueKind = Literal[
    "misaligned",
    "out_of_order",
    "exact_duplicate",
    "conflicting_duplicate",
    "replayed_values",
    "gap_filled",
    "flat_zero_volume",
    "ohlc_inconsistent",
    "range_cut",
    "incomplete_bin",
]

_SHOWN_ROWS = 8
_INFO_KINDS = frozenset({"flat_zero_volume", "range_cut", "incomplete_bin"})


def format_rows(rows: Sequence[str], lines: Sequence[int] = ()) -> str:
    """Short human rendering of affected rows: the first few timestamps (and file lines)."""
    shown = [
        f"{row} (line {line})" if lines else row
        for row, line in zip(
            rows[:_SHOWN_ROWS], list(lines[:_SHOWN_ROWS]) or [0] * _SHOWN_ROWS, strict=False
        )
    ]
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    return ", ".join(shown) + more


class DataQualityIssue(BaseModel):
    """One finding: a kind of problem, where it was (file, symbol, rows) and the action taken."""

    model_config = ConfigDict(frozen=True)

    kind: IssueKind
    symbol: str
    file: str | None = None
    rows: list[str] = Field(default_factory=list, description="UTC ISO timestamps of the rows.")
    lines: list[int] = Field(
        default_factory=list, description="1-based line numbers in the file, where known."
    )
    action: str
    detail: str = ""

    @property
    def count(self) -> int:
        """Number of rows affected."""
        return len(self.rows)

    @property
    def severity(self) -> Literal["info", "warning"]:
        """'info' for expected findings (source outage bars, cuts to a common range, partial
        bins); 'warning' for repairs of broken data."""
        return "info" if self.kind in _INFO_KINDS else "warning"

    def describe(self) -> str:
        """One line for logs: symbol, kind, count, file, action and the first rows."""
        where = f" in {self.file}" if self.file else ""
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.symbol}: {self.count} {self.kind.replace('_', ' ')} row(s){where}{detail}; "
            f"{self.action}: {format_rows(self.rows, self.lines)}"
        )


class DataQualityReport(BaseModel):
    """All findings for one load. Print it, log it, or inspect `issues` by kind."""

    model_config = ConfigDict(frozen=True)

    issues: tuple[DataQualityIssue, ...] = ()

    @classmethod
    def of(cls, issues: Iterable[DataQualityIssue]) -> DataQualityReport:
        """Builds a report from any iterable of issues."""
        return cls(issues=tuple(issues))

    def merged(self, *others: DataQualityReport | Iterable[DataQualityIssue]) -> DataQualityReport:
        """A new report holding these issues followed by those of `others`."""
        issues = list(self.issues)
        for other in others:
            issues.extend(other.issues if isinstance(other, DataQualityReport) else other)
        return DataQualityReport(issues=tuple(issues))

    @property
    def is_clean(self) -> bool:
        """True when the data needed no repair and nothing was cut."""
        return not self.issues

    def of_kind(self, kind: IssueKind, symbol: str | None = None) -> list[DataQualityIssue]:
        """Issues of one kind, optionally for one symbol."""
        return [i for i in self.issues if i.kind == kind and (symbol is None or i.symbol == symbol)]

    def count(self, kind: IssueKind, symbol: str | None = None) -> int:
        """Rows affected by issues of one kind (optionally for one symbol)."""
        return sum(i.count for i in self.of_kind(kind, symbol))

    def summary(self) -> str:
        """Multi-line human summary, one line per issue."""
        if not self.issues:
            return "data quality: no issues found."
        lines = [f"data quality: {len(self.issues)} issue(s)"]
        lines.extend(f"  - {issue.describe()}" for issue in self.issues)
        return "\n".join(lines)

    def log(self, logger: logging.Logger) -> None:
        """Logs one line per issue: repairs as WARNING, expected findings as INFO."""
        for issue in self.issues:
            level = logging.INFO if issue.severity == "info" else logging.WARNING
            logger.log(level, "data quality: %s", issue.describe())

    def __str__(self) -> str:
        return self.summary()
