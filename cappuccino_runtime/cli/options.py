"""Options that several commands share, each declared once (typer `Annotated` aliases).

A command takes e.g. `storage: StorageOpt = None`; the flag, its type and its help then read the
same in every command that has it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cappuccino_runtime.errors import ConfigError

__all__ = [
    "ArtifactRootOpt",
    "ArtifactsOpt",
    "DataOpt",
    "EndOpt",
    "HomeOpt",
    "JsonOpt",
    "LedgerOpt",
    "StartOpt",
    "StorageOpt",
    "SymbolsOpt",
    "TimeframeOpt",
    "configure_logging",
    "parse_symbols",
]

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="Optuna storage URL (default: CAPPUCCINO_STORAGE).")
]
ArtifactRootOpt = Annotated[
    str | None,
    typer.Option("--artifact-root", help="Artifact root URL (default: CAPPUCCINO_ARTIFACT_ROOT)."),
]
ArtifactsOpt = Annotated[
    str | None,
    typer.Option("--artifacts", help="Artifact root URL (default: CAPPUCCINO_ARTIFACT_ROOT)."),
]
LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger-url", help="Trading ledger SQLAlchemy URL (default: CAPPUCCINO_LEDGER_URL)."
    ),
]
HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="Local state dir (default: CAPPUCCINO_HOME).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DataOpt = Annotated[str, typer.Option("--data", help="sample, alpaca, or a path/URL of bar files.")]
SymbolsOpt = Annotated[
    str | None, typer.Option("--symbols", help="Comma-separated, e.g. BTC/USD,ETH/USD.")
]
TimeframeOpt = Annotated[str, typer.Option("--timeframe", help="Bar timeframe of the loaded data.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="ISO start (inclusive).")]
EndOpt = Annotated[str | None, typer.Option("--end", help="ISO end (exclusive).")]


def configure_logging() -> None:
    """INFO logs with time, level and logger on stderr: what long-running training commands show."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def parse_symbols(raw: str | None) -> list[str] | None:
    """The symbols of a `--symbols` value (None when the flag is absent)."""
    if raw is None:
        return None
    symbols = [s.strip() for s in raw.split(",") if s.strip()]
    if not symbols:
        raise ConfigError(f"--symbols {raw!r} names no symbol; use e.g. BTC/USD,ETH/USD.")
    return symbols
