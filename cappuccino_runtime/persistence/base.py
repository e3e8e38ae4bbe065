"""Conversions between the ledger's float64 arithmetic and its exact `Money` columns.

The tables themselves (and `Money`, `UTCDateTime`) are cappuccino_contracts.tables.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["from_decimal", "to_decimal"]


def to_decimal(value: float) -> Decimal:
    """The exact shortest decimal of a float64 (repr round-trips), for Numeric columns."""
    return Decimal(repr(float(value)))


def from_decimal(value: Decimal | float | None) -> float:
    """Back to float64 for the accounting arithmetic (the env's dtype)."""
    return 0.0 if value is None else float(value)
