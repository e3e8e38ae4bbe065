"""One decision of a 20-model ensemble and a 20-member arena on CPU: batched vs a loop over models.

Run: `python -m benchmarks.ensemble_latency [--models 20] [--threads T] [--obs-dim D]`.

For each width (the demo's and the search's largest, 1536) it prints the median latency of
- loop: `[actor(obs) for actor in actors]` (what a naive trader does),
- batched: `StackedActors` (3 batched matmuls whatever N is),
their ratio, and the physical bound: bytes of weights read per decision divided by the memory
bandwidth measured in the same run (a sum over a tensor far larger than the caches, same thread
count). Everything is measured in one process so the ratios compare like with like; nothing
here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cappuccino_runtime.agent.networks import Actor
from cappuccino_runtime.trading.batched import StackedActors

LARGEST_NET_DIMENSION = 1536
DEFAULT_DEMO_NET_DIMENSION = 64


def demo_net_dimension() -> int:
    """Width the demo trains with: read from the demo config when it exists, else 64."""
    root = Path(__file__).resolve().parents[1]
    for candidate in sorted(root.glob("cappuccino_runtime/**/demo*.json")):
        try:
            value = json.loads(candidate.read_text()).get("net_dimension")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_DEMO_NET_DIMENSION


def median_seconds(fn: Callable[[], object], *, min_time: float = 0.5, min_reps: int = 20) -> float:
    """Median wall time of fn() after a warm-up, repeated for at least min_time seconds."""
    for _ in range(3):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def memory_bandwidth(nbytes: int = 1 << 30) -> float:
    """Read bandwidth in bytes/s: the best of several sums over a tensor far larger than caches."""
    x = torch.ones(nbytes // 4, dtype=torch.float32)
    best = min(_timed(lambda: x.sum()) for _ in range(7))
    return nbytes / best


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_width(n_models: int, obs_dim: int, action_dim: int, width: int, bandwidth: float) -> None:
    """Prints ensemble (one shared observation) and arena (one observation per book) figures."""
    torch.manual_seed(0)
    actors = [Actor(obs_dim, action_dim, width).eval() for _ in range(n_models)]
    stacked = StackedActors(actors)
    shared = torch.randn(obs_dim)
    per_book = torch.randn(n_models, obs_dim)

    def loop_shared() -> list[torch.Tensor]:
        with torch.inference_mode():
            return [a(shared) for a in actors]

    def loop_books() -> list[torch.Tensor]:
        with torch.inference_mode():
            return [a(per_book[i]) for i, a in enumerate(actors)]

    expected = torch.stack(loop_shared())
    torch.testing.assert_close(stacked(shared), expected, rtol=1e-4, atol=1e-5)
    bound = stacked.weight_bytes() / bandwidth
    print(
        f"\nnet_dimension={width}  models={n_models}  obs_dim={obs_dim}  action_dim={action_dim}  "
        f"weights read per decision={stacked.weight_bytes() / 1e6:.1f} MB  "
        f"bound={bound * 1e3:.3f} ms"
    )
    for name, loop_fn, batched_fn in (
        ("ensemble", loop_shared, lambda: stacked(shared)),
        ("arena", loop_books, lambda: stacked(per_book)),
    ):
        t_loop = median_seconds(loop_fn)
        t_batched = median_seconds(batched_fn)
        print(
            f"  {name:<8} loop={t_loop * 1e3:8.3f} ms  batched={t_batched * 1e3:8.3f} ms  "
            f"speed-up={t_loop / t_batched:5.1f}x  batched/bound={t_batched / bound:5.2f}x"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--obs-dim", type=int, default=64, help="state size (demo-like default)")
    parser.add_argument("--action-dim", type=int, default=3, help="assets traded")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, CPU, {torch.get_num_threads()} intra-op threads "
        f"(set with --threads)"
    )
    bandwidth = memory_bandwidth()
    print(f"measured read bandwidth: {bandwidth / 1e9:.1f} GB/s (sum over a 1 GiB float32 tensor)")
    for width in (demo_net_dimension(), LARGEST_NET_DIMENSION):
        bench_width(args.models, args.obs_dim, args.action_dim, width, bandwidth)


if __name__ == "__main__":
    main()
