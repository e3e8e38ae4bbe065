"""The trading ledger's tables, defined once: the runtime's ledger writes them, the operator's
status timers read them, the Alembic migrations create them.

One `MetaData` (`Base.metadata`, with NAMING_CONVENTION so migrations can name constraints)
holds every trading table: portfolios, positions, orders, fills, fees, portfolio_snapshots,
arena_rankings. The migrations in cappuccino_runtime/persistence/migrations are the applied
history; a test (tests/integration/trading/test_trading_persistence.py) proves that migrating
an empty database yields exactly these tables. Money and quantities are exact decimals
(`Money`), times are timezone-aware UTC (`UTCDateTime`).

The columns of Optuna's own tables that the registry reads are declared here too (`OPTUNA`,
a separate MetaData that nothing ever creates): both packages query Optuna's database without
importing Optuna.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "OPTUNA",
    "ArenaRankingRow",
    "Base",
    "FeeRow",
    "FillRow",
    "Money",
    "OrderRow",
    "PortfolioRow",
    "PortfolioSnapshotRow",
    "PositionRow",
    "UTCDateTime",
    "studies",
    "study_directions",
    "study_system_attributes",
    "study_user_attributes",
    "trial_heartbeats",
    "trial_params",
    "trial_user_attributes",
    "trial_values",
    "trials",
]

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


class ArenaRankingRow(Base):
    """`arena_rankings(arena_id, ts, portfolio_id, study_name, trial_id, rank, sharpe, promoted)`.

    sharpe is a ratio, not money, so it is a Float; NULL while a member has too few snapshots.
    """

    __tablename__ = "arena_rankings"
    __table_args__ = (
        UniqueConstraint("arena_id", "ts", "portfolio_id"),
        Index("ix_arena_rankings_arena_ts", "arena_id", "ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    arena_id: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    portfolio_id: Mapped[str] = mapped_column(String(255))
    study_name: Mapped[str] = mapped_column(String(255))
    trial_id: Mapped[int]
    rank: Mapped[int]
    sharpe: Mapped[float | None] = mapped_column(Float)
    promoted: Mapped[bool]
    psr: Mapped[float | None] = mapped_column(Float, default=None)
    sharpe_se: Mapped[float | None] = mapped_column(Float, default=None)
    n_returns: Mapped[int | None] = mapped_column(default=None)


OPTUNA = MetaData()
"""Optuna's RDB tables (optuna/storages/_rdb/models.py), only the columns we read; Optuna
creates them. Enum columns are plain strings: SQLite stores the member names as text and
PostgreSQL's native enum types compare with text literals, which is all the queries do."""

studies = Table(
    "studies",
    OPTUNA,
    Column("study_id", Integer, primary_key=True),
    Column("study_name", String(512)),
)

study_directions = Table(
    "study_directions",
    OPTUNA,
    Column("study_direction_id", Integer, primary_key=True),
    Column("direction", String(16)),
    Column("study_id", Integer),
    Column("objective", Integer),
)

trials = Table(
    "trials",
    OPTUNA,
    Column("trial_id", Integer, primary_key=True),
    Column("number", Integer),
    Column("study_id", Integer),
    Column("state", String(16)),
    Column("datetime_start", DateTime),
    Column("datetime_complete", DateTime),
)

trial_values = Table(
    "trial_values",
    OPTUNA,
    Column("trial_value_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("objective", Integer),
    Column("value", Float(precision=53)),
    Column("value_type", String(16)),
)

trial_params = Table(
    "trial_params",
    OPTUNA,
    Column("param_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("param_name", String(512)),
    Column("param_value", Float(precision=53)),
    Column("distribution_json", Text),
)


def _attributes(name: str, owner: str) -> Table:
    """Optuna's key/value attribute tables: `<name>(<name minus s>_id, <owner>, key,
    value_json)` with the value stored as JSON text."""
    return Table(
        name,
        OPTUNA,
        Column(f"{name.removesuffix('s')}_id", Integer, primary_key=True),
        Column(owner, Integer),
        Column("key", String(512)),
        Column("value_json", Text),
    )


trial_user_attributes = _attributes("trial_user_attributes", "trial_id")
study_user_attributes = _attributes("study_user_attributes", "study_id")
study_system_attributes = _attributes("study_system_attributes", "study_id")

trial_heartbeats = Table(
    "trial_heartbeats",
    OPTUNA,
    Column("trial_heartbeat_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("heartbeat", DateTime),
)
