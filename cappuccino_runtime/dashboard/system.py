"""The system page: trainers (from Optuna's RUNNING trials and heartbeats), traders (from their
portfolio lock), the operator and custom resources (in a cluster), and host resources."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from cappuccino_runtime.dashboard.pages import ProcessStatus, Resources
from cappuccino_runtime.persistence.locks import advisory_key

__all__ = ["host_resources", "trader_probe", "trainer_statuses"]


def trainer_statuses(
    running: dict[str, tuple[int, datetime | None, datetime | None]],
    last_complete: dict[str, datetime | None],
) -> list[ProcessStatus]:
    """One line per study: RUNNING trials mean a worker is training it."""
    return [
        ProcessStatus(
            kind="trainer",
            name=study,
            running=count > 0,
            since=since if count else None,
            last_activity=heartbeat or last_complete.get(study),
            last_activity_what="heartbeat" if heartbeat else "last trial finished",
            detail=f"{count} trial(s) running" if count else "no trial running",
        )
        for study, (count, since, heartbeat) in sorted(running.items())
    ]


def _flock_holder(path: Path) -> int | None:
    """The pid holding an flock on `path`, read from /proc/locks (Linux; takes no lock)."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 6386 00:2a:12345 0 EOF" (blocked waiters carry "->")
        if (
            len(fields) >= 6
            and fields[1] == "FLOCK"
            and "->" not in fields
            and int(fields[5].rsplit(":", 1)[-1]) == inode
        ):
            return int(fields[4])
    return None


def trader_probe(engine: Engine) -> Callable[[str], ProcessStatus]:
    """A function telling, per portfolio, whether a trader holds its lock (read-only check).

    SQLite: the flock on the lock file beside the database, seen in /proc/locks (this host).
    PostgreSQL: `pg_locks` shows the advisory lock and `pg_stat_activity` since when.
    """
    dialect = engine.dialect.name

    def probe(portfolio_id: str) -> ProcessStatus:
        key = advisory_key(portfolio_id)
        if dialect == "sqlite":
            database = engine.url.database or ""
            path = Path(f"{database}.{key & 0xFFFFFFFFFFFF:012x}.lock")
            if not database or not path.exists():
                return ProcessStatus(
                    kind="trader",
                    name=portfolio_id,
                    running=False,
                    detail="no trader has run on this ledger file",
                )
            holder = _flock_holder(path)
            content = path.read_text().split()
            last = content[0] if content else "?"
            since = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return ProcessStatus(
                kind="trader",
                name=portfolio_id,
                running=holder is not None,
                since=since if holder is not None else None,
                detail=f"pid {holder} holds its lock"
                if holder is not None
                else f"last run by pid {last}",
            )
        if dialect == "postgresql":
            with engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT a.backend_start FROM pg_locks l LEFT JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
                    ),
                    {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
                ).first()
            return ProcessStatus(
                kind="trader",
                name=portfolio_id,
                running=row is not None,
                since=row[0] if row is not None else None,
                detail="holds its portfolio lock" if row is not None else "lock not held",
            )
        return ProcessStatus(
            kind="trader",
            name=portfolio_id,
            running=None,
            detail=f"cannot tell on a {dialect} ledger",
        )

    return probe


def host_resources(path: Path) -> Resources:
    """CPU, memory and disk of the machine the dashboard runs on."""
    import psutil

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    disk = shutil.disk_usage(existing)
    return Resources(
        cpu_count=os.cpu_count() or 1,
        load_1m=load,
        memory_used_fraction=psutil.virtual_memory().percent / 100.0,
        disk_path=str(existing),
        disk_used_fraction=disk.used / disk.total if disk.total else None,
    )
