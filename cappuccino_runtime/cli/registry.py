"""CLI commands of the registry domain (filled in by that domain; see docs/CONTRACTS.md)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Adds this domain's commands to the root app."""
