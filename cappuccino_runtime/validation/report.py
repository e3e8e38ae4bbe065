"""The validation report: one result per (checkpoint, model), rendered as a table or JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, computed_field

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CheckResult", "Checkpoint", "ValidationReport", "render_report"]


class Checkpoint(StrEnum):
    """The seven checkpoints of the original system, in their original order."""

    COMPLETION = "1-completion"
    MODEL_FILES = "2-model-files"
    UNIQUENESS = "3-uniqueness"
    METADATA = "4-metadata"
    MANIFEST = "5-manifest"
    DEPLOYMENT = "6-deployment-files"
    LIVE_HEALTH = "7-live-health"


class CheckResult(BaseModel):
    """One checkpoint applied to one subject (a model, a manifest or a trader)."""

    checkpoint: Checkpoint
    subject: str
    passed: bool
    message: str
    fix: str = ""

    def line(self) -> str:
        """One line: what failed, why, and how to fix it (what init containers print)."""
        status = "ok" if self.passed else "FAILED"
        tail = f" Fix: {self.fix}" if self.fix and not self.passed else ""
        return f"{self.checkpoint.value} {status} [{self.subject}]: {self.message}{tail}"


def _now() -> datetime:
    return datetime.now(UTC)


class ValidationReport(BaseModel):
    """All results of one validation run; it passes only when every result passes."""

    results: list[CheckResult] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_now)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy rejects decorators over @property
    @property
    def passed(self) -> bool:
        """True when there is at least one result and none failed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def failures(self) -> list[CheckResult]:
        """The failed results, in order."""
        return [r for r in self.results if not r.passed]

    def for_subject(self, subject: str) -> list[CheckResult]:
        """Results about one subject."""
        return [r for r in self.results if r.subject == subject]

    def summary_line(self) -> str:
        """A single line for stderr / a Kubernetes condition message."""
        failed = self.failures()
        if not self.results:
            return "validation ran no checks: nothing was selected to validate."
        if not failed:
            return f"all {len(self.results)} checks passed."
        more = f" (+{len(failed) - 1} more failures)" if len(failed) > 1 else ""
        return " ".join(failed[0].line().split()) + more


def render_report(report: ValidationReport, console: Console) -> None:
    """Prints the report as a rich table, failures with their fix."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Cappuccino validation", show_lines=False)
    table.add_column("checkpoint")
    table.add_column("model / subject")
    table.add_column("result")
    table.add_column("details")
    for r in report.results:
        result = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        details = r.message if r.passed or not r.fix else f"{r.message}\nFix: {r.fix}"
        table.add_row(r.checkpoint.value, escape(r.subject), result, escape(details))
    console.print(table)
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    console.print(f"{verdict}: {escape(report.summary_line())}")
