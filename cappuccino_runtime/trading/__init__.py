"""Trading domain: policies (single model, ensemble vote, arena), brokers, guards, the trader loop.

See docs/trading.md. Public names are loaded lazily, so importing one submodule (e.g. `batched`
for the benchmark) does not pull in the broker adapters, the registry or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BookPlan",
    "ModelBank",
    "ModelSlot",
    "ReplayBroker",
    "StackedActors",
    "Trader",
    "TraderConfig",
    "demo_stage",
    "rank_members",
    "run_deployment",
    "vote_targets",
]

_WHERE = {
    "BookPlan": "trader",
    "Trader": "trader",
    "TraderConfig": "trader",
    "ModelBank": "policy",
    "ModelSlot": "policy",
    "ReplayBroker": "brokers.replay",
    "StackedActors": "batched",
    "demo_stage": "demo",
    "rank_members": "arena",
    "run_deployment": "runner",
    "vote_targets": "ensemble",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'cappuccino_runtime.trading' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
