"""A throwaway PostgreSQL server for integration tests: initdb + pg_ctl on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is owned by the
`postgres` system user that Debian's package creates (scripts/ensure-system-packages installs it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import psycopg

__all__ = ["BACKENDS", "PostgresServer", "backend_url", "find_pg_bin"]

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Fixture params of a test that runs on SQLite and, marked `postgres`, on PostgreSQL."""


def find_pg_bin() -> Path:
    """Directory holding initdb/pg_ctl: $PG_BIN, PATH, or the newest /usr/lib/postgresql/*/bin."""
    if env := os.environ.get("PG_BIN"):
        return Path(env)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if candidates:
        return Path(candidates[-1])
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found; run scripts/ensure-system-packages "
        "or set PG_BIN to their directory."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One running cluster; `url(db)` gives a SQLAlchemy/Optuna URL (psycopg 3 driver)."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @classmethod
    def start(cls, listen: str = "127.0.0.1", trust_cidr: str | None = None) -> PostgresServer:
        """`listen`: listen_addresses (pods reach a host database on the node IP, not on
        127.0.0.1); `trust_cidr`: clients from this network (a pod CIDR) are trusted too."""
        bin_dir = find_pg_bin()
        root = Path(tempfile.mkdtemp(prefix="cappuccino-pg-"))
        run_as = "postgres" if os.geteuid() == 0 else None
        server = cls(root=root, port=_free_port(), bin_dir=bin_dir, run_as=run_as)
        if run_as:
            pw = pwd.getpwnam(run_as)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        server._run(
            [
                "initdb",
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        if trust_cidr:
            with open(root / "data" / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {trust_cidr} trust\n")
        opts = (
            f"-c listen_addresses={listen} -c port={server.port} "
            f"-c unix_socket_directories={root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        server._run(
            [
                "pg_ctl",
                "-D",
                str(root / "data"),
                "-l",
                str(root / "log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        return server

    def _run(self, argv: list[str]) -> None:
        argv = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.root)
        if proc.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr}{proc.stdout}{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection (autocommit) to `database`; use it as a context manager."""
        import psycopg

        return psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{database}", autocommit=True
        )

    def create_database(self, name: str | None = None) -> str:
        """Creates a fresh database and returns its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(["pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def backend_url(request: pytest.FixtureRequest, base: Path) -> str:
    """A fresh database for the backend a BACKENDS-parametrised fixture runs with: a SQLite file
    under `base`, or a new database on the session's server (fixture `postgres_server`)."""
    if request.param == "sqlite":
        return f"sqlite:///{base / 'optuna.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
