"""Aggregate: orders (intent recorded before submission) and their fills."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cappuccino_runtime.persistence.base import Base, Money, UTCDateTime

__all__ = ["FeeRow", "FillRow", "OrderRow"]


class OrderRow(Base):
    """One order, written with status `intent` before the broker sees it."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("client_order_id"),
        Index("ix_orders_portfolio_status", "portfolio_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(128))
    portfolio_id: Mapped[str] = mapped_column(
        ForeignKey("portfolios.portfolio_id", ondelete="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[Decimal | None] = mapped_column(Money)
    notional: Mapped[Decimal | None] = mapped_column(Money)
    ref_price: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(32))
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    filled_qty: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    filled_notional: Mapped[Decimal | None] = mapped_column(Money, default=Decimal(0))
    decision_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FillRow(Base):
    """One execution of an order; `fill_key` makes recording a fill idempotent."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("fill_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    fill_key: Mapped[str] = mapped_column(String(160))
    client_order_id: Mapped[str] = mapped_column(
        ForeignKey("orders.client_order_id", ondelete="CASCADE"), index=True
    )
    portfolio_id: Mapped[str] = mapped_column(String(255), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)


class FeeRow(Base):
    """A fee the broker posted later (Alpaca CFEE), booked once per (activity, book)."""

    __tablename__ = "fees"
    __table_args__ = (UniqueConstraint("fee_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    fee_key: Mapped[str] = mapped_column(String(200))
    portfolio_id: Mapped[str] = mapped_column(
        ForeignKey("portfolios.portfolio_id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str | None] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
