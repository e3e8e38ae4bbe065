"""The page model on PostgreSQL: the same demo-like run with Optuna and the ledger in Postgres
(the time buckets' SQL, the advisory-lock probe of a running trader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from cappuccino_runtime.persistence import PortfolioLock, make_engine
from tests.dashboard.world import build_demo_world

pytestmark = pytest.mark.postgres


def test_every_page_on_postgres(tmp_path: Path, postgres_server) -> None:  # type: ignore[no-untyped-def]
    storage, ledger = postgres_server.create_database(), postgres_server.create_database()
    world = build_demo_world(tmp_path, storage=storage, ledger_url=ledger)
    service = DashboardService(DashboardSources.from_settings(world.settings))
    d = service.build()
    assert all(s.ok for s in d.system.sources), d.system.sources
    demo = next(s for s in d.training.studies if s.study_name == "demo")
    assert demo.states == {"COMPLETE": 3} and sum(demo.trials_per_hour_series.y) > 0  # type: ignore[arg-type]
    assert demo.best_value_series.y[-1] == demo.best_value
    assert d.two_phase.studies[0].winner is not None
    (book,) = d.ensemble.books
    assert book.snapshots == 48 and book.positions and book.trader.running is False
    assert len(d.arena.arenas[0].members) == 3 and d.trades.total > 0
    engine = make_engine(ledger)
    with PortfolioLock(engine, "local/ensemble"):
        (book,) = service.build().ensemble.books
        assert book.trader.running is True and book.trader.since is not None
    assert service.build().ensemble.books[0].trader.running is False
    engine.dispose()
    service.close()
