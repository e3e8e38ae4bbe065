"""Trading persistence: SQLAlchemy models, Alembic migrations, the Ledger interface, locks.

Tables (see docs/CONTRACTS.md for the ones the operator reads): portfolios, positions, orders,
fills, portfolio_snapshots, arena_rankings. Schema changes are Alembic revisions in
migrations/versions, applied in-process by `upgrade(engine)`.
"""

from __future__ import annotations

from cappuccino_runtime.persistence.base import Base
from cappuccino_runtime.persistence.ledger import (
    Book,
    FillRecord,
    InMemoryLedger,
    Ledger,
    OrderRecord,
    RankingRecord,
    SnapshotRecord,
)
from cappuccino_runtime.persistence.locks import PortfolioLock
from cappuccino_runtime.persistence.migrate import make_engine, upgrade
from cappuccino_runtime.persistence.orders import FillRow, OrderRow
from cappuccino_runtime.persistence.portfolios import PortfolioRow, PositionRow
from cappuccino_runtime.persistence.rankings import ArenaRankingRow
from cappuccino_runtime.persistence.snapshots import PortfolioSnapshotRow
from cappuccino_runtime.persistence.sql_ledger import SqlLedger

__all__ = [
    "ArenaRankingRow",
    "Base",
    "Book",
    "FillRecord",
    "FillRow",
    "InMemoryLedger",
    "Ledger",
    "OrderRecord",
    "OrderRow",
    "PortfolioLock",
    "PortfolioRow",
    "PortfolioSnapshotRow",
    "PositionRow",
    "RankingRecord",
    "SnapshotRecord",
    "SqlLedger",
    "make_engine",
    "open_sql_ledger",
    "upgrade",
]


def open_sql_ledger(url: str) -> SqlLedger:
    """Engine for `url`, schema migrated to head, wrapped in a SqlLedger."""
    engine = make_engine(url)
    upgrade(engine)
    return SqlLedger(engine)
