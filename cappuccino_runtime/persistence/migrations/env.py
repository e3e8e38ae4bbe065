"""Alembic environment of the trading database, run programmatically by `migrate.upgrade`.

The caller passes an open connection in `config.attributes["connection"]`; there is no
alembic.ini. The version table is `cappuccino_ledger_version`, so the ledger can share a
database with Optuna (whose own Alembic table is `alembic_version`).
"""

from __future__ import annotations

from alembic import context
from cappuccino_contracts.tables import Base

from cappuccino_runtime.persistence.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
