"""Does training learn on real bars? Agent vs buy-and-hold, equal-weight and momentum, out of sample.

    python -m benchmarks.learning [--data DIR] [--symbols BTC,ETH,LTC] [--timesteps 150000]
                                  [--groups 3] [--net-dimension 256] [--num-envs 16]
                                  [--seed 0] [--device cpu] [--threads 1]

Train on the Binance 1h bars of 2018-01-01 .. 2020-12-31 through the real training path
(`cappuccino_runtime.training.objective.run_trial`: features, CPCV splits, per-split
normaliser, PPO on VecTradingEnv, scoring on the held-out groups), then trade the agent that
run_trial keeps (split 0's: it holds out the oldest group and trains on the newest ones) over
all of 2021, which no part of training saw: one contiguous episode from cash, deterministic
actions, the same execution rule, fee and slippage as training (EnvConfig of the trial).

Baselines over the same bars, as pure target-weight rules run through the same `rebalance`:
- buy-and-hold: equal weights bought at the first open of 2021, then held;
- equal-weight: back to equal weights every `--rebalance-every` bars (24 = daily);
- momentum: every `--rebalance-every` bars, 1/A of the book in each asset whose trailing
  `--momentum-window`-bar return is positive (720 = 30 days), cash for the others.

Metrics (cappuccino_runtime.metrics): annualised Sharpe of the hourly returns, total return, max
drawdown; turnover = traded notional (buys + sells) / mean equity over the year; fees paid as a
percentage of the initial cash. The default budget finishes in a few minutes on 2 cores; raise
--timesteps (and --net-dimension) for a real one. Prints; asserts nothing.

SOL/USDT only trades from 2020-08, so the default universe is BTC, ETH, LTC (all from 2017-12).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks._common import add_compute_args, add_data_arg, apply_compute_args
from cappuccino_runtime.data import MarketData, load_market_data
from cappuccino_runtime.env import EnvConfig, VecTradingEnv, rebalance, run_policy
from cappuccino_runtime.features import Normalizer, compute_features, warmup_bars
from cappuccino_runtime.metrics import (
    annualised_sharpe,
    bars_per_year,
    max_drawdown,
    returns_from_equity,
)
from cappuccino_runtime.training.config import parse_config
from cappuccino_runtime.training.objective import TrialOutcome, run_trial

TRAIN_START = "2018-01-01"
TEST_START = "2021-01-01"
TEST_END = "2022-01-01"

#: A target-weight rule: (step k of the episode, decision bar t, close [T, A]) -> target
#: weights [A] (rest in cash), or None to leave the book as it is.
Rule = Callable[[int, int, np.ndarray], np.ndarray | None]


# --- Baselines: pure functions of past closes ----------------------------------------------


def momentum_weights(close: np.ndarray, t: int, window: int) -> np.ndarray:
    """1/A of the book in each asset whose return over the `window` bars up to t is positive.

    Reads close[t - window] and close[t] only (both known at decision bar t); the rest is cash.
    """
    if t < window:
        raise ValueError(f"momentum at bar {t} needs {window} bars of history before it.")
    up = close[t] > close[t - window]
    return up.astype(np.float64) / close.shape[1]


def buy_and_hold(k: int, t: int, close: np.ndarray) -> np.ndarray | None:
    """Equal weights at the first decision, never traded again."""
    return np.full(close.shape[1], 1.0 / close.shape[1]) if k == 0 else None


def equal_weight(every: int) -> Rule:
    """Back to equal weights every `every` decisions (the first one included)."""

    def rule(k: int, t: int, close: np.ndarray) -> np.ndarray | None:
        return np.full(close.shape[1], 1.0 / close.shape[1]) if k % every == 0 else None

    return rule


def momentum(every: int, window: int) -> Rule:
    """`momentum_weights` every `every` decisions, held in between."""

    def rule(k: int, t: int, close: np.ndarray) -> np.ndarray | None:
        return momentum_weights(close, t, window) if k % every == 0 else None

    return rule


# --- Running a book ------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """What one strategy did over the test bars."""

    equity: np.ndarray
    """value marked at each close, point 0 = initial cash at the decision bar before the test"""
    traded: float
    """buy + sell notional over the episode (quote)"""
    fees: float
    """fees paid (quote)"""
    trades: int
    """filled orders"""


def run_rule(
    rule: Rule, open_: np.ndarray, close: np.ndarray, start: int, stop: int, config: EnvConfig
) -> Book:
    """Runs a target-weight rule over bars start..stop-1: decide at each close, fill at the next
    open with `rebalance` (the env's execution rule), mark at the next close."""
    f64 = torch.float64
    cash = torch.tensor([config.initial_cash], dtype=f64)
    holdings = torch.zeros((1, close.shape[1]), dtype=f64)
    equity = [config.initial_cash]
    traded = fees = 0.0
    trades = 0
    for k, t in enumerate(range(start, stop - 1)):
        target = rule(k, t, close)
        if target is not None:
            fill = rebalance(
                cash,
                holdings,
                torch.as_tensor(target, dtype=f64).unsqueeze(0),
                torch.as_tensor(open_[t + 1], dtype=f64).unsqueeze(0),
                config.fee_rate,
                config.slippage,
                config.min_order_notional,
            )
            cash, holdings = fill.cash, fill.holdings
            traded += float(fill.buy_notional.sum() + fill.sell_notional.sum())
            fees += float(fill.fees.sum())
            trades += int(fill.trades.sum())
        equity.append(float(cash[0] + (holdings[0] * torch.as_tensor(close[t + 1])).sum()))
    return Book(np.asarray(equity), traded, fees, trades)


def run_agent(
    actor: torch.nn.Module,
    open_: np.ndarray,
    close: np.ndarray,
    features: np.ndarray,
    start: int,
    stop: int,
    config: EnvConfig,
    device: str,
    price_scale: float = 1.0,
) -> Book:
    """The deterministic actor over bars start..stop-1 as one VecTradingEnv episode."""
    episode = config.model_copy(update={"episode_length": stop - start - 1})
    env = VecTradingEnv(
        open_[:stop],
        close[:stop],
        features[:stop],
        episode,
        num_envs=1,
        device=device,
        valid_starts=[start],
        autoreset=False,
        price_scale=price_scale,  # the model's train-fitted state scale (ModelSpec)
    )
    obs = env.reset(starts=[start])
    equity = [config.initial_cash]
    traded = fees = 0.0
    trades = 0
    with torch.no_grad():
        for _ in range(stop - start - 1):
            obs, _, _, _, info = env.step(actor(obs))
            equity.append(float(info["value"][0]))
            traded += float(info["buy_notional"].sum() + info["sell_notional"].sum())
            fees += float(info["fees"].sum())
            trades += int(info["trades"].sum())
    return Book(np.asarray(equity), traded, fees, trades)


# --- The benchmark -------------------------------------------------------------------------


def training_config(args: argparse.Namespace) -> dict[str, object]:
    """The training config file this benchmark trains with (validated by parse_config)."""
    return {
        "search_space": {},
        "env": {"num_envs": args.num_envs},
        "ppo": {"total_timesteps": args.timesteps},
        "cpcv": {"n_groups": args.groups, "n_test_groups": 1},
        # 2021 is this benchmark's hold-out, cut off before training sees the data: CPCV may use
        # every bar of 2018-2020.
        "holdout": {"fraction": 0.0},
        "cpu_threads": args.threads if args.threads > 0 else None,
    }


def trial_params(args: argparse.Namespace) -> dict[str, object]:
    """One fixed parameter set (search-space names), mid-range of the default space."""
    return {
        "learning_rate": 3e-4,
        "batch_size": 2048,
        "gamma": 0.99,
        "net_dimension": args.net_dimension,
        "lookback": 5,
        "clip_range": 0.2,
        "ent_coef": 1e-4,
        "gae_lambda": 0.95,
        "update_epochs": 8,
        "num_steps": 256,
    }


def load(data: Path, symbols: list[str]) -> MarketData:
    logging.getLogger("cappuccino_runtime").setLevel(logging.ERROR)  # data-quality notes
    return load_market_data(
        str(data / "*_USDT-1h.json"), [f"{s}/USDT" for s in symbols], "1h", TRAIN_START, TEST_END
    )


def describe(name: str, book: Book, initial_cash: float) -> str:
    eq = book.equity
    sharpe = float(annualised_sharpe(returns_from_equity(eq), bars_per_year("1h")))
    turnover = book.traded / float(eq.mean())
    return (
        f"{name:<16} {sharpe:>7.2f} {eq[-1] / eq[0] - 1:>+9.1%} {max_drawdown(eq):>8.1%} "
        f"{turnover:>9.1f}x {book.fees / initial_cash:>7.2%} {book.trades:>7d}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arg(parser)
    parser.add_argument("--symbols", default="BTC,ETH,LTC", help="Base assets, quoted in USDT.")
    parser.add_argument(
        "--timesteps", type=int, default=150_000, help="PPO env-steps per CPCV split."
    )
    parser.add_argument("--groups", type=int, default=3, help="CPCV groups (one held out).")
    parser.add_argument("--net-dimension", type=int, default=256, help="MLP hidden width.")
    parser.add_argument("--num-envs", type=int, default=16, help="Parallel training envs.")
    parser.add_argument("--seed", type=int, default=0, help="Trial seed.")
    add_compute_args(parser)
    parser.add_argument("--rebalance-every", type=int, default=24, help="Baseline rebalance bars.")
    parser.add_argument("--momentum-window", type=int, default=720, help="Momentum lookback bars.")
    args = parser.parse_args(argv)
    device = str(apply_compute_args(args))
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]

    market = load(args.data, symbols)
    split = int(np.searchsorted(market.index, pd.Timestamp(TEST_START, tz="UTC")))
    if split >= market.n_bars - 2:
        parser.error(f"the data in {args.data} has no bars from {TEST_START} on.")
    train_market = market.slice(0, split)
    config = parse_config(training_config(args), source="benchmarks.learning")
    print(
        f"data: {', '.join(market.symbols)} 1h from {args.data}; train {train_market.index[0]:%Y-%m-%d}"
        f" .. {train_market.index[-1]:%Y-%m-%d %H:%M} ({train_market.n_bars} bars), test "
        f"{market.index[split]:%Y-%m-%d} .. {market.index[-1]:%Y-%m-%d %H:%M} "
        f"({market.n_bars - split} bars)"
    )
    print(
        f"training: run_trial, {args.groups} CPCV splits x {args.timesteps:,} PPO steps, "
        f"{args.num_envs} envs, net {args.net_dimension}, seed {args.seed}, device {device}, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    begin, begin_cpu = time.perf_counter(), time.process_time()
    outcome: TrialOutcome = run_trial(
        trial_params(args), train_market, config, seed=args.seed, device=device
    )
    wall, cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
    env_config = outcome.setup.env
    print(
        f"trained in {wall:.0f} s wall ({cpu:.0f} s CPU); CPCV Sharpe on held-out 2018-2020 "
        "groups, agent / buy-and-hold: "
        + ", ".join(
            f"{b:.2f}/{h:.2f}" for b, h in zip(outcome.sharpe_bot, outcome.sharpe_hodl, strict=True)
        )
    )
    print(
        f"execution: fee {env_config.fee_rate:.2%}, slippage {env_config.slippage_bps:g} bps, "
        f"minimum order {env_config.min_order_notional:g}, initial cash "
        f"{env_config.initial_cash:,.0f}"
    )

    # The test bars, with features normalised by the kept agent's own (training) statistics.
    spec = outcome.spec
    warm = warmup_bars(spec.feature_set)
    raw = compute_features(market, spec.feature_set)
    if spec.normalizer is None:
        raise SystemExit("the trained model carries no normaliser; cannot build its features.")
    features = Normalizer.from_stats(spec.normalizer).transform(raw)[warm:]
    test = market.slice(warm, market.n_bars)
    start, stop = split - warm - 1, test.n_bars  # decide at the last 2020 close, fill in 2021
    o, c = test.open, test.close

    scale = spec.price_scale
    agent = run_agent(outcome.actor, o, c, features, start, stop, env_config, device, scale)
    scored = run_policy(
        outcome.actor, o, c, features, env_config, [(start, stop)], device, price_scale=scale
    ).curves[0]
    check = float(np.max(np.abs(scored / agent.equity - 1.0)))
    books = {
        "agent": agent,
        "buy-and-hold": run_rule(buy_and_hold, o, c, start, stop, env_config),
        "equal-weight": run_rule(equal_weight(args.rebalance_every), o, c, start, stop, env_config),
        "momentum": run_rule(
            momentum(args.rebalance_every, args.momentum_window), o, c, start, stop, env_config
        ),
    }
    print(
        f"\n2021 out of sample ({stop - start - 1} hourly decisions; equal-weight and momentum "
        f"rebalance every {args.rebalance_every} bars, momentum window {args.momentum_window} "
        f"bars; agent equity vs the CPCV scorer's run_policy: max rel. diff {check:.1e})"
    )
    print(
        f"{'strategy':<16} {'Sharpe':>7} {'return':>9} {'max DD':>8} {'turnover':>10} "
        f"{'fees':>7} {'trades':>7}"
    )
    for name, book in books.items():
        print(describe(name, book, env_config.initial_cash))
    print(
        f"\nfees as % of initial cash; turnover = traded notional / mean equity; load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
