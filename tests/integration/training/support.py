"""Tiny training configs and worker-process helpers for the training integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cappuccino_runtime.data import MarketData, load_sample
from cappuccino_runtime.settings import Settings

# Sizes shrunk so a trial (6 CPCV splits) takes about a second on one CPU core.
TINY_CONFIG: dict[str, Any] = {
    "search_space": {
        "net_dimension": {"type": "categorical", "choices": [16]},
        "batch_size": {"choices": [64]},
        "num_steps": {"choices": [32]},
        "update_epochs": {"low": 1, "high": 2},
    },
    "env": {"num_envs": 4, "episode_length": 64},
    "ppo": {"total_timesteps": 256, "eval_interval": 1000},
    "n_startup_trials": 2,
    "pruner_startup_trials": 10,
    "cpu_threads": 1,
    "phase1": {"timeframes": ["30m", "1h", "4h"], "feature_sets": ["minimal", "standard"]},
}


def tiny_market() -> MarketData:
    """The last 2200 hourly bars of the bundled sample (what TINY_CONFIG trains on)."""
    md = load_sample(None, "1h")
    return md.slice(md.n_bars - 2200, md.n_bars)


def local_settings(home: Path, storage: str | None = None) -> Settings:
    """Settings under `home`: artifacts in home/art, the study in `storage` (default: a SQLite
    file in home)."""
    return Settings.from_env(home=home, storage=None).model_copy(
        update={
            "storage": storage or f"sqlite:///{home / 'optuna.db'}",
            "artifact_root": str(home / "art"),
        }
    )


def train_tiny(settings: Settings, study: str, n_trials: int, seed: int) -> MarketData:
    """Runs `n_trials` TINY_CONFIG trials of `study` on tiny_market() (CPU); returns the bars."""
    from cappuccino_runtime.training.config import parse_config
    from cappuccino_runtime.training.runner import TrainOptions, run_training

    market = tiny_market()
    run_training(
        TrainOptions(study=study, n_trials=n_trials, seed=seed, device="cpu"),
        settings=settings,
        config=parse_config(TINY_CONFIG),
        market=market,
    )
    return market


# About 2200 hourly bars of the bundled sample.
DATA_ARGS = ["--data", "sample", "--start", "2019-03-01", "--end", "2019-06-01"]


def write_config(path: Path, **overrides: Any) -> Path:
    """Writes TINY_CONFIG (with top-level section overrides merged in) as YAML."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY_CONFIG.items()}
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


def worker_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a `cappuccino train` subprocess with its own home and short heartbeats."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env.update(
        CAPPUCCINO_HOME=str(home),
        CAPPUCCINO_DEVICE="cpu",
        CAPPUCCINO_HEARTBEAT_INTERVAL="1",
        CAPPUCCINO_HEARTBEAT_GRACE="3",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def start_worker(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Starts `cappuccino train ...` (the installed console script's module) in a new process."""
    cmd = [sys.executable, "-m", "cappuccino_runtime.cli.main", "train", *args]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
