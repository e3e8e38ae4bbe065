"""PPO training throughput (rollout + update) of our `train` against Stable-Baselines3 and a FLOP bound.

    python -m benchmarks.ppo_throughput [--data DIR] [--envs 1,64] [--sb3-envs 1]
                                         [--iterations 3] [--rounds 3] [--threads 1]
                                         [--device cpu|cuda|auto] [--profile]

Three figures, measured in one process on the same data and sizes:

- **ours**: `cappuccino_runtime.agent.ppo.train` on `VecTradingEnv` with B parallel envs.
- **SB3**: Stable-Baselines3 PPO (a benchmark-only dependency: `pip install -e .[bench]`) on
  the per-step NumPy reference env (`ReferenceTradingEnv`) wrapped as a gymnasium Env, in a
  `DummyVecEnv` of B copies (B=1 is the usual SB3 setup).
- **bound**: the time the matmuls of rollout + update alone take at a measured rate, i.e. what
  PPO would run at if everything but the dense layers (env, activations, sampling, losses,
  Adam, Python) were free. Each matmul shape PPO performs is timed with `torch.mm` (forward at
  batch B in the rollout; forward, weight gradient and input gradient at the minibatch in the
  update; the first layer's input needs no gradient), so the rate is the one this machine
  reaches on exactly those shapes, not a peak figure.

Same sizes for both agents: 4 assets (BTC, ETH, LTC, SOL Binance 1h bars, the "standard"
features), lookback 5, actor and critic MLPs 256x256 with tanh, rollout 2048 transitions per
update (num_steps = 2048 / B), minibatch 256, 4 epochs (8 minibatches each), no early stop on
KL. An env-step is one transition collected and trained on; throughput = rollout size x
iterations / time of the whole `train()` / `learn()` call (network init and env reset
included, a few ms). Each figure is the best of R rounds (other processes on a shared machine
only ever make a round slower); CPU time of this process is printed beside wall-clock because
it is the steadier figure when the cores are shared. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmarks._common import add_compute_args, add_data_arg, apply_compute_args
from benchmarks.env_throughput import load_inputs
from cappuccino_runtime.agent.ppo import PPOArgs, train
from cappuccino_runtime.env import EnvConfig, VecTradingEnv
from cappuccino_runtime.env.reference import ReferenceTradingEnv

ROLLOUT = 2048
MINIBATCH = 256
EPOCHS = 4
HIDDEN = 256
LOOKBACK = 5


@dataclass(frozen=True)
class Rate:
    """Env-steps per second, wall-clock and per CPU-second of this process."""

    wall: float
    cpu: float


def best_rate(
    run: Callable[[], None], env_steps: int, rounds: int, sync: Callable[[], None]
) -> Rate:
    """Best of `rounds` timings of `run` (after one warm-up call), as env-steps per second."""
    run()
    sync()
    wall = cpu = float("inf")
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        sync()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return Rate(env_steps / wall, env_steps / cpu)


# --- The FLOP bound ------------------------------------------------------------------------


def ppo_matmuls(
    obs_dim: int, action_dim: int, hidden: int, num_envs: int, minibatch: int, epochs: int
) -> list[tuple[tuple[int, int, int], float]]:
    """Every dense-layer matmul of one env-step of PPO: ((m, k, n), calls per env-step).

    Rollout: one forward of the actor and of the critic per step of B envs, i.e. 1/B calls of
    each [B, k] @ [k, n] per env-step. Update: every transition passes `epochs` times through
    a minibatch forward ([mb, k] @ [k, n]), a weight gradient ([k, mb] @ [mb, n]) and, except
    for the first layer, an input gradient ([mb, n] @ [n, k]): epochs / mb calls of each.
    The critic's extra forward on the final states of truncated episodes (once per episode of
    720 steps) is left out.
    """
    layers = [
        (k, n)
        for out in (action_dim, 1)  # actor, critic
        for k, n in ((obs_dim, hidden), (hidden, hidden), (hidden, out))
    ]
    rollout = [((num_envs, k, n), 1.0 / num_envs) for k, n in layers]
    per_mb = epochs / minibatch
    update = [((minibatch, k, n), per_mb) for k, n in layers]
    update += [((k, minibatch, n), per_mb) for k, n in layers]
    update += [((minibatch, n, k), per_mb) for k, n in layers if k != obs_dim]
    return rollout + update


def matmul_seconds(
    shape: tuple[int, int, int], device: torch.device, rounds: int, sync: Callable[[], None]
) -> float:
    """Best time of one [m, k] @ [k, n] float32 matmul on `device` (CPU time on CPU)."""
    m, k, n = shape
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    calls = max(4, min(2000, int(2e9 / (2 * m * k * n))))  # ~2 GFLOP per timing
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    torch.mm(a, b)
    sync()
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        for _ in range(calls):
            torch.mm(a, b)
        sync()
        best = min(best, (clock() - start) / calls)
    return best


@dataclass(frozen=True)
class Bound:
    flops_per_step: float
    seconds_per_step: float

    @property
    def rate(self) -> float:
        return 1.0 / self.seconds_per_step

    @property
    def gflops(self) -> float:
        return self.flops_per_step / self.seconds_per_step / 1e9


def flop_bound(
    obs_dim: int, action_dim: int, num_envs: int, device: torch.device, rounds: int
) -> Bound:
    """FLOPs per env-step and the time their matmuls take at the rate measured per shape."""
    sync = _sync(device)
    flops = seconds = 0.0
    timed: dict[tuple[int, int, int], float] = {}
    for shape, calls in ppo_matmuls(obs_dim, action_dim, HIDDEN, num_envs, MINIBATCH, EPOCHS):
        if shape not in timed:
            timed[shape] = matmul_seconds(shape, device, rounds, sync)
        m, k, n = shape
        flops += calls * 2 * m * k * n
        seconds += calls * timed[shape]
    return Bound(flops, seconds)


def nets_seconds(
    obs_dim: int, action_dim: int, num_envs: int, device: torch.device, rounds: int
) -> float:
    """Seconds per env-step of the actor's and critic's own passes, nothing else.

    Rollout: both forwards at batch B without autograd, 1/B of a call per env-step. Update:
    forward and backward of both at the minibatch, epochs/minibatch calls per env-step. Adds to
    the matmuls what the layers themselves cost in eager PyTorch (bias, tanh and its gradient,
    autograd), but no env, sampling, losses or optimiser: a ceiling for any PPO built on these
    networks without changing their arithmetic.
    """
    from cappuccino_runtime.agent.networks import Actor, Critic

    sync = _sync(device)
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    actor = Actor(obs_dim, action_dim, HIDDEN).to(device)
    critic = Critic(obs_dim, HIDDEN).to(device)
    rollout_obs = torch.randn(num_envs, obs_dim, device=device)
    mb_obs = torch.randn(MINIBATCH, obs_dim, device=device)

    def rollout() -> None:
        with torch.no_grad():
            actor(rollout_obs)
            critic(rollout_obs)

    def update() -> None:
        (actor(mb_obs).sum() + critic(mb_obs).sum()).backward()

    def best(step: Callable[[], None], calls: int) -> float:
        step()
        sync()
        fastest = float("inf")
        for _ in range(rounds):
            start = clock()
            for _ in range(calls):
                step()
            sync()
            fastest = min(fastest, (clock() - start) / calls)
        return fastest

    return best(rollout, 50) / num_envs + best(update, 20) * EPOCHS / MINIBATCH


# --- Ours ----------------------------------------------------------------------------------


def ours_runner(
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: EnvConfig,
    num_envs: int,
    iterations: int,
    device: torch.device,
) -> Callable[[], None]:
    """A callable running `train` for `iterations` rollouts of ROLLOUT transitions."""
    open_, close, features = inputs
    env = VecTradingEnv(open_, close, features, config, num_envs=num_envs, device=device, seed=0)
    args = PPOArgs(
        seed=1,
        total_timesteps=ROLLOUT * iterations,
        num_steps=ROLLOUT // num_envs,
        minibatch_size=MINIBATCH,
        update_epochs=EPOCHS,
        net_dimension=HIDDEN,
        target_kl=None,
        eval_interval=10**9,
        device=str(device),
    )

    def run() -> None:
        train(args, env)

    return run


# --- Stable-Baselines3 on the NumPy reference env ------------------------------------------


def sb3_runner(
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: EnvConfig,
    num_envs: int,
    iterations: int,
    device: torch.device,
) -> Callable[[], None]:
    """A callable running SB3 PPO's `learn` for `iterations` rollouts of ROLLOUT transitions."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    open_, close, features = inputs

    class ReferenceGymEnv(gym.Env):  # type: ignore[misc]
        """ReferenceTradingEnv as a gymnasium Env: random start, truncated after the episode."""

        def __init__(self) -> None:
            self.inner = ReferenceTradingEnv(open_, close, features, config)
            obs_dim = self.inner.reset(config.lookback - 1).shape[0]
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
            # SB3 needs finite bounds (it clips to them); logits beyond +-1e3 saturate anyway.
            self.action_space = gym.spaces.Box(-1e3, 1e3, (open_.shape[1],), np.float32)

        def reset(
            self, *, seed: int | None = None, options: dict[str, Any] | None = None
        ) -> tuple[np.ndarray, dict[str, Any]]:
            super().reset(seed=seed)
            last = len(close) - 1 - config.episode_length
            start = int(self.np_random.integers(config.lookback - 1, last + 1))
            return self.inner.reset(start), {}

        def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
            state, reward, truncated, _ = self.inner.step(action)
            return state, reward, False, truncated, {}

    vec = DummyVecEnv([ReferenceGymEnv for _ in range(num_envs)])
    model = PPO(
        "MlpPolicy",
        vec,
        n_steps=ROLLOUT // num_envs,
        batch_size=MINIBATCH,
        n_epochs=EPOCHS,
        clip_range_vf=0.2,
        policy_kwargs={
            "net_arch": {"pi": [HIDDEN, HIDDEN], "vf": [HIDDEN, HIDDEN]},
            "activation_fn": torch.nn.Tanh,
            "log_std_init": -0.5,
        },
        device=device,
        seed=1,
        verbose=0,
    )

    def run() -> None:
        model.learn(total_timesteps=ROLLOUT * iterations, reset_num_timesteps=False)

    return run


# --- Reporting -----------------------------------------------------------------------------


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _ceiling(rate: float, cpu: bool) -> str:
    """A ceiling's rate in the clock it was timed with: CPU time on CPU, wall-clock on CUDA."""
    return f"{'-':>12} {rate:>10,.0f}" if cpu else f"{rate:>12,.0f} {'-':>10}"


def profile_ours(run: Callable[[], None], rows: int = 15) -> None:
    """torch.profiler table (self CPU time) of one run of ours."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        run()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arg(parser)
    parser.add_argument("--envs", default="1,64", help="Comma-separated B values for ours.")
    parser.add_argument("--sb3-envs", default="1", help="Comma-separated B values for SB3.")
    parser.add_argument("--iterations", type=int, default=3, help="Rollouts per timed run.")
    parser.add_argument("--rounds", type=int, default=3, help="Timed runs per figure (best kept).")
    add_compute_args(parser)
    parser.add_argument(
        "--profile", action="store_true", help="Also print a torch.profiler table of ours."
    )
    args = parser.parse_args(argv)
    device = apply_compute_args(args)
    sync = _sync(device)
    ours_envs = [int(b) for b in args.envs.split(",") if b]
    sb3_envs = [int(b) for b in args.sb3_envs.split(",") if b]
    for b in {*ours_envs, *sb3_envs}:
        if b < 1 or ROLLOUT % b or (ROLLOUT // b) * b < MINIBATCH:
            parser.error(f"B={b} must divide the rollout of {ROLLOUT} transitions.")

    if sb3_envs and importlib.util.find_spec("stable_baselines3") is None:
        parser.error(
            "stable-baselines3 is not installed: run `pip install -e .[bench]`, or pass "
            "--sb3-envs '' to measure ours and the bound only."
        )

    open_, close, features, how = load_inputs(args.data)
    inputs = (open_, close, features)
    config = EnvConfig(lookback=LOOKBACK, episode_length=min(720, len(close) - LOOKBACK))
    obs_dim = VecTradingEnv(open_, close, features, config, device="cpu").obs_dim
    action_dim = open_.shape[1]
    steps = ROLLOUT * args.iterations

    print(
        f"data: {args.data} ({how}); T={close.shape[0]} bars, A={action_dim} assets, "
        f"obs_dim={obs_dim}, lookback={LOOKBACK}"
    )
    print(
        f"sizes: actor and critic {HIDDEN}x{HIDDEN} tanh, rollout {ROLLOUT}, minibatch "
        f"{MINIBATCH}, {EPOCHS} epochs; {args.iterations} rollouts per run, best of "
        f"{args.rounds} runs"
    )
    print(
        f"device: {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
        + f", torch {torch.__version__}, threads {torch.get_num_threads()}, {os.cpu_count()} "
        f"CPUs ({platform.processor() or platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )

    sb3: dict[int, Rate] = {}
    for b in sb3_envs:
        sb3[b] = best_rate(
            sb3_runner(inputs, config, b, args.iterations, device), steps, args.rounds, sync
        )
    ours: dict[int, Rate] = {}
    bounds: dict[int, Bound] = {}
    nets: dict[int, float] = {}
    for b in ours_envs:
        run = ours_runner(inputs, config, b, args.iterations, device)
        ours[b] = best_rate(run, steps, args.rounds, sync)
        bounds[b] = flop_bound(obs_dim, action_dim, b, device, args.rounds)
        nets[b] = nets_seconds(obs_dim, action_dim, b, device, args.rounds)
    cpu = device.type == "cpu"
    ref = sb3.get(min(sb3)) if sb3 else None
    clock = "CPU time" if cpu else "wall-clock"

    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; ratios use {clock}\n")
    vs_sb3_head = f"vs SB3 B={min(sb3)}" if sb3 else ""
    print(
        f"{'run':<10} {'B':>5} {'env-steps/s':>12} {'per CPU-s':>10} {vs_sb3_head:>11} "
        f"{'vs bound':>9}"
    )
    for b, rate in sb3.items():
        print(f"{'SB3':<10} {b:>5} {rate.wall:>12,.0f} {rate.cpu:>10,.0f}")
    for b, rate in ours.items():
        mine = rate.cpu if cpu else rate.wall
        vs_sb3 = f"{mine / (ref.cpu if cpu else ref.wall):>10.1f}x" if ref else ""
        print(
            f"{'ours':<10} {b:>5} {rate.wall:>12,.0f} {rate.cpu:>10,.0f} {vs_sb3:>11} "
            f"{mine / bounds[b].rate:>8.0%}"
        )
    for b, seconds in nets.items():
        print(
            f"{'nets only':<10} {b:>5} {_ceiling(1.0 / seconds, cpu)} {'':>11} "
            f"{bounds[b].seconds_per_step / seconds:>8.0%}  (actor+critic passes alone)"
        )
    for b, bound in bounds.items():
        print(
            f"{'bound':<10} {b:>5} {_ceiling(bound.rate, cpu)} {'':>11} {'100%':>9} "
            f"({bound.flops_per_step / 1e6:.2f} MFLOP per env-step at {bound.gflops:.0f} GFLOP/s)"
        )
    if args.profile:
        b = max(ours_envs)
        print(f"\ntorch.profiler, ours at B={b}, one run:")
        profile_ours(ours_runner(inputs, config, b, args.iterations, device))


if __name__ == "__main__":
    main()
