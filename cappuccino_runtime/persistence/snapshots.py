"""Aggregate: portfolio snapshots (the operator reads the newest row per portfolio)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cappuccino_runtime.persistence.base import Base, Money, UTCDateTime

__all__ = ["PortfolioSnapshotRow"]


class PortfolioSnapshotRow(Base):
    """`portfolio_snapshots(portfolio_id, ts, equity, cash, ...)` per docs/CONTRACTS.md."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "ts"),
        Index("ix_portfolio_snapshots_portfolio_ts", "portfolio_id", "ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    portfolio_id: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    equity: Mapped[Decimal] = mapped_column(Money)
    cash: Mapped[Decimal] = mapped_column(Money)
    positions_value: Mapped[Decimal] = mapped_column(Money)
    halted_reason: Mapped[str | None] = mapped_column(String(1000))
