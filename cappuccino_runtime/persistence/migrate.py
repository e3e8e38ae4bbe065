"""Engine creation and schema migrations (Alembic, run in-process; no alembic.ini)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from cappuccino_runtime.errors import ConfigError, StorageUnavailable

__all__ = ["VERSION_TABLE", "make_engine", "upgrade"]

VERSION_TABLE = "cappuccino_ledger_version"
_UNREACHABLE = re.compile(
    r"unable to open|locked|busy|connection|could not connect|timeout|refused|disk I/O",
    re.IGNORECASE,
)
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for the ledger URL; SQLite gets foreign keys, WAL and a busy timeout.

    SQLite files are created with their parent directory; `postgresql+psycopg://` URLs are used
    as given. SQLite transactions are SQLAlchemy's documented pysqlite recipe (the driver's own
    transaction handling off, `BEGIN` emitted by SQLAlchemy), so DDL is transactional: a
    process killed during the first migration leaves an empty database, not half a schema.
    """
    try:
        parsed = make_url(url)
        parsed.get_dialect()
        _ = parsed.port  # a non-numeric port fails here
    except Exception as e:  # ArgumentError, NoSuchModuleError, ValueError
        raise ConfigError(
            f"the ledger URL {_safe(url)!r} is not usable ({_first_line(e)}); give an SQLAlchemy "
            "URL such as sqlite:///ledger.db or postgresql+psycopg://user:pass@host:5432/db."
        ) from None
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _safe(url: str) -> str:
    """The URL without its password (it is named in error messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the ledger schema to `revision` (idempotent: an up-to-date database is untouched)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as e:
        where = engine.url.render_as_string(hide_password=True)
        text = str(e.orig)
        if _UNREACHABLE.search(text):
            raise StorageUnavailable(
                f"Migrating the trading ledger at {where} to {revision} failed because the "
                f"database is unreachable or busy: {text}"
            ) from e
        raise ConfigError(
            f"The trading ledger at {where} has a schema this version cannot migrate ({text}). "
            "It was probably created by another program or damaged; point --ledger-url at a "
            "new database, or restore this one from a backup."
        ) from e
