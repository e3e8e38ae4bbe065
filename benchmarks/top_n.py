"""Top-N of one study: the registry's single SQL query vs sorting Optuna's `study.trials`.

Run: `python -m benchmarks.top_n [--trials 100000] [--n 20] [--backends postgres,sqlite]`.

For each backend it creates a study with Optuna (so the schema and version rows are Optuna's
own), bulk-loads `--trials` trials straight into Optuna's tables (COPY on PostgreSQL,
executemany on SQLite; 90% COMPLETE, 5% PRUNED, 5% FAIL, the params and user attrs training
records), plus a second study sharing the same trial numbers, then measures in one process:
- registry: `cappuccino_runtime.registry.top_trials(engine, study, N)` (median and min of 30),
- optuna: `sorted(study.trials, key=value)[:N]` (Optuna's API; one run, it is slow),
and prints both, their ratio (optuna / registry median), whether they picked the same
trial_ids, and the load average (timings on a busy shared machine are inflated). Nothing
asserts on time. PostgreSQL is started with tests/support/postgres.py (initdb + pg_ctl on loopback).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from sqlalchemy import Engine, text

from cappuccino_runtime.registry import connect, top_trials

STUDY = "bench"
NEIGHBOUR = "bench-neighbour"
DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
    "net_dimension": IntDistribution(64, 1536, step=64),
    "batch_size": CategoricalDistribution([512, 1024, 2048]),
    "gamma": FloatDistribution(0.9, 0.999),
    "ent_coef": FloatDistribution(1e-4, 0.05, log=True),
    "lookback": IntDistribution(1, 24),
}


def _params(rng: random.Random) -> list[tuple[str, float, str]]:
    out = []
    for name, dist in DISTRIBUTIONS.items():
        if isinstance(dist, CategoricalDistribution):
            internal = float(rng.randrange(len(dist.choices)))
        elif isinstance(dist, IntDistribution):
            internal = float(rng.randrange(dist.low, dist.high + 1, dist.step))
        else:
            internal = rng.uniform(dist.low, dist.high)
        out.append((name, internal, distribution_to_json(dist)))
    return out


def _user_attrs(value: float, number: int, study: str) -> list[tuple[str, str]]:
    sharpes = [round(value + 0.1 * k, 6) for k in range(6)]
    spec = {
        "symbols": ["BTC/USD", "ETH/USD", "SOL/USD"],
        "timeframe": "1h",
        "lookback": 8,
        "feature_set": "ohlcv-ta",
        "obs_dim": 64,
        "action_dim": 3,
        "net_dimension": 512,
        "normalizer": None,
        "initial_cash": 10000.0,
        "fee_rate": 0.0025,
    }
    attrs: dict[str, Any] = {
        "mean_sharpe_bot": value,
        "mean_sharpe_hodl": 0.4,
        "sharpe_list_bot": sharpes,
        "sharpe_list_hodl": [0.4] * 6,
        "std_sharpe_bot": 0.05,
        "timeframe": "1h",
        "artifact_uri": f"file:///artifacts/{study}/trial_{number}_1h",
        "sha256_actor": f"{number:064x}",
        "sha256_critic": f"{number + 1:064x}",
        "data_hash": "0" * 16,
        "code_version": "bench",
        "seed": number,
        "model_spec": spec,
    }
    return [(k, json.dumps(v)) for k, v in attrs.items()]


def _rows(
    study_id: int, n: int, first_trial_id: int, first_row_id: int, study: str, seed: int
) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    tables: dict[str, list[tuple[Any, ...]]] = {
        "trials": [],
        "trial_values": [],
        "trial_params": [],
        "trial_user_attributes": [],
    }
    row_id = first_row_id
    for number in range(n):
        trial_id = first_trial_id + number
        draw = rng.random()
        state = "COMPLETE" if draw < 0.90 else ("PRUNED" if draw < 0.95 else "FAIL")
        tables["trials"].append((trial_id, number, study_id, state, now, now))
        for name, internal, dist in _params(rng):
            row_id += 1
            tables["trial_params"].append((row_id, trial_id, name, internal, dist))
        if state == "COMPLETE":
            value = rng.gauss(0.5, 1.0)
            row_id += 1
            tables["trial_values"].append((row_id, trial_id, 0, value, "FINITE"))
            for key, value_json in _user_attrs(value, number, study):
                row_id += 1
                tables["trial_user_attributes"].append((row_id, trial_id, key, value_json))
    return tables


COLUMNS = {
    "trials": "trial_id, number, study_id, state, datetime_start, datetime_complete",
    "trial_values": "trial_value_id, trial_id, objective, value, value_type",
    "trial_params": "param_id, trial_id, param_name, param_value, distribution_json",
    "trial_user_attributes": "trial_user_attribute_id, trial_id, key, value_json",
}


def _bulk_load(engine: Engine, tables: dict[str, list[tuple[Any, ...]]]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, rows in tables.items():
            columns = COLUMNS[table]
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns.split(",")))
                cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in COLUMNS:
                key = COLUMNS[table].split(",")[0]
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                        f"(SELECT max({key}) FROM {table}))"
                    )
                )
        conn.execute(text("ANALYZE"))


def populate(storage: str, n_trials: int) -> Engine:
    """Creates the two studies with Optuna, then bulk-inserts their trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in (STUDY, NEIGHBOUR):
        optuna.create_study(study_name=name, storage=storage, direction="maximize")
    engine = connect(storage)
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT study_name, study_id FROM studies")).all())
    main = _rows(ids[STUDY], n_trials, 1, 1, STUDY, seed=1)
    neighbour = _rows(ids[NEIGHBOUR], n_trials // 10, n_trials + 1, 50_000_000, NEIGHBOUR, seed=2)
    merged = {k: main[k] + neighbour[k] for k in main}
    _bulk_load(engine, merged)
    return engine


def _timings(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(median, min) wall seconds of fn() after one warm-up call."""
    fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), min(samples)


def _optuna_top(storage: str, n: int) -> Sequence[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=STUDY, storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: (-(t.value or 0.0), t.number))[:n]


def bench(backend: str, storage: str, n_trials: int, n: int) -> dict[str, float | bool]:
    """Populates one backend and prints its figures."""
    t0 = time.perf_counter()
    engine = populate(storage, n_trials)
    load_s = time.perf_counter() - t0
    registry_s, registry_min_s = _timings(lambda: top_trials(engine, STUDY, n), reps=30)
    registry_ids = [t.trial_id for t in top_trials(engine, STUDY, n)]
    t0 = time.perf_counter()
    optuna_ids = [t._trial_id for t in _optuna_top(storage, n)]
    optuna_s = time.perf_counter() - t0
    engine.dispose()
    figures: dict[str, float | bool] = {
        "load_s": load_s,
        "registry_ms": registry_s * 1e3,
        "registry_min_ms": registry_min_s * 1e3,
        "optuna_ms": optuna_s * 1e3,
        "ratio": optuna_s / registry_s,
        "same_top": registry_ids == optuna_ids,
    }
    print(
        f"{backend:<10} trials={n_trials:>7} N={n:<3} registry median {figures['registry_ms']:7.1f} ms"
        f" (min {figures['registry_min_ms']:.1f})"
        f"   optuna study.trials+sort {figures['optuna_ms']:10.1f} ms"
        f"   ratio {figures['ratio']:8.1f}x   same top-{n}: {figures['same_top']}"
        f"   (bulk load {load_s:.1f} s, load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return figures


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--backends", default="postgres,sqlite")
    args = parser.parse_args(list(argv) if argv is not None else None)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"top-{args.n} of one study of {args.trials} trials (target: >= 50x, < 100 ms)")
    print(f"cpus={os.cpu_count()} load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="cappuccino-bench-") as tmp:
        for backend in backends:
            if backend == "sqlite":
                bench("sqlite", f"sqlite:///{Path(tmp) / 'optuna.db'}", args.trials, args.n)
            elif backend == "postgres":
                from tests.support.postgres import PostgresServer

                server = PostgresServer.start()
                try:
                    url = server.create_database("bench")
                    bench("postgres", url, args.trials, args.n)
                finally:
                    server.stop()
            else:
                parser.error(f"unknown backend {backend!r}; use postgres and/or sqlite")


if __name__ == "__main__":
    main()
