"""One decision of a 20-model ensemble and a 20-member arena on CPU: batched vs a loop over models.

Run: `python -m benchmarks.ensemble_latency [--models 20] [--threads 1,2] [--obs-dim D]`.

For each width (the demo's largest and the search's largest, 1536) it prints the median latency of
- loop: `[actor(obs) for actor in actors]` (what a naive trader does),
- batched: `StackedActors` (3 batched matmuls whatever N is),
their ratio, and the physical bound: bytes of weights read per decision divided by the memory
bandwidth measured in the same run (a sum over a tensor far larger than the caches, same thread
count). Loop and batched are timed round-robin, one call of each per round, so both see the same
background load on a shared machine; the bandwidth sweep runs in its own block just before (its
cache flushes would otherwise slow the small candidates). At the largest width the batched
ensemble is also timed with bf16 weights (half the bytes). Nothing here asserts on time.
Each thread count is reported: on a busy machine multi-threaded small matmuls can stall on their
thread barrier, which is why the trader decides with 1 thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from cappuccino_runtime.agent.networks import Actor
from cappuccino_runtime.trading.batched import StackedActors

LARGEST_NET_DIMENSION = 1536
DEFAULT_DEMO_NET_DIMENSION = 64


def demo_net_dimension() -> int:
    """The demo's largest width: `cappuccino_runtime.demo.DEMO_CONFIG`'s net_dimension choices."""
    try:
        from cappuccino_runtime.demo import DEMO_CONFIG

        return int(max(DEMO_CONFIG["search_space"]["net_dimension"]["choices"]))
    except (ImportError, KeyError, TypeError, ValueError):
        return DEFAULT_DEMO_NET_DIMENSION


def demo_obs_dim() -> int:
    """State size of the demo market: 3 sample symbols, the standard feature set, lookback 8."""
    from cappuccino_runtime.env.state import state_dim
    from cappuccino_runtime.features import feature_names

    return state_dim(3, len(feature_names("standard")), 8)


def interleaved_medians(
    fns: dict[str, Callable[[], object]], *, min_time: float = 1.0, min_rounds: int = 15
) -> dict[str, float]:
    """Median wall time of each fn, measured round-robin (one call of each per round)."""
    for fn in fns.values():
        fn()
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or time.perf_counter() - start < min_time:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
        rounds += 1
    return {name: statistics.median(values) for name, values in samples.items()}


def read_bandwidth(nbytes: int) -> float:
    """Bytes/s of a sum over a float32 tensor of nbytes (freed on return)."""
    sweep = torch.ones(nbytes // 4, dtype=torch.float32)
    return nbytes / interleaved_medians({"sweep": lambda: sweep.sum()})["sweep"]


def bench_width(n_models: int, obs_dim: int, action_dim: int, width: int) -> None:
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

    torch.testing.assert_close(stacked(shared), torch.stack(loop_shared()), rtol=1e-4, atol=1e-5)
    nbytes = stacked.weight_bytes()
    # the bound's denominator: reading a tensor no cache holds (4x the weights, >= 256 MiB),
    # timed in its own block so its cache flushes do not slow the candidates down
    bandwidth = read_bandwidth(max(4 * nbytes, 256 << 20))
    bound = nbytes / bandwidth
    candidates: dict[str, Callable[[], object]] = {
        "ensemble loop": loop_shared,
        "ensemble batched": lambda: stacked(shared),
        "arena loop": loop_books,
        "arena batched": lambda: stacked(per_book),
    }
    half = StackedActors(actors, dtype=torch.bfloat16) if width >= 1024 else None
    if half is not None:  # fewer bytes per weight: the way below the fp32 bound
        candidates["ensemble batched bf16"] = lambda: half(shared)
    t = interleaved_medians(candidates)
    print(
        f"\nnet_dimension={width}  models={n_models}  obs_dim={obs_dim}  action_dim={action_dim}\n"
        f"  fp32 weights read per decision={nbytes / 1e6:.1f} MB  measured bandwidth="
        f"{bandwidth / 1e9:.1f} GB/s  bound={bound * 1e3:.3f} ms"
    )
    for name in ("ensemble", "arena"):
        t_loop, t_batched = t[f"{name} loop"], t[f"{name} batched"]
        print(
            f"  {name:<8} loop={t_loop * 1e3:8.3f} ms  batched={t_batched * 1e3:8.3f} ms  "
            f"speed-up={t_loop / t_batched:5.1f}x  batched/bound={t_batched / bound:5.2f}x"
        )
    if half is not None:
        t_half = t["ensemble batched bf16"]
        print(
            f"  ensemble batched with bf16 weights ({half.weight_bytes() / 1e6:.1f} MB): "
            f"{t_half * 1e3:.3f} ms = {t_half / bound:.2f}x the fp32 bound"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--obs-dim", type=int, default=0, help="state size (0: the demo's)")
    parser.add_argument("--action-dim", type=int, default=3, help="assets traded")
    parser.add_argument(
        "--threads", default="", help="comma-separated thread counts (default: 1 and torch's)"
    )
    args = parser.parse_args(argv)
    obs_dim = args.obs_dim or demo_obs_dim()
    counts = [int(c) for c in args.threads.split(",") if c] or sorted({1, torch.get_num_threads()})
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"torch {torch.__version__}, CPU ({os.cpu_count()} cores, load average {load}); "
        f"intra-op thread counts measured: {counts}"
    )
    for threads in counts:
        torch.set_num_threads(threads)
        print(f"\n=== {threads} intra-op thread(s)")
        for width in (demo_net_dimension(), LARGEST_NET_DIMENSION):
            bench_width(args.models, obs_dim, args.action_dim, width)


if __name__ == "__main__":
    main()
