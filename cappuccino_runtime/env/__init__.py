"""Vectorized trading environment in torch, the shared state builder and the execution rules.

- `EnvConfig`: market rules (fee, slippage, minimum order) and episode shape.
- `build_state` / `state_dim`: the one state builder, also called by the live trader.
- `action_to_weights`: raw actor output -> long-only target weights (rest in cash).
- `rebalance`: the execution convention as one pure batched function.
- `VecTradingEnv`: B parallel episodes on CPU or CUDA.
- `evaluate_policy` / `buy_and_hold_equity`: equity curves over contiguous test segments.
- `reference.ReferenceTradingEnv`: the per-step NumPy oracle (tests, benchmark baseline).

See docs/env.md.
"""

from __future__ import annotations

from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import buy_and_hold_equity, evaluate_policy
from cappuccino_runtime.env.execution import RebalanceResult, rebalance
from cappuccino_runtime.env.state import build_state, market_state, portfolio_state, state_dim
from cappuccino_runtime.env.vec_env import VecTradingEnv

__all__ = [
    "EnvConfig",
    "RebalanceResult",
    "VecTradingEnv",
    "action_to_weights",
    "build_state",
    "buy_and_hold_equity",
    "evaluate_policy",
    "market_state",
    "portfolio_state",
    "rebalance",
    "state_dim",
]
