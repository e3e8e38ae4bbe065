"""Migrations match the models on SQLite and PostgreSQL; one process per portfolio lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cappuccino_contracts.tables import Base
from sqlalchemy import inspect, text

from cappuccino_runtime.errors import PortfolioLocked
from cappuccino_runtime.persistence import PortfolioLock, make_engine, upgrade
from cappuccino_runtime.persistence.migrate import VERSION_TABLE


def _urls(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_create_exactly_the_models(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(_urls(tmp_path, request, backend))
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]
    assert diff == []
    assert version == "0002_book_identity_fees"
    columns = {c["name"] for c in inspect(engine).get_columns("arena_rankings")}
    assert {
        "arena_id",
        "ts",
        "portfolio_id",
        "study_name",
        "trial_id",
        "rank",
        "sharpe",
        "promoted",
    } <= columns
    assert {"portfolio_id", "ts", "equity", "cash"} <= {
        c["name"] for c in inspect(engine).get_columns("portfolio_snapshots")
    }
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_lock_per_portfolio(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(_urls(tmp_path, request, backend))
    upgrade(engine)
    with PortfolioLock(engine, "local/ens"):
        with pytest.raises(PortfolioLocked, match="already being traded"):
            PortfolioLock(engine, "local/ens").acquire()
        PortfolioLock(engine, "local/other").acquire().release()  # other books are free
    PortfolioLock(engine, "local/ens").acquire().release()  # released on exit
    engine.dispose()
