"""CLI of the registry domain: `models top|show`, `validate`, `deploy` (docs/CONTRACTS.md).

Thin adapters over cappuccino_runtime.registry / validation / deploy. Heavy modules (torch,
optuna, the query layer) are imported inside the commands, so `cappuccino validate
--manifest ...` in an init container starts fast. Exit codes: 0 all checks passed, 1 a check
failed (one-line reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cappuccino_runtime.cli.options import (
    ArtifactRootOpt,
    ArtifactsOpt,
    DataOpt,
    EndOpt,
    JsonOpt,
    StartOpt,
    StorageOpt,
    SymbolsOpt,
    TimeframeOpt,
    configure_logging,
    parse_symbols,
)
from cappuccino_runtime.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cappuccino_runtime.registry.models import RegistryTrial
    from cappuccino_runtime.validation.report import ValidationReport

__all__ = ["register"]

MinValueOpt = Annotated[
    float | None,
    typer.Option("--min-value", help="Checkpoint 1: minimum trial value (maximum if minimize)."),
]
MaxBytesOpt = Annotated[
    int,
    typer.Option("--max-bytes", help="Checkpoint 2: largest accepted actor.pth, in bytes."),
]


class DeployKindChoice(StrEnum):
    """What `cappuccino deploy` builds."""

    arena = "arena"
    ensemble = "ensemble"


def _settings(storage: str | None, artifacts: str | None) -> Any:
    from cappuccino_runtime.settings import Settings

    if artifacts is not None:  # a root that does not exist is an error, never another root
        from cappuccino_runtime.validation.files import check_artifact_root

        check_artifact_root(artifacts)
    return Settings.from_env(storage=storage, artifact_root=artifacts)


def _engine(storage: str | None) -> Engine:
    from cappuccino_runtime.registry.queries import connect

    return connect(_settings(storage, None).storage)


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(120, Console().width))


def _trial_rows(trials: list[RegistryTrial]) -> None:
    from rich.markup import escape
    from rich.table import Table

    title = f"{trials[0].study_name}: top {len(trials)}" if trials else "no trials"
    table = Table(title=escape(title))
    columns = (
        "rank",
        "study",
        "trial_id",
        "#",
        "value",
        "own Sharpe",
        "bars",
        "period",
        "DSR",
        "timeframe",
        "sha256 actor",
        "params",
    )
    for col in columns:
        table.add_column(col)
    for rank, t in enumerate(trials, start=1):
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        n = t.numbers()
        period = (
            f"{n.holdout_start:%Y-%m-%d}..{n.holdout_end:%Y-%m-%d}"
            if n.holdout_start and n.holdout_end
            else ("CPCV split 0" if n.sharpe_kind == "cpcv_split0" else "-")
        )
        table.add_row(
            str(rank),
            t.study_name,
            str(t.trial_id),
            str(t.number),
            f"{t.value:.6g}" if t.value is not None else "-",
            f"{n.sharpe:.3f}" if n.sharpe is not None else "-",
            str(n.holdout_bars) if n.holdout_bars is not None else "-",
            period,
            f"{n.dsr:.3f}" if n.dsr is not None else "-",
            t.timeframe or "-",
            (t.sha256_actor or "-")[:12],
            escape(params),
        )
    _console().print(table)
    label = trials[0].user_attrs.get("value_label") if trials else None
    if label:
        _console().print(f"value = {escape(str(label))}")


def _emit_report(report: ValidationReport, as_json: bool) -> None:
    """Prints the report; exits 1 with a one-line reason on stderr when anything failed."""
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        from cappuccino_runtime.validation.report import render_report

        render_report(report, _console())
    if not report.passed:
        print(f"error: {report.summary_line()}", file=sys.stderr)
        from cappuccino_runtime.podlife import write_termination_message

        write_termination_message(report.summary_line())  # the pod's one-line reason
        raise typer.Exit(1)


def models_top(
    study: Annotated[str, typer.Option("--study", help="The study to rank.")],
    n: Annotated[int, typer.Option("--n", help="How many trials.")] = 10,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top N COMPLETE trials of one study by value (one SQL query)."""
    from cappuccino_runtime.registry.queries import top_trials

    trials = top_trials(_engine(storage), study, n)
    if as_json:
        rows = [
            {**t.model_dump(mode="json"), "numbers": t.numbers().model_dump(mode="json")}
            for t in trials
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        _trial_rows(trials)


def models_show(
    trial_id: Annotated[
        int | None, typer.Option("--trial-id", help="Global trial id (unambiguous).")
    ] = None,
    number: Annotated[
        int | None, typer.Option("--number", help="Trial number; needs --study.")
    ] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study of --number.")] = None,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One trial, by --trial-id (or by --study and --number)."""
    from cappuccino_runtime.registry.queries import get_trial, resolve_number

    if (trial_id is None) == (number is None):
        raise ConfigError("Pass exactly one of --trial-id ID or --number N (with --study S).")
    engine = _engine(storage)
    if trial_id is None:
        assert number is not None
        trial_id = resolve_number(engine, number, study).trial_id
    trial = get_trial(engine, trial_id)
    if as_json:
        typer.echo(json.dumps(trial.model_dump(mode="json"), indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{trial.study_name}:trial_id={trial.trial_id} (#{trial.number})")
    table.add_column("field")
    table.add_column("value")
    for key, value in trial.model_dump(mode="json").items():
        if key in ("params", "user_attrs"):
            for k, v in value.items():
                table.add_row(escape(f"{key}.{k}"), escape(json.dumps(v)[:200]))
        else:
            table.add_row(key, escape(str(value)))
    _console().print(table)


def models_refit(
    study: Annotated[str, typer.Option("--study", help="The study whose top trials to refit.")],
    top_n: Annotated[int, typer.Option("--top-n", help="How many trials.", min=1)] = 3,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per trial.", min=1)] = 3,
    storage: StorageOpt = None,
    artifact_root: ArtifactRootOpt = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training config (default: the one the study recorded)."),
    ] = None,
    data: DataOpt = "sample",
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = "1h",
    start: StartOpt = None,
    end: EndOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Base seed of the refit agents.")] = 0,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrain the top N trials on all pre-hold-out bars (K seeds each); score each once on the
    hold-out. The agents are COMPLETE trials of study S-refit (value = own hold-out Sharpe)."""
    from cappuccino_runtime.training.refit import RefitOptions, run_refit

    configure_logging()
    results = run_refit(
        RefitOptions(
            study=study,
            top_n=top_n,
            seeds=seeds,
            storage=storage,
            artifact_root=artifact_root,
            config=str(config) if config else None,
            data=data,
            symbols=parse_symbols(symbols),
            timeframe=timeframe,
            start=start,
            end=end,
            seed=seed,
            device=device,
        )
    )
    if as_json:
        from dataclasses import asdict

        typer.echo(json.dumps([asdict(r) for r in results], indent=2))
        return
    for r in results:
        dsr = "not computed" if r.dsr is None else f"{r.dsr:.3f}"
        typer.echo(
            f"{r.study_name} trial_id {r.trial_id} (#{r.number}) from trial_id "
            f"{r.source_trial_id} seed {r.refit_seed}: hold-out Sharpe {r.holdout_sharpe:.3f} "
            f"(buy-and-hold {r.holdout_sharpe_hodl:.3f}) on {r.holdout_bars} bars, DSR {dsr}"
            f"{' (already refit)' if r.skipped else ''}"
        )


def validate(
    study: Annotated[
        str | None, typer.Option("--study", help="Validate this study's top N.")
    ] = None,
    top_n: Annotated[int | None, typer.Option("--top-n", help="How many of --study.")] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="ensemble_manifest.json / arena_config.json.")
    ] = None,
    trial_id: Annotated[int | None, typer.Option("--trial-id", help="Validate one trial.")] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Checkpoint 7: a running trader's state directory."),
    ] = None,
    artifacts: ArtifactsOpt = None,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
    fix: Annotated[
        bool, typer.Option("--fix", help="Regenerate missing trial.json from the database.")
    ] = False,
    fix_pickle: Annotated[
        bool,
        typer.Option("--fix-pickle", help="With --fix: also write a best_trial pickle."),
    ] = False,
    min_value: MinValueOpt = None,
    max_bytes: MaxBytesOpt = 512 * 1024 * 1024,
) -> None:
    """Runs the validation checkpoints; exit 0 only when all pass."""
    modes = sum(x is not None for x in (study, manifest, trial_id, state_dir))
    if modes != 1 or (study is not None) != (top_n is not None):
        raise ConfigError(
            "Pass exactly one of --study S --top-n N, --manifest FILE, --trial-id ID or "
            "--state-dir DIR."
        )
    if state_dir is not None:
        from datetime import UTC, datetime

        from cappuccino_runtime.validation.live import (
            LiveThresholds,
            check_live_health,
            read_state_dir,
        )
        from cappuccino_runtime.validation.report import ValidationReport

        snapshot = read_state_dir(state_dir, datetime.now(UTC))
        results = check_live_health(snapshot, LiveThresholds())
        _emit_report(ValidationReport(results=results), as_json)
        return
    from cappuccino_runtime.validation.files import SizeBounds
    from cappuccino_runtime.validation.runner import ValidationOptions

    options = ValidationOptions(min_value=min_value, bounds=SizeBounds(max_bytes=max_bytes))
    if manifest is not None:
        if fix:
            raise ConfigError("--fix repairs trials; use it with --study or --trial-id.")
        from cappuccino_runtime.validation.runner import validate_manifest

        use_db = storage is not None or "CAPPUCCINO_STORAGE" in os.environ
        engine = _engine(storage) if use_db else None
        _emit_report(validate_manifest(manifest, artifacts, engine, options), as_json)
        return
    from cappuccino_runtime.artifacts import ArtifactStore
    from cappuccino_runtime.registry.queries import connect, get_trial, top_trials
    from cappuccino_runtime.validation.runner import validate_trials

    settings = _settings(storage, artifacts)
    engine = connect(settings.storage)
    store = ArtifactStore(settings.artifact_root)
    if study is not None:
        assert top_n is not None
        trials = top_trials(engine, study, top_n)
        if not trials:
            raise ConfigError(f"Study {study!r} has no COMPLETE trial to validate.")
    else:
        assert trial_id is not None
        trials = [get_trial(engine, trial_id)]
    if fix:
        from cappuccino_runtime.validation.fix import fix_trial
        from cappuccino_runtime.validation.runner import resolve_trial_dir

        for trial in trials:
            fs, trial_dir = resolve_trial_dir(store, trial)
            for action in fix_trial(fs, trial_dir, trial, settings.storage, fix_pickle):
                print(action, file=sys.stderr)
    report, _ = validate_trials(engine, store, trials, options)
    _emit_report(report, as_json)


def deploy_cmd(
    kind: Annotated[DeployKindChoice, typer.Argument(help="arena or ensemble.")],
    study: Annotated[str, typer.Option("--study", help="The study to deploy from.")],
    top_n: Annotated[int, typer.Option("--top-n", help="How many models.")],
    out: Annotated[Path, typer.Option("--out", help="Deployment directory (replaced atomically).")],
    storage: StorageOpt = None,
    artifacts: ArtifactsOpt = None,
    arena_name: Annotated[
        str | None, typer.Option("--arena-name", help="arena_config.json arena_name.")
    ] = None,
    min_value: MinValueOpt = None,
    min_dsr: Annotated[
        float,
        typer.Option("--min-dsr", help="Refuse models whose deflated Sharpe is below this."),
    ] = 0.95,
    allow_low_dsr: Annotated[
        bool,
        typer.Option("--allow-low-dsr", help="Deploy models below --min-dsr anyway (recorded)."),
    ] = False,
    no_refit: Annotated[
        bool,
        typer.Option("--no-refit", help="Deploy S's CPCV trials even when S-refit has agents."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validates the top N models of a study and deploys them into --out.

    Deploys the refit agents of S-refit when it has any (`cappuccino models refit`), and
    refuses models whose DSR is below --min-dsr unless --allow-low-dsr."""
    from cappuccino_runtime.artifacts import ArtifactStore
    from cappuccino_runtime.deploy.build import DeployRefused, deploy
    from cappuccino_runtime.registry.queries import connect
    from cappuccino_runtime.validation.runner import ValidationOptions

    settings = _settings(storage, artifacts)
    engine = connect(settings.storage)
    try:
        result = deploy(
            kind.value,
            engine,
            ArtifactStore(settings.artifact_root),
            study,
            top_n,
            out,
            options=ValidationOptions(min_value=min_value),
            arena_name=arena_name,
            prefer_refit=not no_refit,
            min_dsr=min_dsr,
            allow_low_dsr=allow_low_dsr,
        )
    except DeployRefused as e:
        if as_json:
            typer.echo(e.report.model_dump_json(indent=2))
        else:
            from cappuccino_runtime.validation.report import render_report

            render_report(e.report, _console())
        raise
    if as_json:
        typer.echo(json.dumps(result.manifest.model_dump(mode="json"), indent=2))
    else:
        gate = result.manifest.dsr_gate
        note = ""
        if gate is not None and gate.overridden:
            note = f" DSR gate {gate.threshold} OVERRIDDEN (--allow-low-dsr, recorded)."
        typer.echo(
            f"Deployed {result.manifest.model_count} models of study "
            f"{result.manifest.study_name!r} as {kind.value} into {result.out_dir} "
            f"({result.manifest_path.name}).{note}"
        )


def register(app: typer.Typer) -> None:
    """Adds `models top|show`, `validate` and `deploy` to the root app."""
    models = typer.Typer(help="Query the model registry (Optuna's tables).", no_args_is_help=True)
    models.command("top")(models_top)
    models.command("show")(models_show)
    models.command("refit")(models_refit)
    app.add_typer(models, name="models")
    app.command("validate")(validate)
    app.command("deploy")(deploy_cmd)
