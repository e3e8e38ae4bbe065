"""The ONE place that builds the `cappuccino ...` argv lists the operator's pods run: the
TrainingSweep worker (`train`), the refit Job (`models refit`), the trader's init container
(`validate --manifest`) and the traders (`trade`, `arena`).

Stdlib only, so the torch-free operator image builds them and the runtime's CLI is checked
against them: tests/test_command_contract.py parses each one with the runtime's real Typer app
and FAILS (never skips) when a command or flag is missing, so a renamed flag breaks a test, not a
cluster. docs/CONTRACTS.md ("CLI") describes the commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DataOptions",
    "Replay",
    "TraderOptions",
    "arena_command",
    "refit_command",
    "study_create_command",
    "trade_command",
    "train_command",
    "validate_command",
]

Broker = Literal["alpaca", "replay"]


def _opt(argv: list[str], flag: str, value: object | None) -> None:
    if value is not None:
        argv += [flag, str(value)]


@dataclass(frozen=True)
class DataOptions:
    """The market data and device options `train` and `models refit` share."""

    data: str | None = None
    symbols: Sequence[str] = ()
    timeframe: str | None = None
    start: str | None = None
    end: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def argv(self) -> list[str]:
        argv: list[str] = []
        _opt(argv, "--data", self.data)
        if self.symbols:
            argv += ["--symbols", ",".join(self.symbols)]
        _opt(argv, "--timeframe", self.timeframe)
        _opt(argv, "--start", self.start)
        _opt(argv, "--end", self.end)
        return [*argv, "--device", self.device]


def train_command(
    *,
    study: str,
    study_budget: int | None = None,
    study_budget_file: str | None = None,
    phase: Literal["full", "phase1", "phase2"] = "full",
    data: DataOptions = DataOptions(),
    config: str | None = None,
    artifact_root: str | None = None,
    metrics_port: int | None = None,
) -> list[str]:
    """`cappuccino train`: one TrainingSweep worker; runs trials until the study holds
    `study_budget` finished trials, so any number of workers share one budget. The operator
    passes `study_budget_file` instead (its ConfigMap key, re-read between trials), so raising
    a budget never changes the pod template. The storage URL comes from the CAPPUCCINO_STORAGE
    env var (a secretKeyRef), never from argv."""
    if study_budget is None and study_budget_file is None:
        raise ValueError("train_command needs study_budget or study_budget_file")
    argv = ["cappuccino", "train", "--study", study]
    _opt(argv, "--study-budget", study_budget)
    _opt(argv, "--study-budget-file", study_budget_file)
    argv += ["--phase", phase, *data.argv()]
    _opt(argv, "--config", config)
    _opt(argv, "--artifact-root", artifact_root)
    _opt(argv, "--metrics-port", metrics_port)  # trials done/pruned/failed, env-steps/s
    return argv


def refit_command(
    *,
    study: str,
    top_n: int,
    seeds: int,
    data: DataOptions = DataOptions(),
    artifact_root: str | None = None,
) -> list[str]:
    """`cappuccino models refit` (contract 1): the best `top_n` trials of `study` retrained on
    all pre-hold-out bars with `seeds` seeds each, scored once on the hold-out, into study
    `<study>-refit`. Storage from CAPPUCCINO_STORAGE, as for train."""
    argv = ["cappuccino", "models", "refit", "--study", study]
    argv += ["--top-n", str(top_n), "--seeds", str(seeds), *data.argv()]
    _opt(argv, "--artifact-root", artifact_root)
    return argv


def study_create_command(*, study: str, direction: str = "maximize") -> list[str]:
    """`cappuccino study create` (for users and charts; the operator creates studies itself)."""
    return ["cappuccino", "study", "create", "--study", study, "--direction", direction]


def validate_command(*, manifest: str, artifacts: str | None = None) -> list[str]:
    """`cappuccino validate --manifest`: the trader's init container; exits non-zero with a
    clear message when any model of the frozen manifest fails a checkpoint."""
    argv = ["cappuccino", "validate", "--manifest", manifest]
    _opt(argv, "--artifacts", artifacts)
    return argv


@dataclass(frozen=True)
class Replay:
    """`--replay-*` options of the replay broker."""

    data: str = "sample"
    start: str | None = None
    end: str | None = None
    seconds_per_bar: float = 1.0


@dataclass(frozen=True)
class TraderOptions:
    """The options `trade` and `arena` share. The ledger URL comes from CAPPUCCINO_LEDGER_URL
    (a secretKeyRef), never from argv."""

    broker: Broker
    poll_interval: int
    metrics_port: int
    state_dir: str
    portfolio_id: str
    artifacts: str | None = None
    replay: Replay | None = None

    def argv(self) -> list[str]:
        argv = ["--broker", self.broker, "--poll-interval", str(self.poll_interval)]
        argv += ["--metrics-port", str(self.metrics_port), "--state-dir", self.state_dir]
        argv += ["--portfolio-id", self.portfolio_id]
        _opt(argv, "--artifacts", self.artifacts)
        if self.broker == "replay" and self.replay is not None:
            argv += ["--replay-data", self.replay.data]
            _opt(argv, "--replay-start", self.replay.start)
            _opt(argv, "--replay-end", self.replay.end)
            argv += ["--replay-seconds-per-bar", str(self.replay.seconds_per_bar)]
        return argv


def trade_command(*, manifest: str, options: TraderOptions) -> list[str]:
    """`cappuccino trade`: an Ensemble's trader; `options.portfolio_id` is "<namespace>/<name>"
    (docs/CONTRACTS.md)."""
    return ["cappuccino", "trade", "--manifest", manifest, *options.argv()]


def arena_command(*, config: str, options: TraderOptions) -> list[str]:
    """`cappuccino arena`: an Arena's trader; `options.portfolio_id` is the arena id
    "<ns>/<name>", each member's portfolio is "<ns>/<name>/<study_name>:<trial_id>"."""
    return ["cappuccino", "arena", "--config", config, *options.argv()]
