"""`cappuccino demo`: the whole system on a laptop, on embedded defaults, in a few minutes.

The demo is a list of stages run in order over one shared `DemoContext`:

1. `stage_train`: a small study on the bundled Coinbase sample (SQLite under the home dir,
   artifacts under it, CPU or a visible GPU), with a progress bar over trials x CPCV splits;
2. `stage_leaderboard`: prints the trials (study_name, trial_id, number, Sharpe of the agent vs
   equal-weight buy-and-hold).

Later stages (validate + deploy, replay trading) are appended to `STAGES`; they find the study,
the settings and the ranked trials on the context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cappuccino_runtime.settings import Settings

__all__ = [
    "DEMO_CONFIG",
    "DEMO_STUDY",
    "STAGES",
    "DemoContext",
    "demo_config",
    "demo_market",
    "run_demo",
    "stage_leaderboard",
    "stage_train",
]

DEMO_STUDY = "demo"
DEMO_BARS = 3000
"""The demo trains on the last DEMO_BARS hourly bars of the bundled sample (about 4 months)."""

DEMO_CONFIG: dict[str, Any] = {
    # The original ranges are kept for learning rate, gamma, clip range, lookback and GAE
    # lambda; sizes are shrunk so one trial (6 CPCV splits) takes seconds on 2 CPU cores.
    "search_space": {
        "net_dimension": {"type": "categorical", "choices": [32, 64]},
        "batch_size": {"choices": [128, 256]},
        "num_steps": {"choices": [32, 64]},
        "update_epochs": {"low": 2, "high": 4},
    },
    "env": {"num_envs": 8, "episode_length": 128},
    "ppo": {"total_timesteps": 4096, "eval_interval": 1000},
    "n_startup_trials": 4,
    "pruner_startup_trials": 4,
    "cpu_threads": 1,
}


def demo_config() -> Any:
    """The demo's TrainingConfig."""
    from cappuccino_runtime.training.config import parse_config

    return parse_config(DEMO_CONFIG, source="demo")


def demo_market() -> Any:
    """The demo's data: the last DEMO_BARS hourly bars of the bundled sample, all symbols."""
    from cappuccino_runtime.data import load_sample

    market = load_sample(None, "1h")
    return market.slice(max(0, market.n_bars - DEMO_BARS), market.n_bars)


@dataclass
class DemoContext:
    """What the stages share."""

    settings: Settings
    trials: int
    console: Console
    study_name: str = DEMO_STUDY
    seed: int = 0
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    """finished trials, best first (filled by stage_leaderboard)"""


Stage = Callable[[DemoContext], None]


def stage_train(ctx: DemoContext) -> None:
    """Runs `ctx.trials` trials of the demo study with a progress bar."""
    import optuna

    from cappuccino_runtime.training.runner import TrainOptions, run_training

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = demo_config()
    market = demo_market()
    n_splits = comb(config.cpcv.n_groups, config.cpcv.n_test_groups)
    ctx.console.print(
        f"[bold]Training[/] study [cyan]{ctx.study_name}[/] on {market.n_bars} {market.timeframe} "
        f"bars of {', '.join(market.symbols)} ({market.index[0]:%Y-%m-%d} .. "
        f"{market.index[-1]:%Y-%m-%d}); storage {ctx.settings.storage}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.console,
    ) as progress:
        task = progress.add_task("trials x CPCV splits", total=ctx.trials * n_splits)

        def on_split(number: int, index: int) -> None:
            progress.update(
                task, advance=1, description=f"trial {number}, split {index + 1}/{n_splits}"
            )

        def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            # a pruned trial skips its remaining splits
            done = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            progress.update(task, completed=min(progress.tasks[0].total or 0, done * n_splits))

        run_training(
            TrainOptions(study=ctx.study_name, n_trials=ctx.trials, seed=ctx.seed),
            settings=ctx.settings,
            config=config,
            market=market,
            on_split=on_split,
            callbacks=[on_trial],
            notify=ctx.console.print,
        )


def stage_leaderboard(ctx: DemoContext) -> None:
    """Prints every finished trial of the demo study, best first."""
    import optuna
    from optuna.trial import TrialState

    from cappuccino_runtime.training.worker import open_storage

    study = optuna.load_study(study_name=ctx.study_name, storage=open_storage(ctx.settings.storage))
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        rows.append(
            {
                "study_name": study.study_name,
                "trial_id": t._trial_id,
                "number": t.number,
                "state": t.state.name,
                "sharpe_bot": t.user_attrs.get("mean_sharpe_bot"),
                "sharpe_hodl": t.user_attrs.get("mean_sharpe_hodl"),
                "timeframe": t.user_attrs.get("timeframe", ""),
                "artifact_uri": t.user_attrs.get("artifact_uri", ""),
            }
        )
    rows.sort(key=lambda r: (r["sharpe_bot"] is None, -(r["sharpe_bot"] or 0.0)))
    ctx.leaderboard = rows
    table = Table(title=f"Leaderboard of study {study.study_name!r} (mean CPCV Sharpe)")
    for col in ("study_name", "trial_id", "number", "state", "agent", "buy & hold", "timeframe"):
        table.add_column(col, justify="right" if col in ("trial_id", "number") else "left")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for r in rows:
        table.add_row(
            r["study_name"],
            str(r["trial_id"]),
            str(r["number"]),
            r["state"],
            fmt(r["sharpe_bot"]),
            fmt(r["sharpe_hodl"]),
            r["timeframe"],
        )
    ctx.console.print(table)
    if rows and rows[0]["artifact_uri"]:
        ctx.console.print(f"best model: {rows[0]['artifact_uri']}")


#: The demo's stages in order; later issues append (name, stage) pairs.
STAGES: list[tuple[str, Stage]] = [("train", stage_train), ("leaderboard", stage_leaderboard)]


def run_demo(
    home: str | Path | None = None,
    trials: int = 8,
    *,
    console: Console | None = None,
    stages: list[tuple[str, Stage]] | None = None,
) -> DemoContext:
    """Runs every stage on embedded defaults under `home` and returns the shared context."""
    settings = Settings.from_env(home=home)
    settings.ensure_dirs()
    ctx = DemoContext(settings=settings, trials=trials, console=console or Console())
    for name, stage in stages if stages is not None else STAGES:
        ctx.console.rule(f"[bold]{name}")
        stage(ctx)
    return ctx
