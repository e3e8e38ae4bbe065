"""`cappuccino dashboard` (web, or `--tui` in the terminal) and `cappuccino report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cappuccino_runtime.cli.options import HomeOpt, LedgerOpt, StorageOpt

if TYPE_CHECKING:
    from cappuccino_runtime.dashboard import DashboardSources

__all__ = ["register"]

MarketOpt = Annotated[
    str,
    typer.Option(
        "--market",
        help="Bars for the buy-and-hold / equal-weight benchmarks: sample, alpaca, a path, "
        "or 'none'.",
    ),
]


def _sources(
    home: Path | None, storage: str | None, ledger_url: str | None, market: str, study: str | None
) -> DashboardSources:
    from cappuccino_runtime.dashboard import DashboardSources
    from cappuccino_runtime.settings import Settings

    settings = Settings.from_env(home=home, storage=storage, ledger_url=ledger_url)
    return DashboardSources.from_settings(
        settings, market=None if market == "none" else market, study=study
    )


def dashboard(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8050,
    tui: Annotated[
        bool, typer.Option("--tui", help="Terminal dashboard instead of the web one.")
    ] = False,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    ledger_url: LedgerOpt = None,
    market: MarketOpt = "sample",
    refresh: Annotated[
        float, typer.Option("--refresh", help="Seconds between refreshes.", min=0.5)
    ] = 5.0,
) -> None:
    """Show the dashboard: the original's pages over the study, the ledger and the deployments."""
    from cappuccino_runtime.dashboard import DashboardService

    service = DashboardService(_sources(home, storage, ledger_url, market, None))
    if tui:
        from cappuccino_runtime.dashboard.tui import DashboardApp

        DashboardApp(service, refresh_seconds=refresh).run()
        return
    import uvicorn

    from cappuccino_runtime.dashboard.web import create_app

    typer.echo(f"dashboard on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    uvicorn.run(create_app(service, refresh), host=host, port=port, log_level="warning")


def report(
    study: Annotated[str, typer.Option("--study", help="The study to report on.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for report.html and PNG images.")],
    home: HomeOpt = None,
    storage: StorageOpt = None,
    ledger_url: LedgerOpt = None,
    market: MarketOpt = "sample",
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also write PNG images (needs Chromium).")
    ] = True,
) -> None:
    """Write a static HTML report (and PNG images) of the dashboard's charts for one study."""
    from cappuccino_runtime.reports import write_report

    result = write_report(
        _sources(home, storage, ledger_url, market, study),
        out,
        png=png,
    )
    typer.echo(f"wrote {result.html} and {len(result.images)} PNG image(s) under {out}")


def register(app: typer.Typer) -> None:
    """Adds `dashboard` and `report` to the root app."""
    app.command("dashboard")(dashboard)
    app.command("report")(report)
