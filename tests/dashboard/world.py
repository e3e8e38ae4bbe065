"""A small demo-like run through the real code paths, for the dashboard tests.

1. `run_training` trains three trials of study `demo` and one of `demo-phase1` (two-phase) on
   the demo's training bars of the bundled sample with tiny PPO sizes (real CPCV, hold-out and
   artifacts);
2. the registry's `deploy` writes an arena and an ensemble under `home/deployments`;
3. `cappuccino arena` and `cappuccino trade` replay two held-out days on the replay broker into
   the SQLite ledger, exactly as `cappuccino demo`'s trading stage does with a file ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from cappuccino_runtime.settings import Settings

__all__ = ["REPLAY_END", "REPLAY_START", "DemoWorld", "build_demo_world"]

REPLAY_START = "2019-05-06T00:00:00Z"
"""Two days of the demo's held-out period (after the training bars end)."""
REPLAY_END = "2019-05-08T00:00:00Z"
TINY = {
    "search_space": {
        "net_dimension": {"type": "categorical", "choices": [16, 32]},
        "batch_size": {"choices": [64]},
        "num_steps": {"choices": [16]},
        "update_epochs": {"low": 1, "high": 2},
    },
    "env": {"num_envs": 4, "episode_length": 64},
    "ppo": {"total_timesteps": 256, "eval_interval": 1000},
    # 1200 bars: the CPCV embargo covers the features' support (94 bars for minimal, 187 for
    # standard/full), which leaves standard too few training bars between held-out groups
    "feature_set": "minimal",
    "phase1": {"feature_sets": ["minimal"]},
    "n_startup_trials": 4,
    "pruner_startup_trials": 10,
    "cpu_threads": 1,
}


@dataclass(frozen=True)
class DemoWorld:
    settings: Settings
    arena_config: Path
    ensemble_manifest: Path
    study: str = "demo"


def _cli(argv: list[str]) -> None:
    from cappuccino_runtime.cli.main import main

    try:
        main(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            raise AssertionError(f"cappuccino {' '.join(argv)} exited {e.code}") from e


def build_demo_world(
    home: Path, storage: str | None = None, ledger_url: str | None = None
) -> DemoWorld:
    """Trains, deploys and replays under `home` (about a minute on 2 shared cores); the Optuna
    storage and the ledger are SQLite files under `home` unless URLs are given."""
    from cappuccino_runtime.artifacts import ArtifactStore
    from cappuccino_runtime.demo import demo_market
    from cappuccino_runtime.deploy.build import deploy
    from cappuccino_runtime.registry.queries import connect
    from cappuccino_runtime.training.config import parse_config
    from cappuccino_runtime.training.runner import TrainOptions, run_training

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = Settings.from_env(home=home, device="cpu")
    settings = Settings.model_validate(
        {
            **settings.model_dump(),
            "storage": storage or f"sqlite:///{home / 'optuna.db'}",
            "ledger_url": ledger_url or f"sqlite:///{home / 'ledger.db'}",
            "artifact_root": str(home / "artifacts"),
            "data_cache": home / "data-cache",
        }
    )
    settings.ensure_dirs()
    config = parse_config(TINY, source="dashboard tests")
    market = demo_market().select(["BTC/USD", "ETH/USD"])
    for phase, n in (("phase1", 1), ("full", 3)):
        run_training(
            TrainOptions(study="demo", n_trials=n, seed=0, phase=phase),  # type: ignore[arg-type]
            settings=settings,
            config=config,
            market=market,
        )
    engine = connect(settings.storage)
    store = ArtifactStore(settings.artifact_root)
    out = home / "deployments"
    try:
        arena = deploy("arena", engine, store, "demo", 3, out / "arena", created_by="tests")
        ens = deploy("ensemble", engine, store, "demo", 3, out / "ensemble", created_by="tests")
    finally:
        engine.dispose()
    replay = [
        "--broker",
        "replay",
        "--ledger-url",
        settings.ledger_url,
        "--replay-start",
        REPLAY_START,
        "--replay-end",
        REPLAY_END,
    ]
    _cli(["arena", "--config", str(arena.manifest_path), *replay])
    _cli(["trade", "--manifest", str(ens.manifest_path), *replay])
    return DemoWorld(settings, arena.manifest_path, ens.manifest_path)
