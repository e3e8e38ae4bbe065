"""Aggregate: a portfolio (one book) and its positions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cappuccino_runtime.persistence.base import Base, Money, UTCDateTime

__all__ = ["PortfolioRow", "PositionRow"]


class PortfolioRow(Base):
    """One book: `local/<name>` (ensemble) or `local/<name>/<study>:<trial_id>` (arena member)."""

    __tablename__ = "portfolios"

    portfolio_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    initial_cash: Mapped[Decimal] = mapped_column(Money)
    cash: Mapped[Decimal] = mapped_column(Money)
    halted_reason: Mapped[str | None] = mapped_column(String(1000), default=None)
    book_token: Mapped[str | None] = mapped_column(String(32), default=None)
    venue: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PositionRow(Base):
    """Units of one asset held by one book (BTC/USD form symbols)."""

    __tablename__ = "positions"

    portfolio_id: Mapped[str] = mapped_column(
        ForeignKey("portfolios.portfolio_id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal] = mapped_column(Money)
