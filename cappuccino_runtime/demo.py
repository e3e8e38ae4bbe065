"""`cappuccino demo`: the whole system on a laptop, on embedded defaults, in a few minutes.

The demo is a list of stages run in order over one shared `DemoContext`:

1. `stage_train`: a small study on the bundled Coinbase sample (SQLite under the home dir,
   artifacts under it, CPU or a visible GPU), with a progress bar over trials x CPCV splits;
   each split's agent trains 20k PPO steps, enough to move from its initialisation;
2. `stage_leaderboard`: prints the trials (study_name, trial_id, number, Sharpe of the agent vs
   equal-weight buy-and-hold) with the training diagnostics that show whether an agent learned
   at all (approx_kl, policy std, explained variance) and its held-out turnover and exposure;
3. `stage_refit`: refits the top trials' hyperparameters on all pre-hold-out bars and scores each
   refit agent once on the study's final hold-out (its own number), then prints the study's
   PBO and deflated Sharpe ratio (how likely the search is to be overfit);
4. `stage_validate_deploy`: validates the refit models (the seven checkpoints), prints the report
   and deploys an arena and an ensemble directory under `{home}/deployments`, through the DSR
   gate (overridden for the demo, and the override recorded in the manifests);
5. `stage_replay`: replays the held-out last 30 days (never seen by training) with the arena and
   the ensemble on the replay broker, next to buy-and-hold, equal-weight rebalanced and cash,
   with trades, turnover, fees and exposure on every row.
"""

from __future__ import annotations

import math
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
    "DEMO_TRIALS",
    "STAGES",
    "DemoContext",
    "demo_config",
    "demo_held_out",
    "demo_market",
    "run_demo",
    "stage_leaderboard",
    "stage_refit",
    "stage_replay",
    "stage_train",
    "stage_validate_deploy",
]

DEMO_STUDY = "demo"
DEMO_BARS = 3000
"""The demo trains on DEMO_BARS hourly bars of the bundled sample (about 4 months)..."""
DEMO_HELD_OUT_BARS = 720
"""...that end DEMO_HELD_OUT_BARS bars (30 days) before the sample does: the held-out period the
replay stage trades, which training and model selection never see."""
DEMO_HISTORY_BARS = 256
"""Bars before the held-out period given to the replay for feature warm-up and lookback."""

DEMO_CONFIG: dict[str, Any] = {
    # Sized so the agents really train (20k PPO steps per split, 3 CPCV splits per trial: the
    # policy moves from its initialisation, see the leaderboard's diagnostics) and one trial
    # still takes under a minute on 2 CPU cores. The original ranges are kept for gamma,
    # lookback and GAE lambda.
    "search_space": {
        "net_dimension": {"type": "categorical", "choices": [64]},
        "batch_size": {"choices": [256, 512]},
        "num_steps": {"choices": [64]},
        "update_epochs": {"low": 4, "high": 6},
        "learning_rate": {"low": 2e-4, "high": 1e-3},
        "ent_coef": 0.0,
    },
    "env": {"num_envs": 16, "episode_length": 128},
    "ppo": {"total_timesteps": 20_480, "eval_interval": 1000},
    "cpcv": {"n_groups": 3, "n_test_groups": 1},
    "n_startup_trials": 4,
    "pruner_startup_trials": 4,
    "cpu_threads": 1,
}

DEMO_REFIT_TOP_N = 3
"""Trials whose hyperparameters the demo refits (one seed each) and deploys."""
DEMO_MIN_DSR = 0.95
"""The DSR gate the demo reports against (the `deploy` default)."""

DEMO_TRIALS = 4
"""Trials `cappuccino demo` runs by default (about a minute each on 2 CPU cores)."""


def demo_config() -> Any:
    """The demo's TrainingConfig."""
    from cappuccino_runtime.training.config import parse_config

    return parse_config(DEMO_CONFIG, source="demo")


def demo_market() -> Any:
    """The demo's training data: DEMO_BARS hourly bars of the bundled sample, all symbols,
    ending where the held-out period begins."""
    from cappuccino_runtime.data import load_sample

    market = load_sample(None, "1h")
    end = market.n_bars - DEMO_HELD_OUT_BARS
    return market.slice(max(0, end - DEMO_BARS), end)


def demo_held_out() -> Any:
    """The held-out period (the sample's last DEMO_HELD_OUT_BARS bars) with DEMO_HISTORY_BARS of
    history before it; the first decision is at index DEMO_HISTORY_BARS."""
    from cappuccino_runtime.data import load_sample

    market = load_sample(None, "1h")
    return market.slice(market.n_bars - DEMO_HELD_OUT_BARS - DEMO_HISTORY_BARS, market.n_bars)


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
    min_dsr: float | None = DEMO_MIN_DSR
    """the DSR gate deploy reports against (overridden for the demo, recorded in manifests)"""
    refits: list[Any] = field(default_factory=list)
    """refit agents with their own hold-out numbers (filled by stage_refit)"""
    deployment: Any = None
    """the validation report and the arena/ensemble directories (filled by stage_validate_deploy)"""


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

    from cappuccino_runtime.agent.ppo import PPOArgs
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
                **_mean_diagnostics(t.user_attrs.get("split_diagnostics") or []),
            }
        )
    rows.sort(key=lambda r: (r["sharpe_bot"] is None, -(r["sharpe_bot"] or 0.0)))
    ctx.leaderboard = rows
    table = Table(title=f"Leaderboard of study {study.study_name!r} (mean over CPCV splits)")
    columns = ("study_name", "trial_id", "number", "state", "agent", "buy & hold", "approx_kl",
               "policy std", "expl. var", "turnover/bar", "trades/bar", "exposure")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col in ("study_name", "state") else "right")

    def fmt(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    for r in rows:
        table.add_row(
            r["study_name"],
            str(r["trial_id"]),
            str(r["number"]),
            r["state"],
            fmt(r["sharpe_bot"]),
            fmt(r["sharpe_hodl"]),
            fmt(r.get("approx_kl"), ".1e"),
            fmt(r.get("policy_std")),
            fmt(r.get("explained_variance"), ".2f"),
            fmt(r.get("turnover_per_bar")),
            fmt(r.get("trades_per_bar")),
            fmt(r.get("exposure"), ".0%"),
        )
    ctx.console.print(table)
    ctx.console.print(
        "agent / buy & hold: annualised Sharpe of the held-out CPCV episodes, net of fees. "
        f"approx_kl (mean PPO policy change per update; ~0 = the agent never learned), policy "
        f"std (exploration noise; it starts at {PPOArgs().init_log_std:.2f} in log, "
        f"{math.exp(PPOArgs().init_log_std):.3f}), explained variance of the critic (<= 0: "
        "it predicts nothing), turnover per bar (share of the book traded), trades per bar and "
        "exposure (invested share) are held-out diagnostics. An untrained agent holds "
        "buy-and-hold: agent == buy & hold, turnover ~0."
    )
    if rows and rows[0]["artifact_uri"]:
        ctx.console.print(f"best model: {rows[0]['artifact_uri']}")


def _mean_diagnostics(splits: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean of each split diagnostic over the splits (None where no split has it)."""
    keys = {k for d in splits for k in d}
    out: dict[str, float | None] = {}
    for key in keys:
        values = [d[key] for d in splits if d.get(key) is not None]
        out[key] = float(sum(values) / len(values)) if values else None
    return out


def stage_refit(ctx: DemoContext) -> None:
    """Refits the top trials on all pre-hold-out bars, scores each once on the hold-out and
    prints those numbers beside the study's PBO and DSR (`cappuccino models refit` and
    `cappuccino study report`)."""
    import optuna

    from cappuccino_runtime.training.refit import RefitOptions, run_refit
    from cappuccino_runtime.training.report import REPORT_ATTR
    from cappuccino_runtime.training.worker import open_storage

    with ctx.console.status("refitting the top trials on all pre-hold-out bars"):
        ctx.refits = run_refit(
            RefitOptions(study=ctx.study_name, top_n=DEMO_REFIT_TOP_N, seeds=1, seed=ctx.seed),
            settings=ctx.settings,
            market=demo_market(),
        )
    table = Table(title=f"Refit agents (study {ctx.study_name}-refit): each one's own hold-out")
    for col in ("trial_id", "number", "from trial_id", "hold-out Sharpe", "buy & hold", "bars",
                "DSR"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in ctx.refits:
        table.add_row(
            str(r.trial_id),
            str(r.number),
            str(r.source_trial_id),
            f"{r.holdout_sharpe:.3f}",
            f"{r.holdout_sharpe_hodl:.3f}",
            str(r.holdout_bars),
            "-" if r.dsr is None else f"{r.dsr:.3f}",
        )
    ctx.console.print(table)
    study = optuna.load_study(study_name=ctx.study_name, storage=open_storage(ctx.settings.storage))
    report = study.user_attrs.get(REPORT_ATTR) or {}

    def num(key: str) -> str:
        value = report.get(key)
        return "not computed" if value is None else f"{value:.3f}"

    ctx.console.print(
        f"Study {ctx.study_name!r}: PBO {num('pbo')} (probability that the best CPCV trial is "
        f"below the median out of sample; 0.5 = selection is luck), DSR {num('dsr')} over "
        f"{report.get('n_trials', 0)} configurations tried (probability that the selected "
        f"Sharpe beats the best of that many zero-skill trials; the deploy gate is "
        f"{DEMO_MIN_DSR}). Hold-out Sharpe is each refit agent's own, on bars no trial, pruner "
        "or selection saw; a demo this small is not expected to pass the gate.",
        markup=False,
    )


def stage_validate_deploy(ctx: DemoContext) -> None:
    """Validates the top models, prints the report, deploys an arena and an ensemble."""
    from cappuccino_runtime.deploy.demo import stage_validate_deploy as validate_and_deploy

    ctx.deployment = validate_and_deploy(ctx)


def stage_replay(ctx: DemoContext) -> None:
    """Replays the held-out period with the deployed arena and ensemble on the replay broker
    and prints the arena ranking, the ensemble's result and buy-and-hold side by side."""
    from cappuccino_runtime.persistence import open_sql_ledger
    from cappuccino_runtime.trading import demo_stage

    if ctx.deployment is None:
        raise RuntimeError("stage_replay needs stage_validate_deploy to run first.")
    url = _fresh_demo_ledger(ctx.settings)
    ledger = open_sql_ledger(url) if url is not None else None
    try:
        demo_stage(
            ctx.deployment.arena_dir,
            ctx.deployment.ensemble_dir,
            demo_held_out(),
            ctx.console,
            start=DEMO_HISTORY_BARS,
            ledger=ledger,
        )
    finally:
        if ledger is not None:
            ledger.engine.dispose()
    if url is None:
        ctx.console.print(
            f"The replay was kept in memory: CAPPUCCINO_LEDGER_URL points at "
            f"{ctx.settings.ledger_url.split('@')[-1]!r}, which the demo does not overwrite.",
            markup=False,
        )


def _fresh_demo_ledger(settings: Settings) -> str | None:
    """The home's own SQLite ledger, emptied (a ledger that already decided the held-out bars
    would not trade them again); None when the ledger URL points elsewhere."""
    default = Path(settings.home) / "ledger.db"
    if settings.ledger_url != f"sqlite:///{default}":
        return None
    for leftover in default.parent.glob("ledger.db*"):
        leftover.unlink()
    return settings.ledger_url


#: The demo's stages in order.
STAGES: list[tuple[str, Stage]] = [
    ("train", stage_train),
    ("leaderboard", stage_leaderboard),
    ("refit + overfitting report", stage_refit),
    ("validate + deploy", stage_validate_deploy),
    ("replay held-out period", stage_replay),
]


def run_demo(
    home: str | Path | None = None,
    trials: int = DEMO_TRIALS,
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
    home_arg = f" --home {settings.home}" if home is not None else ""
    ctx.console.print(
        f"Open the dashboard: `cappuccino dashboard{home_arg}` (web, http://127.0.0.1:8050) or "
        f"`cappuccino dashboard{home_arg} --tui` (terminal); a shareable report: "
        f"`cappuccino report{home_arg} --study {ctx.study_name} --out report/`.",
        markup=False,
    )
    return ctx
