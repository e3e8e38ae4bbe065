"""One lock per portfolio, so two processes can never trade the same book.

- PostgreSQL: a session-level `pg_try_advisory_lock(key)` held on a dedicated connection that
  stays open while the trader runs; key = the first 8 bytes of sha256(portfolio_id) as a signed
  64-bit integer. The server releases it when the connection or the process dies, so a killed
  pod never leaves a stale lock.
- SQLite (local runs): an exclusive `fcntl.flock` on `<db file>.<12 hex of the key>.lock` next
  to the database file (its real path, so a symlink to the same file meets the same lock).
  The kernel releases it when the process dies. An in-memory SQLite
  database cannot be shared between processes, so it needs no lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text

from cappuccino_runtime.errors import PortfolioLocked

__all__ = ["PortfolioLock", "advisory_key"]


def advisory_key(portfolio_id: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock from the portfolio id."""
    return int.from_bytes(hashlib.sha256(portfolio_id.encode()).digest()[:8], "big", signed=True)


class PortfolioLock:
    """Context manager holding the portfolio's lock; raises PortfolioLocked if it is taken."""

    def __init__(self, engine: Engine, portfolio_id: str) -> None:
        self.engine = engine
        self.portfolio_id = portfolio_id
        self._connection: Connection | None = None
        self._fd: int | None = None

    def acquire(self) -> PortfolioLock:
        key = advisory_key(self.portfolio_id)
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            connection.commit()
            if not got:
                connection.close()
                raise self._taken()
            self._connection = connection
        elif self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:":
                real = os.path.realpath(database)  # a symlinked path locks the same file
                path = Path(f"{real}.{key & 0xFFFFFFFFFFFF:012x}.lock")
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise self._taken() from None
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {self.portfolio_id}\n".encode())
                self._fd = fd
        else:
            raise PortfolioLocked(
                f"cannot lock portfolio {self.portfolio_id!r}: the ledger dialect "
                f"{self.engine.dialect.name!r} has no supported lock; use SQLite or PostgreSQL."
            )
        return self

    def release(self) -> None:
        if self._connection is not None:
            try:
                key = advisory_key(self.portfolio_id)
                self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _taken(self) -> PortfolioLocked:
        return PortfolioLocked(
            f"portfolio {self.portfolio_id!r} is already being traded by another process (its "
            f"lock in {self.engine.url.render_as_string(hide_password=True)} is held); refusing "
            "to trade the same book twice."
        )

    def __enter__(self) -> PortfolioLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
