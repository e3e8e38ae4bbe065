"""The page model against a real demo-like run, an empty home, a stopped trader and a study of
100k trials (rows inserted with SQL): every page from the same plain data, aggregate queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial
from sqlalchemy import create_engine, text

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from cappuccino_runtime.dashboard.ledger_pages import average_cost, drawdown_status, trades_status
from cappuccino_runtime.dashboard.optuna_pages import IMPORTANCE_SAMPLE, MAX_BUCKETS
from cappuccino_runtime.metrics import (
    annualised_sharpe,
    max_drawdown,
    returns_from_equity,
    sharpe_standard_error,
)
from cappuccino_runtime.persistence import PortfolioLock, make_engine, open_sql_ledger
from cappuccino_runtime.registry.queries import connect, top_trials
from cappuccino_runtime.settings import Settings
from tests.dashboard.world import DemoWorld


def _sources(home: Path, **kw: object) -> DashboardSources:
    return DashboardSources.from_settings(Settings.from_env(home=home), **kw)  # type: ignore[arg-type]


def test_average_cost_hand_computed() -> None:
    # buy 2 @ 100 (fee 0.01 units): 1.99 units cost 200; sell 1 @ 150 at avg 200/1.99; buy 1 @ 130
    fills = [("buy", 2.0, 100.0, 0.01), ("sell", 1.0, 150.0, 0.3), ("buy", 1.0, 130.0, 0.0)]
    units = 1.99 - 1.0 + 1.0
    cost = 200.0 - 200.0 / 1.99 + 130.0
    assert average_cost(fills) == pytest.approx(cost / units)
    assert average_cost([("buy", 1.0, 10.0, 0.0), ("sell", 1.0, 12.0, 0.0)]) is None


def test_targets_follow_the_original() -> None:
    assert [trades_status(x) for x in (None, 0.5, 1.0, 3.0, 4.0, 5.5)] == [
        "n/a", "low", "ok", "ok", "high", "churning"
    ]  # fmt: skip
    assert [drawdown_status(x) for x in (None, 0.05, 0.15, 0.25)] == [
        "n/a",
        "ok",
        "watch",
        "warning",
    ]


def test_sharpe_standard_error_lo_2002() -> None:
    # per-bar Sharpe 0.1 over 100 bars: sqrt((1 + 0.005) / 100) = 0.10025; annualised by sqrt(365)
    assert sharpe_standard_error(0.1 * 365**0.5, 100, 365) == pytest.approx(
        (1.005 / 100) ** 0.5 * 365**0.5
    )
    with pytest.raises(ValueError, match="at least 2 returns"):
        sharpe_standard_error(1.0, 1, 365)


def test_every_page_from_the_demo_run(
    demo_world: DemoWorld, demo_service: DashboardService
) -> None:
    d = demo_service.build()
    assert all(s.ok for s in d.system.sources), d.system.sources

    # training: the study as the registry sees it
    studies = {s.study_name: s for s in d.training.studies}
    assert set(studies) == {"demo", "demo-phase1"}
    demo = studies["demo"]
    assert demo.states == {"COMPLETE": 3} and demo.total == 3
    engine = connect(demo_world.settings.storage)
    best = top_trials(engine, "demo", 1)[0]
    engine.dispose()
    assert (demo.best_trial_id, demo.best_value) == (best.trial_id, best.value)
    assert demo.split_sharpes_bot == best.user_attrs["sharpe_list_bot"]
    assert len(demo.split_sharpes_bot or []) == 6
    assert demo.importances and set(demo.importances) <= set(best.params)
    assert sum(demo.trials_per_hour_series.y) > 0  # type: ignore[arg-type]
    assert demo.best_value_series.y[-1] == pytest.approx(best.value)

    # two-phase: the winner stored by the phase-1 callback
    (tp,) = d.two_phase.studies
    assert tp.phase1_study == "demo-phase1" and tp.winner is not None
    assert tp.winner["study_name"] == "demo-phase1" and tp.phase2_states == {"COMPLETE": 3}

    # overfitting: the report the last training worker stored (no refit yet)
    stored = optuna.load_study(study_name="demo", storage=demo_world.settings.storage).user_attrs
    assert [(s.study_name, s.report) for s in d.overfitting.studies] == [("demo", stored["report"])]
    assert stored["report"]["n_trials"] >= 3 and stored["report"]["pbo"] is not None
    assert d.overfitting.refit_models == []

    # ensemble: the ledger's book, positions with average cost, benchmarks from the sample
    ledger = open_sql_ledger(demo_world.settings.ledger_url)
    (book,) = d.ensemble.books
    assert book.portfolio_id == "local/ensemble"
    snaps = ledger.snapshots("local/ensemble")
    assert book.equity == pytest.approx(snaps[-1].equity) and book.snapshots == len(snaps) == 48
    stored = ledger.book("local/ensemble")
    assert {p.ticker: p.quantity for p in book.positions} == pytest.approx(
        {s: q for s, q in stored.positions.items() if q}
    )
    assert all(p.avg_entry and p.avg_entry > 0 and p.pnl_pct is not None for p in book.positions)
    assert [s.name.split(" ")[0] for s in book.benchmarks] == ["buy-and-hold", "equal-weight"]
    assert book.benchmarks[0].y[0] == pytest.approx(book.initial_cash)
    assert book.trader.running is False and "last run by pid" in book.trader.detail
    assert d.ensemble.recent_trades and all(
        t.portfolio_id == "local/ensemble" for t in d.ensemble.recent_trades
    )

    # arena: the latest ranking, each member's window standard error
    (arena,) = d.arena.arenas
    ranking = ledger.latest_ranking("local/arena")
    assert [(m.portfolio_id, m.rank, m.promoted) for m in arena.members] == [
        (r.portfolio_id, r.rank, r.promoted) for r in ranking
    ]
    assert all(m.sharpe_stderr is not None and m.window_returns == 47 for m in arena.members)
    assert len(arena.rank_history) == 3 and len(arena.equity_curves) == 3

    # trade history: every fill counted
    fills = sum(
        len(ledger.fills(p)) for p in ["local/ensemble", *(r.portfolio_id for r in ranking)]
    )
    assert d.trades.total == fills and len(d.trades.trades) == min(fills, 200)

    # performance: the metrics module on the ledger's own snapshots
    rows = {r.portfolio_id: r for r in d.performance.rows}
    eq = np.array([s.equity for s in snaps])
    ens = rows["local/ensemble"]
    assert ens.sharpe == pytest.approx(annualised_sharpe(returns_from_equity(eq), 8760))
    assert ens.max_drawdown == pytest.approx(max_drawdown(eq))
    assert ens.trades == len(ledger.fills("local/ensemble")) and ens.alpha is not None
    assert ens.fees > 0 and ens.turnover and ens.turnover > 0
    ledger.engine.dispose()

    # the system page lists trainers and traders
    kinds = {(p.kind, p.name) for p in d.system.processes}
    assert {("trainer", "demo"), ("trader", "local/ensemble"), ("trader", "local/arena")} <= kinds


def test_overfitting_page_reads_report_and_refit_attrs(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.add_trial(create_trial(value=1.0, params={"x": 0.5},
                                 distributions={"x": FloatDistribution(0, 1)}))  # fmt: skip
    report = {"pbo": 0.31, "dsr": 0.97, "psr": 0.99, "n_trials": 1, "sharpe_selected": 1.0,
              "degradation_slope": None, "prob_oos_loss": 0.2,
              "computed_at": "2026-01-01T00:00:00+00:00", "selected_trial_id": 1}  # fmt: skip
    study.set_user_attr("report", report)
    refit = optuna.create_study(study_name="s-refit", storage=storage, direction="maximize")
    refit.add_trial(
        create_trial(
            value=0.8,
            user_attrs={"source_study": "s", "source_trial_id": 1, "refit_seed": 2,
                        "holdout_sharpe": 0.8, "holdout_sharpe_hodl": 0.3, "holdout_bars": 720,
                        "dsr": 0.96, "psr": 0.98, "hyperparameter_score": 1.0},
        )
    )  # fmt: skip
    refit.add_trial(create_trial(value=0.1))  # a refit trial missing its attrs
    service = DashboardService(_sources(tmp_path))
    page = service.build().overfitting
    service.close()
    assert [(s.study_name, s.report) for s in page.studies] == [("s", report)]
    first, second = page.refit_models
    assert (first.holdout_sharpe, first.dsr, first.source_trial_id, first.refit_seed) == (
        0.8, 0.96, 1, 2
    )  # fmt: skip
    assert (second.holdout_sharpe, second.dsr) == (None, None)  # "not computed", never a number


def test_empty_home_gives_empty_pages_and_says_why(tmp_path: Path) -> None:
    service = DashboardService(_sources(tmp_path / "nothing-here"))
    d = service.build()
    service.close()
    assert [(s.name, s.ok) for s in d.system.sources] == [
        ("Optuna storage", False), ("trading ledger", False)
    ]  # fmt: skip
    assert all("no database file" in (s.error or "") for s in d.system.sources)
    assert d.training.studies == [] and d.ensemble.books == [] and d.arena.arenas == []
    assert d.trades.total == 0 and d.performance.rows == [] and d.overfitting.studies == []
    assert not (tmp_path / "nothing-here" / "optuna.db").exists()  # the dashboard creates nothing


def test_a_running_trader_is_seen_through_its_lock(
    demo_world: DemoWorld, demo_service: DashboardService
) -> None:
    engine = make_engine(demo_world.settings.ledger_url)
    with PortfolioLock(engine, "local/ensemble"):
        (book,) = demo_service.build().ensemble.books
        assert book.trader.running is True and book.trader.since is not None
    (book,) = demo_service.build().ensemble.books
    assert book.trader.running is False  # stopped trader: its lock is free again
    engine.dispose()


N_TRIALS = 100_000


def _huge_study(path: Path) -> str:
    """A study of N_TRIALS finished trials (values, one param, a user attr), inserted with SQL."""
    storage = f"sqlite:///{path}"
    optuna.create_study(study_name="huge", storage=storage, direction="maximize")
    start = datetime(2026, 1, 1)
    engine = create_engine(storage)
    with engine.begin() as conn:
        (study_id,) = conn.execute(text("SELECT study_id FROM studies")).one()
        states = ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
        conn.execute(
            text("INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
                 "datetime_complete) VALUES (:id, :n, :s, :st, :a, :b)"),
            [{"id": i + 1, "n": i, "s": study_id, "st": states[i % 5],
              "a": start + timedelta(seconds=30 * i), "b": start + timedelta(seconds=30 * i + 25)}
             for i in range(N_TRIALS)],
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO trial_values (trial_id, objective, value, value_type) "
                 "VALUES (:id, 0, :v, 'FINITE')"),
            [{"id": i + 1, "v": float(np.sin(i) + i / N_TRIALS)} for i in range(N_TRIALS) if i % 5 < 3],
        )  # fmt: skip
        dist = json.dumps({"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 1.0,
                                                                          "step": None, "log": False}})  # fmt: skip
        conn.execute(
            text("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
                 "VALUES (:id, 'x', :x, :d)"),
            [{"id": i + 1, "x": (i % 97) / 97, "d": dist} for i in range(N_TRIALS)],
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (:id, :k, :v)"),
            [{"id": i + 1, "k": "sharpe_list_bot", "v": "[1.0, 2.0]"} for i in range(N_TRIALS)],
        )  # fmt: skip
    engine.dispose()
    return storage


def test_a_100k_trial_study_is_aggregated_in_sql(tmp_path: Path) -> None:
    _huge_study(tmp_path / "optuna.db")
    service = DashboardService(_sources(tmp_path))
    d = service.build()
    (s,) = d.training.studies
    assert s.total == N_TRIALS
    assert s.states == {"COMPLETE": 60_000, "FAIL": 20_000, "PRUNED": 20_000}
    best_i = max((i for i in range(N_TRIALS) if i % 5 < 3), key=lambda i: np.sin(i) + i / N_TRIALS)
    assert (s.best_number, s.best_trial_id) == (best_i, best_i + 1)
    assert s.best_value_series.y[-1] == pytest.approx(np.sin(best_i) + best_i / N_TRIALS)
    assert sum(s.trials_per_hour_series.y) * (len(s.trials_per_hour_series.y) and 1) > 0  # type: ignore[arg-type]
    assert len(s.trials_per_hour_series.x) <= MAX_BUCKETS + 1
    assert s.importances is not None and set(s.importances) == {"x"}
    # aggregate: a bounded number of statements and rows, whatever the study's size
    assert d.queries <= 12, d.queries
    assert d.rows_fetched <= MAX_BUCKETS + IMPORTANCE_SAMPLE + 50, d.rows_fetched
    again = service.build()  # importances cached while the study does not grow
    assert again.rows_fetched < d.rows_fetched
    service.close()
    print(f"100k-trial study: {d.queries} statements, {d.rows_fetched} rows fetched")


def test_times_are_utc(demo_service: DashboardService) -> None:
    d = demo_service.build()
    assert d.generated_at.tzinfo == UTC
    assert all(s.last_complete is None or s.last_complete.tzinfo == UTC for s in d.training.studies)
