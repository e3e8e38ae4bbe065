"""Wall time of one Optuna trial of the demo configuration (what `cappuccino demo` runs N times).

Run: `python -m benchmarks.trial_time [--trials 2] [--device auto|cpu|cuda]`.

Each trial runs exactly as in the demo: TPE sampling from the demo search space, 6 CPCV
splits (train PPO, score on the held-out episodes), user attrs in a SQLite study and artifacts
written under a temporary home. Per trial it prints the total wall time and the time of each
split; the first trial also pays one-off costs (torch's lazy imports, the first feature
computation), so later trials are the steady state. Wall time on a shared machine
includes waiting for the CPU, so the process's CPU time is printed beside it. Nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import optuna


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2, help="trials to time (default 2)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    args = parser.parse_args(argv)

    import torch

    from cappuccino_runtime.demo import DEMO_STUDY, demo_config, demo_market
    from cappuccino_runtime.settings import Settings, pick_device
    from cappuccino_runtime.training.runner import TrainOptions, run_training

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = pick_device(args.device)
    config = demo_config()
    market = demo_market()
    marks: list[tuple[int, int, float]] = []
    finished: list[float] = []
    cpu_marks: list[float] = []

    with tempfile.TemporaryDirectory(prefix="cappuccino-bench-") as home:
        settings = Settings.from_env(home=home).model_copy(
            update={
                "storage": f"sqlite:///{os.path.join(home, 'optuna.db')}",
                "artifact_root": os.path.join(home, "artifacts"),
                "device": device,
            }
        )
        start = time.perf_counter()
        cpu_start = time.process_time()
        run_training(
            TrainOptions(study=DEMO_STUDY, n_trials=args.trials, seed=0),
            settings=settings,
            config=config,
            market=market,
            on_split=lambda number, index: marks.append((number, index, time.perf_counter())),
            callbacks=[
                lambda study, trial: (
                    finished.append(time.perf_counter()),
                    cpu_marks.append(time.process_time()),
                )
            ],
        )
        study = optuna.load_study(study_name=DEMO_STUDY, storage=settings.storage)

    print(
        f"trial_time: demo configuration, {market.n_bars} {market.timeframe} bars x "
        f"{market.n_assets} assets, device {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else "")
        + f", torch threads {torch.get_num_threads()}, "
        f"{config.ppo.total_timesteps} PPO steps per split"
    )
    begin, cpu_begin = start, cpu_start
    walls = []
    for trial, end, cpu_end in zip(study.trials, finished, cpu_marks, strict=True):
        splits = [t for n, _, t in marks if n == trial.number]
        durations = [b - a for a, b in zip([begin, *splits], splits, strict=False)]
        wall = end - begin
        walls.append(wall)
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
        )
        print(
            f"  trial {trial.number} ({trial.state.name}, value {trial.value:.3f}): "
            f"{wall:.2f} s wall ({cpu_end - cpu_begin:.2f} s CPU of this process); splits "
            + " ".join(f"{d:.2f}" for d in durations)
            + f" s\n    {params}"
        )
        begin, cpu_begin = end, cpu_end
    steady = walls[1:] or walls
    print(
        f"one trial: first {walls[0]:.2f} s (includes one-off imports), "
        f"steady-state median {statistics.median(steady):.2f} s; "
        f"a {args.trials}-trial demo ≈ {sum(walls):.1f} s of training"
    )


if __name__ == "__main__":
    main()
