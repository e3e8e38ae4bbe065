"""Are trials tested on the same bars? Buy-and-hold's mean CPCV Sharpe across configurations.

Run: `python -m benchmarks.cpcv_comparability [--bars 8760]`.

On the last `--bars` hourly bars of the bundled sample, for timeframes 1h/4h x feature sets
minimal/standard x lookbacks 4/6, prints buy-and-hold's mean Sharpe over the 6 CPCV splits'
test segments (a) as the old code cut them (per trial: its own warm-up, lookback offset and
embargo) and (b) under one study plan (training/plan.py). Buy-and-hold has no skill, so any
spread within a timeframe is the calendar window a trial was handed, which phase 1 would then
partly select. Nothing is trained; nothing asserts.
"""

from __future__ import annotations

import argparse

import numpy as np

from cappuccino_runtime.data import MarketData, load_sample
from cappuccino_runtime.env import EnvConfig, buy_and_hold_equity
from cappuccino_runtime.features import warmup_bars
from cappuccino_runtime.metrics import annualised_sharpe, bars_per_year, returns_from_equity
from cappuccino_runtime.training.cpcv import Segment, cpcv_splits
from cappuccino_runtime.training.dataset import prepare
from cappuccino_runtime.training.plan import build_plan


def _hodl(market: MarketData, tests: list[tuple[Segment, ...]], env: EnvConfig) -> float:
    per_split = []
    for segments in tests:
        returns = np.concatenate(
            [
                returns_from_equity(buy_and_hold_equity(market.open, market.close, a, b, env))
                for a, b in segments
            ]
        )
        per_split.append(float(annualised_sharpe(returns, bars_per_year(market.timeframe))))
    return float(np.mean(per_split))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=8760)
    args = parser.parse_args()
    md = load_sample(None, "1h")
    md = md.slice(max(0, md.n_bars - args.bars), md.n_bars)
    env = EnvConfig(lookback=4)
    plan = build_plan(
        md,
        timeframes=["1h", "4h"],
        feature_sets=["minimal", "standard"],
        max_lookback=6,
        n_groups=4,
        n_test_groups=2,
        holdout_fraction=0.15,
    )
    for tf in ("1h", "4h"):
        market = md if tf == "1h" else md.resample(tf)
        old, new = [], []
        for fs in ("minimal", "standard"):
            for lookback in (4, 6):
                usable = market.slice(warmup_bars(fs), market.n_bars)
                splits = cpcv_splits(
                    usable.n_bars - (lookback - 1), embargo=lookback + 1, offset=lookback - 1
                )
                o = _hodl(usable, [s.test for s in splits], env)
                prepared = prepare(market, fs, lookback, plan)
                n = _hodl(prepared.market, [s.test for s in prepared.splits], env)
                old.append(o)
                new.append(n)
                print(f"{tf} {fs:8s} lookback {lookback}: old {o:+.3f}  plan {n:+.3f}")
        print(
            f"{tf}: spread old {max(old) - min(old):.3f}, under the plan {max(new) - min(new):.3f}"
        )


if __name__ == "__main__":
    main()
