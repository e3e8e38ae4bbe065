"""Vectorized trading environment in torch, the shared state builder and the execution rules.

- `EnvConfig`: market rules (fee, slippage, minimum order) and episode shape.
- `build_state` / `state_dim`: the one state builder, also called by the live trader.
- `action_to_weights`: raw actor output + current weights -> long-only target weights; the
  zero action keeps the book (a cash book buys the equal-weight benchmark).
- `rebalance` / `execute`: the execution rule (no-trade band, partial rebalancing, fills) as
  one pure batched function.
- `VecTradingEnv`: B parallel episodes on CPU or CUDA.
- `run_policy` / `buy_and_hold_equity`: equity curves (and trading totals) over contiguous test
  segments.
- `reference.ReferenceTradingEnv`: the per-step NumPy oracle (tests, benchmark baseline).

See docs/env.md.
"""

from __future__ import annotations

from cappuccino_runtime.env.actions import action_to_weights
from cappuccino_runtime.env.config import EnvConfig
from cappuccino_runtime.env.evaluation import (
    PolicyRun,
    buy_and_hold_equity,
    run_policy,
)
from cappuccino_runtime.env.execution import ExecutionRules, RebalanceResult, execute, rebalance
from cappuccino_runtime.env.state import (
    build_state,
    fit_price_scale,
    market_state,
    portfolio_state,
    state_dim,
)
from cappuccino_runtime.env.vec_env import VecTradingEnv

__all__ = [
    "EnvConfig",
    "ExecutionRules",
    "PolicyRun",
    "RebalanceResult",
    "VecTradingEnv",
    "action_to_weights",
    "build_state",
    "buy_and_hold_equity",
    "execute",
    "fit_price_scale",
    "market_state",
    "portfolio_state",
    "rebalance",
    "run_policy",
    "state_dim",
]
