"""CLI of the training domain: `train`, `study create|report` and `demo` (docs/CONTRACTS.md).

Thin adapters over cappuccino_runtime.training and cappuccino_runtime.demo; torch and optuna
are imported inside the commands so `cappuccino --help` stays fast.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cappuccino_runtime.cli.options import (
    ArtifactRootOpt,
    DataOpt,
    EndOpt,
    HomeOpt,
    StartOpt,
    StorageOpt,
    SymbolsOpt,
    TimeframeOpt,
    configure_logging,
    parse_symbols,
)
from cappuccino_runtime.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from optuna.study import Study
    from optuna.trial import FrozenTrial

__all__ = ["register"]


class PhaseChoice(StrEnum):
    """Which search `cappuccino train` runs (see docs/training.md)."""

    full = "full"
    phase1 = "phase1"
    phase2 = "phase2"


class DeviceChoice(StrEnum):
    """Torch device; auto picks CUDA when one is visible."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def train(
    study: Annotated[str, typer.Option("--study", help="Study name (see --phase for suffixes).")],
    storage: StorageOpt = None,
    artifact_root: ArtifactRootOpt = None,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", help="This worker runs at most N trials.")
    ] = None,
    study_budget: Annotated[
        int | None,
        typer.Option(
            "--study-budget", help="Stop once the study holds N COMPLETE + PRUNED trials."
        ),
    ] = None,
    study_budget_file: Annotated[
        Path | None,
        typer.Option(
            "--study-budget-file",
            help="Read the study budget from this file before every trial (overrides "
            "--study-budget; a TrainingSweep mounts its ConfigMap key there).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Training config file (YAML or JSON).")
    ] = None,
    phase: Annotated[
        PhaseChoice, typer.Option("--phase", help="full, phase1 (study NAME-phase1) or phase2.")
    ] = PhaseChoice.full,
    data: DataOpt = "sample",
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = "1h",
    start: StartOpt = None,
    end: EndOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Base seed; split k of trial n uses seed + 1000 n + k.")
    ] = 0,
    device: Annotated[DeviceChoice | None, typer.Option("--device")] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port.")
    ] = None,
) -> None:
    """Run trials of a shared Optuna study as one worker."""
    from cappuccino_runtime.training.runner import TrainOptions, run_training

    configure_logging()
    opts = TrainOptions(
        study=study,
        storage=storage,
        artifact_root=artifact_root,
        n_trials=n_trials,
        study_budget=study_budget,
        study_budget_file=str(study_budget_file) if study_budget_file else None,
        config=str(config) if config else None,
        phase=phase.value,
        data=data,
        symbols=parse_symbols(symbols),
        timeframe=timeframe,
        start=start,
        end=end,
        seed=seed,
        device=device.value if device else None,
    )
    callbacks: list[Callable[[Study, FrozenTrial], None]] = []
    tracked: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if metrics_port is not None:
        from cappuccino_runtime.training.config import load_config
        from cappuccino_runtime.training.metrics import WorkerMetrics
        from cappuccino_runtime.training.two_phase import study_name_for

        metrics = WorkerMetrics(study_name_for(study, opts.phase), load_config(opts.config))
        metrics.serve(metrics_port)
        callbacks, tracked = [metrics.on_trial], metrics.track()
    with tracked:
        summary = run_training(
            opts, callbacks=callbacks, notify=lambda msg: typer.echo(msg, err=True)
        )
    typer.echo(
        f"worker done: ran {summary.trials_run} trial(s); study holds {summary.study_finished} "
        f"finished trial(s); stopped: {summary.stopped_because}."
    )


def study_create(
    study: Annotated[str, typer.Option("--study", help="Study name.")],
    storage: StorageOpt = None,
    direction: Annotated[
        str, typer.Option("--direction", help="maximize or minimize.")
    ] = "maximize",
) -> None:
    """Create a study (idempotent: an existing study with the same direction is kept)."""
    from cappuccino_runtime.settings import Settings
    from cappuccino_runtime.training.worker import create_study, open_storage

    settings = Settings.from_env(storage=storage)
    if settings.storage.startswith("sqlite:///"):
        Path(settings.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    created = create_study(study, open_storage(settings.storage), direction)
    typer.echo(f"study {created.study_name!r} ready ({direction}).")


def study_report(
    study: Annotated[str, typer.Option("--study", help="The study to report on.")],
    storage: StorageOpt = None,
    artifact_root: ArtifactRootOpt = None,
    blocks: Annotated[
        int, typer.Option("--blocks", help="CSCV blocks S (even); fewer when bars are few.")
    ] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """PBO (CSCV), PSR/DSR and performance degradation of a study; stored as its attr `report`."""
    import optuna

    from cappuccino_runtime.artifacts import ArtifactStore
    from cappuccino_runtime.settings import Settings
    from cappuccino_runtime.training.report import compute_report, require_plan, store_report
    from cappuccino_runtime.training.worker import open_storage

    settings = Settings.from_env(storage=storage, artifact_root=artifact_root)
    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(settings.storage))
    except KeyError:
        raise ConfigError(
            f"study {study!r} does not exist in this storage; check --study and --storage."
        ) from None
    report, details = compute_report(
        loaded, require_plan(loaded), ArtifactStore(settings.artifact_root), n_blocks=blocks
    )
    store_report(loaded, report)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return

    def fmt(value: float | None, spec: str = ".3f") -> str:
        return "not computed" if value is None else format(value, spec)

    lines = [
        f"study {study}: {report.n_trials} configuration(s) tried (N for the DSR)",
        f"  selected trial_id           {report.selected_trial_id}",
        f"  Sharpe of its CPCV paths    {fmt(report.sharpe_selected)} (annualised, "
        f"{details.n_bars} {details.bar_timeframe or '-'} bars, {details.n_in_matrix} trials "
        "on the same bars)",
        f"  PSR (vs 0)                  {fmt(report.psr)}",
        f"  DSR                         {fmt(report.dsr)}",
        f"  PBO (CSCV, S={details.n_blocks or '-'})          {fmt(report.pbo)}",
        f"  degradation slope (OOS~IS)  {fmt(report.degradation_slope)}",
        f"  P(OOS Sharpe < 0)           {fmt(report.prob_oos_loss)}",
    ]
    lines += [f"  note: {n}" for n in details.notes]
    typer.echo("\n".join(lines))


def demo(
    home: HomeOpt = None,
    trials: Annotated[int, typer.Option("--trials", help="Trials to run.", min=1)] = 4,
) -> None:
    """Run a small study end to end on embedded defaults and print the leaderboard."""
    from cappuccino_runtime.demo import run_demo

    run_demo(home=home, trials=trials)


def register(app: typer.Typer) -> None:
    """Adds `train`, `study create|report` and `demo` to the root app."""
    app.command("train")(train)
    study_app = typer.Typer(help="Manage Optuna studies.", no_args_is_help=True)
    study_app.command("create")(study_create)
    study_app.command("report")(study_report)
    app.add_typer(study_app, name="study")
    app.command("demo")(demo)
