"""The declarative base of the trading database: naming convention, money and time column types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, MetaData, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "Money", "UTCDateTime", "from_decimal", "to_decimal"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every trading table; constraint names follow NAMING_CONVENTION so migrations can name them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


Money = Numeric(38, 18)
"""Money and quantities: exact decimals (never Float). 18 decimals hold a float64's digits."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset; we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the ledger; pass UTC times.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_decimal(value: float) -> Decimal:
    """The exact shortest decimal of a float64 (repr round-trips), for Numeric columns."""
    return Decimal(repr(float(value)))


def from_decimal(value: Decimal | float | None) -> float:
    """Back to float64 for the accounting arithmetic (the env's dtype)."""
    return 0.0 if value is None else float(value)
