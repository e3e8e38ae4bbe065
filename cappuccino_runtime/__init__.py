"""Cappuccino runtime: data, env, agent, training, registry, validation and trading."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
