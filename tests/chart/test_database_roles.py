"""The chart's database roles (files/postgresql-roles.psql, contract 8) on a real PostgreSQL:
workers write the Optuna tables, traders write only the ledger and read Optuna, the read-only
role (operator, dashboards) writes nothing. The same SQL file the chart mounts into the bundled
PostgreSQL's docker-entrypoint-initdb.d runs here through psql."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import optuna
import psycopg
import pytest

from tests.support.postgres import PostgresServer

SQL = (
    Path(__file__).resolve().parents[2]
    / "charts"
    / "cappuccino"
    / "files"
    / "postgresql-roles.psql"
)


def apply_roles(server: PostgresServer, database: str, roles: dict[str, str]) -> None:
    argv = ["psql", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", database]
    argv += ["-v", f"database={database}", "-f", str(SQL)]
    for who, role in roles.items():
        argv += ["-v", f"{who}_role={role}", "-v", f"{who}_password=pw-{role}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def connect(server: PostgresServer, database: str, role: str) -> psycopg.Connection:
    return psycopg.connect(
        f"postgresql://{role}@127.0.0.1:{server.port}/{database}", autocommit=True
    )


def denied(conn: psycopg.Connection, sql: str) -> bool:
    try:
        conn.execute(sql)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction):
        return True
    return False


@pytest.fixture
def roles_db(postgres_server: PostgresServer) -> tuple[str, dict[str, str]]:
    database = postgres_server.create_database().rsplit("/", 1)[1]
    suffix = uuid.uuid4().hex[:8]
    roles = {w: f"cappuccino_{w}_{suffix}" for w in ("worker", "trader", "readonly")}
    apply_roles(postgres_server, database, roles)
    return database, roles


def test_each_role_can_do_its_job_and_nothing_more(
    postgres_server: PostgresServer, roles_db: tuple[str, dict[str, str]]
) -> None:
    database, roles = roles_db
    url = f"postgresql+psycopg://{{}}@127.0.0.1:{postgres_server.port}/{database}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    # Worker: creates the Optuna schema and writes trials.
    study = optuna.create_study(study_name="s", storage=url.format(roles["worker"]))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)

    # Trader: reads Optuna, owns the ledger, cannot touch Optuna's tables.
    loaded = optuna.load_study(study_name="s", storage=url.format(roles["trader"]))
    assert len(loaded.trials) == 2
    with connect(postgres_server, database, roles["trader"]) as trader:
        assert denied(trader, "UPDATE trials SET state = 'FAIL'")
        assert denied(trader, "DELETE FROM studies")
        assert denied(trader, "DROP TABLE trials")
        trader.execute("CREATE TABLE ledger_fills (id serial PRIMARY KEY, qty float)")
        trader.execute("INSERT INTO ledger_fills (qty) VALUES (1.5)")

    # Worker cannot read or change the ledger.
    with connect(postgres_server, database, roles["worker"]) as worker:
        assert denied(worker, "SELECT * FROM ledger_fills")
        assert denied(worker, "DROP TABLE ledger_fills")

    # Read-only: reads both, writes and creates nothing.
    with connect(postgres_server, database, roles["readonly"]) as ro:
        assert ro.execute("SELECT count(*) FROM trials").fetchone() == (2,)
        assert ro.execute("SELECT qty FROM ledger_fills").fetchone() == (1.5,)
        assert denied(ro, "INSERT INTO ledger_fills (qty) VALUES (2)")
        assert denied(ro, "UPDATE trials SET state = 'FAIL'")
        assert denied(ro, "CREATE TABLE sneaky (id int)")
    readonly_study = optuna.load_study(study_name="s", storage=url.format(roles["readonly"]))
    assert readonly_study.best_trial.number in (0, 1)


def test_roles_script_is_idempotent_and_grants_existing_tables(
    postgres_server: PostgresServer, roles_db: tuple[str, dict[str, str]]
) -> None:
    database, roles = roles_db
    with connect(postgres_server, database, roles["trader"]) as trader:
        trader.execute("CREATE TABLE ledger_positions (symbol text)")
    # A re-run (repairing an existing database) must succeed and keep every grant.
    apply_roles(postgres_server, database, roles)
    with connect(postgres_server, database, roles["readonly"]) as ro:
        assert ro.execute("SELECT count(*) FROM ledger_positions").fetchone() == (0,)
    with postgres_server.admin(database) as admin:
        flags = admin.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
            "WHERE rolname = ANY(%s) ORDER BY rolname",
            (list(roles.values()),),
        ).fetchall()
    assert len(flags) == 3
    assert all(not any(row[1:]) for row in flags), "no role may be superuser or create roles/dbs"


def test_the_chart_init_script_creates_the_three_roles(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The rendered ConfigMap's script, run as the image's entrypoint runs it on first start."""
    from tests.chart.test_chart import one, render

    init = one(render(), "ConfigMap", "t-cappuccino-postgresql-init")["data"]
    for name, body in init.items():
        (tmp_path / name).write_text(body)
        (tmp_path / name).chmod(0o555)
    database = postgres_server.create_database().rsplit("/", 1)[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres_server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": database,
        "CAPPUCCINO_WORKER_PASSWORD": "w-secret",
        "CAPPUCCINO_TRADER_PASSWORD": "t-secret",
        "CAPPUCCINO_READONLY_PASSWORD": "r-secret",
        "CAPPUCCINO_INITDB_DIR": str(tmp_path),
    }
    script = tmp_path / "10-cappuccino-roles.sh"
    proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with postgres_server.admin(database) as admin:
        rows = admin.execute(
            "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid "
            "WHERE rolname = ANY(%s) ORDER BY rolname",
            (["cappuccino_worker", "cappuccino_trader", "cappuccino_readonly"],),
        ).fetchall()
    assert rows == [
        ("cappuccino_readonly", True),
        ("cappuccino_trader", True),
        ("cappuccino_worker", True),
    ]


def test_the_trader_role_migrates_the_real_ledger_and_the_readers_read_it(
    postgres_server: PostgresServer, roles_db: tuple[str, dict[str, str]]
) -> None:
    """The trading ledger's own Alembic migrations run as the trader role next to Optuna's tables
    (created by the worker role); the read-only role reads both; the worker cannot touch it."""
    from cappuccino_runtime.persistence import open_sql_ledger

    database, roles = roles_db
    url = f"postgresql+psycopg://{{}}@127.0.0.1:{postgres_server.port}/{database}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="s", storage=url.format(roles["worker"]))
    ledger = open_sql_ledger(url.format(roles["trader"]))
    ledger.engine.dispose()
    with postgres_server.admin(database) as admin:
        owners = dict(
            admin.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        )
    assert owners["portfolios"] == roles["trader"]
    assert owners["cappuccino_ledger_version"] == roles["trader"]
    assert owners["trials"] == roles["worker"]
    with connect(postgres_server, database, roles["readonly"]) as ro:
        assert ro.execute("SELECT count(*) FROM portfolios").fetchone() == (0,)
        assert ro.execute("SELECT count(*) FROM studies").fetchone() == (1,)
        assert denied(ro, "DELETE FROM portfolios")
    with connect(postgres_server, database, roles["worker"]) as worker:
        assert denied(worker, "SELECT * FROM portfolios")
    # A second start of the trader is a no-op migration under the same role.
    open_sql_ledger(url.format(roles["trader"])).engine.dispose()
