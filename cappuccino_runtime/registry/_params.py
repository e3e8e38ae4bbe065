"""Turns Optuna's stored parameter representation back into the values the objective saw.

Optuna stores every parameter as a float (`param_value`) plus its distribution as JSON; a
categorical is stored as the index of its choice. Decoding here, from the JSON alone, keeps
the registry free of an Optuna import.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["decode_param", "decode_user_attr"]

_INT_DISTRIBUTIONS = frozenset(
    {"IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"}
)


def decode_param(param_value: float, distribution_json: str) -> Any:
    """External value of one stored parameter (int, float or the categorical choice)."""
    dist = json.loads(distribution_json)
    name = dist.get("name", "")
    if name == "CategoricalDistribution":
        return dist["attributes"]["choices"][int(param_value)]
    if name in _INT_DISTRIBUTIONS:
        return int(param_value)
    return float(param_value)


def decode_user_attr(value_json: str) -> Any:
    """A user attribute is stored as JSON text."""
    return json.loads(value_json)
