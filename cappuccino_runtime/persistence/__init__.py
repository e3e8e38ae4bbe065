"""Trading persistence: SQLAlchemy models, Alembic migrations, the Ledger interface, locks.

The tables are cappuccino_contracts.tables (the operator reads some of them too). Schema
changes are Alembic revisions in migrations/versions, applied in-process by `upgrade(engine)`.
"""

from __future__ import annotations

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
from cappuccino_runtime.persistence.sql_ledger import SqlLedger

__all__ = [
    "Book",
    "FillRecord",
    "InMemoryLedger",
    "Ledger",
    "OrderRecord",
    "PortfolioLock",
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
