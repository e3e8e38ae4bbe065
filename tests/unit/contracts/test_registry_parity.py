"""The runtime's registry and the operator's selection pick the same models with the same
statement (cappuccino_contracts.registry), on SQLite and on PostgreSQL (whose Optuna enums are
native types), and the operator's status queries read the tables the runtime's migrations
create (cappuccino_contracts.tables)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cappuccino_operator.queries import (
    arena_leader,
    complete_count,
    portfolio_equity,
    select_trials,
    study_report,
    study_summary,
    sweep_failures,
)
from cappuccino_operator.storage import OWNER_ATTR, study_owner
from cappuccino_operator.testing import seed_trials, write_ranking, write_report, write_snapshot
from sqlalchemy import create_engine

from cappuccino_runtime.persistence import make_engine, upgrade
from cappuccino_runtime.registry import connect, get_trial, top_trials
from tests.support.postgres import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_runtime_and_operator_rank_the_same_trials(url: str, direction: str) -> None:
    values = [0.5, 2.0, 1.0, -1.0, 2.0, math.inf, -math.inf]
    ids = seed_trials(url, "s", values, failed=2, direction=direction)  # type: ignore[arg-type]
    seed_trials(url, "s-other", [9.0, -9.0], direction=direction)  # type: ignore[arg-type]
    engine = connect(url)
    runtime = top_trials(engine, "s", len(values))
    with create_engine(url).connect() as conn:
        operator = select_trials(conn, "s", top_n=len(values))
    assert [t.trial_id for t in runtime] == [t.trial_id for t in operator.trials]
    by_value = dict(zip(ids, values, strict=True))
    ranked = [by_value[t.trial_id] for t in runtime]
    if direction == "maximize":
        assert ranked == [math.inf, 2.0, 2.0, 1.0, 0.5, -1.0, -math.inf]
    else:
        assert ranked == [-math.inf, -1.0, 0.5, 1.0, 2.0, 2.0, math.inf]
    ties = [t.trial_id for t in runtime if by_value[t.trial_id] == 2.0]
    assert ties == sorted(ties)  # equal values: lower number first, in both
    # The operator keeps infinities out of status (no finite number to show).
    assert [t.value for t in operator.trials if t.value is None] == [None, None]
    assert all(t.sha256 == r.sha256_actor for t, r in zip(operator.trials, runtime, strict=True))
    picked = {t.trial_id: t.sha256 for t in operator.trials}
    assert get_trial(engine, ids[1]).user_attrs["sha256_actor"] == picked[ids[1]]
    engine.dispose()


def test_refit_agents_rank_by_hyperparameter_score_then_seed_never_by_hold_out(url: str) -> None:
    """A refit study's value is each agent's hold-out Sharpe; ranking by it would select on
    the hold-out. Both packages rank refit agents by source score, then source, then seed."""
    # (hold-out Sharpe, source score, source number, seed): the hold-out order is reversed.
    agents = [(3.0, 0.2, 7, 0), (2.5, 0.9, 4, 1), (2.0, 0.9, 4, 0), (1.0, 1.4, 2, 0)]
    ids = [
        seed_trials(url, "s-refit", [h], numbers={
            "holdout_sharpe": h, "hyperparameter_score": score, "source_number": src,
            "refit_seed": seed,
        })[0]
        for h, score, src, seed in agents
    ]  # fmt: skip
    expected = [ids[3], ids[2], ids[1]]  # score 1.4, then 0.9 seed 0, 0.9 seed 1
    engine = connect(url)
    assert [t.trial_id for t in top_trials(engine, "s-refit", 3)] == expected
    with create_engine(url).connect() as conn:
        picked = select_trials(conn, "s-refit", top_n=3)
        # the hold-out gate still applies (minSharpe on the model's own number), then the rank
        gated = select_trials(conn, "s-refit", top_n=2, min_value=2.2)
    assert [t.trial_id for t in picked.trials] == expected
    assert [t.trial_id for t in gated.trials] == [ids[1], ids[0]]
    assert picked.trials[0].numbers["holdout_sharpe"] == 1.0
    # a search study still ranks by value
    seed_trials(url, "s", [0.1, 0.3])
    assert [t.value for t in top_trials(engine, "s", 2)] == [0.3, 0.1]
    engine.dispose()


def test_the_operators_study_reads_work_on_the_backend(url: str) -> None:
    ids = seed_trials(url, "s", [0.5, 2.0], failed=2, failed_by="sweep-a")
    seed_trials(url, "s", [], failed=1)  # failed by a stale heartbeat: not the sweep's
    write_report(url, "s", {"dsr": 0.4, "pbo": 0.2})
    with create_engine(url).connect() as conn:
        summary = study_summary(conn, "s")
        assert summary is not None and summary.counts == {"complete": 2, "failed": 3}
        assert (summary.best_trial_id, summary.best_value) == (ids[1], 2.0)
        assert complete_count(conn, "s") == 2 and complete_count(conn, "missing") == 0
        assert sweep_failures(conn, "s", "sweep-a") == 2
        assert sweep_failures(conn, "s", "sweep-b") == 0
        assert study_report(conn, "s") == {"dsr": 0.4, "pbo": 0.2}
        assert study_report(conn, "missing") is None
        assert study_owner(conn, "s") is None


def test_the_operator_reads_the_ledger_the_runtime_migrates(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)  # the runtime's Alembic history creates the tables
    engine.dispose()
    with create_engine(url).connect() as conn:
        assert arena_leader(conn, "ns/a") is None and portfolio_equity(conn, "ns/e") is None
    write_ranking(url, "ns/a", "s", [(7, 1.5), (9, 0.5)], promote=1)
    write_snapshot(url, "ns/e", 10250.0, cash=250.0)
    with create_engine(url).connect() as conn:
        leader = arena_leader(conn, "ns/a")
        assert leader is not None
        assert (leader.trial_id, leader.study_name, leader.sharpe, leader.promoted) == (
            7,
            "s",
            1.5,
            1,
        )
        equity = portfolio_equity(conn, "ns/e")
        assert equity is not None and equity.equity == 10250.0


def test_an_owner_claim_is_read_back(url: str) -> None:
    import optuna

    seed_trials(url, "s", [1.0])
    storage = optuna.storages.RDBStorage(url)
    storage.set_study_system_attr(storage.get_study_id_from_name("s"), OWNER_ATTR, "team-a")
    with create_engine(url).connect() as conn:
        assert study_owner(conn, "s") == "team-a"
    storage.engine.dispose()
