"""The parts of benchmarks/learning.py and benchmarks/ppo_throughput.py that compute figures.

The benchmarks themselves only print; these check that what they print is computed right: the
momentum rule on a hand-worked case, the baseline simulator against the env's own
buy-and-hold, the agent's episode against the CPCV scorer, and the FLOP count by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.learning import (
    buy_and_hold,
    equal_weight,
    momentum_weights,
    run_agent,
    run_rule,
)
from benchmarks.ppo_throughput import ppo_matmuls
from cappuccino_runtime.env import EnvConfig, buy_and_hold_equity, run_policy, state_dim


def _market(n_bars: int = 60, n_assets: int = 2, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_bars, n_assets)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.002, close.shape))
    features = rng.normal(0.0, 1.0, (n_bars, n_assets, 3)).astype(np.float32)
    return open_, close, features


def test_momentum_weights_hand_case() -> None:
    close = np.array([[100.0, 100.0], [110.0, 90.0], [120.0, 95.0]])
    np.testing.assert_array_equal(momentum_weights(close, 2, 2), [0.5, 0.0])
    np.testing.assert_array_equal(momentum_weights(close, 2, 1), [0.5, 0.5])
    with pytest.raises(ValueError, match="history"):
        momentum_weights(close, 1, 2)


def test_buy_and_hold_rule_matches_the_env_benchmark() -> None:
    open_, close, _ = _market()
    config = EnvConfig(lookback=1)
    book = run_rule(buy_and_hold, open_, close, 10, 50, config)
    np.testing.assert_allclose(book.equity, buy_and_hold_equity(open_, close, 10, 50, config))
    assert book.trades == 2
    np.testing.assert_allclose(book.fees, config.fee_rate * config.initial_cash)
    np.testing.assert_allclose(book.traded, config.initial_cash)


def test_equal_weight_rebalances_only_on_its_schedule() -> None:
    open_, close, _ = _market()
    config = EnvConfig(lookback=1)
    never_again = run_rule(equal_weight(1000), open_, close, 10, 50, config)
    np.testing.assert_allclose(
        never_again.equity, run_rule(buy_and_hold, open_, close, 10, 50, config).equity
    )
    hourly = run_rule(equal_weight(1), open_, close, 10, 50, config)
    assert hourly.trades > never_again.trades
    assert hourly.fees > never_again.fees


def test_agent_episode_is_the_scorers_episode() -> None:
    open_, close, features = _market()
    config = EnvConfig(lookback=3, episode_length=10)
    torch.manual_seed(0)
    obs_dim = state_dim(2, 3, 3)
    policy = torch.nn.Linear(obs_dim, 2)
    book = run_agent(policy, open_, close, features, 20, 55, config, "cpu")
    scored = run_policy(policy, open_, close, features, config, [(20, 55)], "cpu").curves[0]
    np.testing.assert_allclose(book.equity, scored, rtol=1e-12)
    assert book.trades > 0 and book.fees > 0.0 and book.traded > 0.0


def test_ppo_matmul_flops_by_hand() -> None:
    # obs 10, 2 actions, hidden 8, B=4, minibatch 16, 2 epochs. One forward of both nets per
    # transition: actor 2*(10*8 + 8*8 + 8*2) = 320, critic 2*(10*8 + 8*8 + 8*1) = 304.
    # Update, per transition and epoch: forward 624 + weight gradients 624 + input gradients of
    # all but the first layers 2*(8*8 + 8*2) + 2*(8*8 + 8*1) = 304.
    matmuls = ppo_matmuls(10, 2, 8, num_envs=4, minibatch=16, epochs=2)
    flops = sum(calls * 2 * m * k * n for (m, k, n), calls in matmuls)
    assert flops == pytest.approx(624 + 2 * (624 + 624 + 304))
