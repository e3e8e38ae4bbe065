"""Engine creation and schema migrations (Alembic, run in-process; no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from cappuccino_runtime.errors import StorageUnavailable

__all__ = ["VERSION_TABLE", "make_engine", "upgrade"]

VERSION_TABLE = "cappuccino_ledger_version"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for the ledger URL; SQLite gets foreign keys, WAL and a busy timeout.

    SQLite files are created with their parent directory; `postgresql+psycopg://` URLs are used
    as given.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the ledger schema to `revision` (idempotent: an up-to-date database is untouched)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as e:
        raise StorageUnavailable(
            f"Migrating the trading ledger at {engine.url.render_as_string(hide_password=True)} "
            f"to {revision} failed because the database is unreachable: {e.orig}"
        ) from e
