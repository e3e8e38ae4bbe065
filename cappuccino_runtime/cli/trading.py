"""CLI of the trading domain: `cappuccino trade` and `cappuccino arena` (docs/CONTRACTS.md).

Thin adapters over cappuccino_runtime.trading.runner. Alpaca keys come from the environment or
ALPACA_CREDENTIALS_DIR only, never from flags. Logs are JSON lines on stderr.
"""

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from cappuccino_runtime.cli.options import LedgerOpt

__all__ = ["register"]


class BrokerChoice(StrEnum):
    alpaca = "alpaca"
    replay = "replay"


BrokerOpt = Annotated[BrokerChoice, typer.Option("--broker", help="alpaca (paper) or replay.")]
PollOpt = Annotated[
    float | None,
    typer.Option(
        "--poll-interval",
        help="Seconds between polls (live); default: the manifest's poll_interval_seconds, else 60.",
        min=0.001,
    ),
]
MetricsOpt = Annotated[
    int | None, typer.Option("--metrics-port", help="Serve /metrics, /healthz, /readyz.")
]
StateOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="positions_state.json / trades_history.json go here."),
]
PortfolioOpt = Annotated[
    str | None, typer.Option("--portfolio-id", help="Book id (ensemble) or arena id.")
]
ArtifactsOpt = Annotated[
    str | None, typer.Option("--artifacts", help="Artifact root the manifest's paths resolve in.")
]
ReplayDataOpt = Annotated[
    str, typer.Option("--replay-data", help="Replay bars: sample, alpaca or a path.")
]
ReplayStartOpt = Annotated[
    str | None, typer.Option("--replay-start", help="First replayed bar (ISO, UTC).")
]
ReplayEndOpt = Annotated[str | None, typer.Option("--replay-end", help="Last replayed bar.")]
ReplaySpeedOpt = Annotated[
    float, typer.Option("--replay-seconds-per-bar", help="Wall seconds per replayed bar.", min=0)
]
MaxPollsOpt = Annotated[int | None, typer.Option("--max-polls", help="Stop after N polls.", min=1)]


def _run(
    kind: Literal["ensemble", "arena"],
    manifest: Path,
    *,
    broker: BrokerChoice,
    replay_data: str,
    replay_start: str | None,
    replay_end: str | None,
    replay_seconds_per_bar: float,
    **kw: Any,
) -> None:
    """`kw`: the remaining RunOptions fields, named as the command's parameters."""
    from cappuccino_runtime.trading.logs import configure_json_logging
    from cappuccino_runtime.trading.runner import ReplayOptions, RunOptions, run_deployment

    configure_json_logging()
    replay = ReplayOptions(
        data=str(replay_data),
        start=replay_start,
        end=replay_end,
        seconds_per_bar=float(replay_seconds_per_bar),
    )
    assert isinstance(broker, BrokerChoice)
    run_deployment(
        RunOptions(kind=kind, manifest=manifest, broker=broker.value, replay=replay, **kw)
    )


def _deployment_command(
    kind: Literal["ensemble", "arena"], flag: str, file_help: str, doc: str
) -> Callable[..., None]:
    """`trade` or `arena`: the same options; only the file flag and the book kind differ.

    This module does not postpone annotations, so the file option below is built from the
    arguments when the command is defined (typer reads it from the signature).
    """

    def command(
        manifest: Annotated[Path, typer.Option(flag, help=file_help)],
        broker: BrokerOpt,
        ledger_url: LedgerOpt = None,
        poll_interval: PollOpt = None,
        metrics_port: MetricsOpt = None,
        state_dir: StateOpt = None,
        portfolio_id: PortfolioOpt = None,
        artifacts: ArtifactsOpt = None,
        replay_data: ReplayDataOpt = "sample",
        replay_start: ReplayStartOpt = None,
        replay_end: ReplayEndOpt = None,
        replay_seconds_per_bar: ReplaySpeedOpt = 0.0,
        max_polls: MaxPollsOpt = None,
    ) -> None:
        options = {k: v for k, v in locals().items() if k not in ("kind", "manifest")}
        _run(kind, manifest, **options)

    command.__doc__ = doc
    command.__name__ = command.__qualname__ = "trade" if kind == "ensemble" else "arena"
    return command


trade = _deployment_command(
    "ensemble",
    "--manifest",
    "ensemble_manifest.json.",
    "Trade one ensemble portfolio (majority vote of the manifest's models).",
)
arena = _deployment_command(
    "arena",
    "--config",
    "arena_config.json.",
    "Run an arena: one book per model, ranked by rolling Sharpe, top 3 promoted.",
)


def register(app: typer.Typer) -> None:
    """Adds `trade` and `arena` to the root app."""
    app.command("trade")(trade)
    app.command("arena")(arena)
