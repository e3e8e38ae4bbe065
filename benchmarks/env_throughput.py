"""Env steps per second of VecTradingEnv against the per-step NumPy oracle, measured in one run.

    python -m benchmarks.env_throughput [--data DIR] [--steps N] [--rounds R] [--threads K]
                                         [--device auto|cpu|cuda] [--batch 1,64,1024,4096]

Data: the four Binance *_USDT-1h.json files in ../shared/data (4 assets, aligned where all
trade), the "standard" feature set normalised, lookback 5. An env-step is one episode advancing
one bar, so one call of step() on B envs counts B env-steps. Actions are random (fixed seed) and
already on the device, so only the env is timed. Each figure is the best of R rounds of N calls,
which filters out time stolen by other processes on a shared machine; the baseline
(ReferenceTradingEnv: one episode, one step at a time, NumPy) is measured the same way, in the
same process, its rounds interleaved with the env's. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import add_compute_args, add_data_arg, apply_compute_args
from cappuccino_runtime.env import EnvConfig, VecTradingEnv
from cappuccino_runtime.env.reference import ReferenceTradingEnv

SYMBOLS = ("BTC", "ETH", "LTC", "SOL")


def load_inputs(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """open, close [T, A] and normalised features [T, A, F] of the four USDT pairs."""
    try:
        from cappuccino_runtime.data import load_market_data
        from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars
    except ImportError:
        return _load_inputs_plain(data_dir)
    import logging

    logging.getLogger("cappuccino_runtime").setLevel(logging.ERROR)  # data-quality notes
    md = load_market_data(str(data_dir / "*_USDT-1h.json"), [f"{s}/USDT" for s in SYMBOLS], "1h")
    raw = compute_features(md, "standard")
    warm = warmup_bars("standard")
    features = Normalizer.fit(raw[warm:]).transform(raw[warm:])
    return md.open[warm:], md.close[warm:], features, "load_market_data + standard features"


def _load_inputs_plain(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Fallback without the data package: bars on common hours, log returns as features."""
    series = []
    for symbol in SYMBOLS:
        rows = np.asarray(json.loads((data_dir / f"{symbol}_USDT-1h.json").read_text()))
        series.append({int(r[0]): (r[1], r[4]) for r in rows})
    common = sorted(set.intersection(*(set(s) for s in series)))
    bars = np.array([[s[t] for s in series] for t in common])  # [T, A, 2]
    open_, close = bars[..., 0], bars[..., 1]
    ret = np.diff(np.log(close), axis=0, prepend=np.log(close[:1]))
    features = np.stack([ret, np.diff(ret, axis=0, prepend=0.0)], axis=2)
    features = (features - features.mean((0, 1))) / features.std((0, 1))
    return open_, close, features.astype(np.float32), "plain JSON reader + 2 return features"


def torch_runner(
    open_: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    config: EnvConfig,
    batch: int,
    steps: int,
    device: torch.device,
) -> Callable[[], None]:
    """A callable doing `steps` step() calls on B=batch envs (random actions, on the device)."""
    env = VecTradingEnv(open_, close, features, config, num_envs=batch, device=device, seed=0)
    env.reset()
    gen = torch.Generator().manual_seed(1)
    actions = torch.randn((steps, batch, env.action_dim), generator=gen).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run() -> None:
        for k in range(steps):
            env.step(actions[k])
        sync()

    return run


def reference_runner(
    open_: np.ndarray, close: np.ndarray, features: np.ndarray, config: EnvConfig, steps: int
) -> Callable[[], None]:
    """A callable running the NumPy oracle for `steps` steps of one episode."""
    env = ReferenceTradingEnv(open_, close, features, config)
    actions = np.random.default_rng(1).standard_normal((steps, open_.shape[1]))

    def run() -> None:
        env.reset(config.lookback - 1)
        for k in range(steps):
            env.step(actions[k])

    return run


def best_rates(
    runs: dict[str, tuple[Callable[[], None], int]], rounds: int
) -> dict[str, tuple[float, float]]:
    """(wall-clock, CPU-time) env-steps/s of each (run, env-steps per run), each the best of
    `rounds`. Rounds are interleaved so every candidate gets the same chances at a quiet
    machine; CPU time (this process only) is the steadier figure when others share the cores."""
    wall = dict.fromkeys(runs, float("inf"))
    cpu = dict.fromkeys(runs, float("inf"))
    for run, _ in runs.values():
        run()  # warm-up: allocator, caches, CUDA context
    for _ in range(rounds):
        for name, (run, _) in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return {name: (runs[name][1] / wall[name], runs[name][1] / cpu[name]) for name in runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arg(parser)
    parser.add_argument("--steps", type=int, default=200, help="step() calls per round.")
    parser.add_argument("--rounds", type=int, default=7, help="Rounds per figure (best kept).")
    add_compute_args(parser)
    parser.add_argument("--batch", default="1,64,1024,4096", help="Comma-separated B values.")
    args = parser.parse_args(argv)
    device = apply_compute_args(args)

    open_, close, features, how = load_inputs(args.data)
    config = EnvConfig(lookback=5, episode_length=min(720, len(close) - 5))
    batches = [int(b) for b in args.batch.split(",")]
    ref_steps = args.steps * 5
    runs = {"numpy": (reference_runner(open_, close, features, config, ref_steps), ref_steps)}
    for b in batches:
        runs[str(b)] = (
            torch_runner(open_, close, features, config, b, args.steps, device),
            b * args.steps,
        )
    rates = best_rates(runs, args.rounds)
    ref_wall, ref_cpu = rates["numpy"]
    print(
        f"data: {args.data} ({how}); T={close.shape[0]} bars, A={close.shape[1]} assets, "
        f"F={features.shape[2]} features, lookback={config.lookback}"
    )
    print(
        f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f}; best of {args.rounds} interleaved rounds of {args.steps} "
        "step() calls"
    )
    print(
        f"NumPy reference (1 episode, per step): {ref_wall:,.0f} env-steps/s wall-clock, "
        f"{ref_cpu:,.0f} per CPU-second\n"
    )
    print(
        f"{'B':>6}  {'env-steps/s':>14}  {'us per step()':>13}  {'vs NumPy':>9}  "
        f"{'vs NumPy, CPU time':>18}"
    )
    for b in batches:
        rate, rate_cpu = rates[str(b)]
        cpu_ratio = f"{rate_cpu / ref_cpu:>17.1f}x" if device.type == "cpu" else f"{'-':>18}"
        print(
            f"{b:>6}  {rate:>14,.0f}  {b / rate * 1e6:>13.1f}  {rate / ref_wall:>8.1f}x  "
            f"{cpu_ratio}"
        )


if __name__ == "__main__":
    main()
