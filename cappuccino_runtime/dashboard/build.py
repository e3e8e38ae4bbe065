"""Builds the page model once per refresh from the configured sources.

A source that is missing or unreachable yields empty pages and a line on the system page saying
what failed; it never stops the other pages. Nothing here writes: SQLite files are opened only
when they exist, and the ledger is read without migrating it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from cappuccino_contracts.naming import LOCAL_NAMESPACE, portfolio_id
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cappuccino_runtime.dashboard._sql import QueryLog
from cappuccino_runtime.dashboard.ledger_pages import LedgerPages, build_ledger_pages
from cappuccino_runtime.dashboard.market import Benchmarks
from cappuccino_runtime.dashboard.optuna_pages import (
    ImportanceCache,
    OptunaPages,
    build_optuna_pages,
)
from cappuccino_runtime.dashboard.pages import (
    ArenaPage,
    Dashboard,
    EnsemblePage,
    OverfittingPage,
    PerformancePage,
    ProcessStatus,
    SourceStatus,
    SystemPage,
    TradesPage,
    TrainingPage,
    TwoPhasePage,
)
from cappuccino_runtime.dashboard.system import host_resources, trader_probe, trainer_statuses
from cappuccino_runtime.settings import Settings

__all__ = ["DashboardService", "DashboardSources"]


@dataclass(frozen=True)
class DashboardSources:
    """Where the dashboard reads from (docs/dashboard.md)."""

    storage: str
    ledger_url: str
    artifact_root: str
    deployments: Path | None
    market: str | None = "sample"
    data_cache: Path | None = None
    kube: bool = False
    study: str | None = None
    """Limit the Optuna pages to this study (and its -refit / -phase1 studies)."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, market: str | None = "sample", study: str | None = None
    ) -> DashboardSources:
        return cls(
            storage=settings.storage,
            ledger_url=settings.ledger_url,
            artifact_root=settings.artifact_root,
            deployments=settings.home / "deployments",
            market=market,
            data_cache=None if market == "sample" else settings.data_cache,
            kube=os.environ.get("CAPPUCCINO_DASHBOARD_KUBE", "") == "1",
            study=study,
        )


_Pages = TypeVar("_Pages")


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


def _open(url: str) -> Engine | str:
    """An engine on an existing database, or why there is none."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return f"no database file at {database or url!r} yet"
    return create_engine(url, pool_pre_ping=True)


def _arena_windows(deployments: Path | None) -> dict[str, float]:
    """arena_id -> ranking window seconds, from arena_config.json files under `deployments`."""
    out: dict[str, float] = {}
    if deployments is None or not deployments.is_dir():
        return out
    for path in sorted(deployments.glob("*/arena_config.json")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        arena_id = raw.get("portfolio_id") or portfolio_id(
            LOCAL_NAMESPACE, raw.get("arena_name", path.parent.name)
        )
        if raw.get("ranking_window_seconds"):
            out[arena_id] = float(raw["ranking_window_seconds"])
    return out


@dataclass
class DashboardService:
    """Holds the engines and caches between refreshes; `build()` computes every page."""

    sources: DashboardSources
    _engines: dict[str, Engine | str] = field(default_factory=dict)
    _importances: ImportanceCache = field(default_factory=ImportanceCache)
    _benchmarks: Benchmarks | None = None

    def __post_init__(self) -> None:
        if self.sources.market:
            self._benchmarks = Benchmarks(self.sources.market, self.sources.data_cache)

    def _engine(self, url: str) -> Engine | str:
        cached = self._engines.get(url)
        if isinstance(cached, Engine):
            return cached
        opened = _open(url)
        if isinstance(opened, Engine):
            self._engines[url] = opened
        return opened

    def close(self) -> None:
        for engine in self._engines.values():
            if isinstance(engine, Engine):
                engine.dispose()

    def _read(
        self, name: str, url: str, table: tuple[str, str], build: Callable[[Engine], _Pages]
    ) -> tuple[_Pages | None, SourceStatus]:
        """`build`'s pages of the database at `url` and how reading it went: the status says
        when the database cannot be opened, a query failed, or it holds no table `table[0]` yet
        ("no {table[1]} tables yet")."""
        where = _redact(url)
        engine = self._engine(url)
        if isinstance(engine, str):
            return None, SourceStatus(name=name, location=where, ok=False, error=engine)
        try:
            if not inspect(engine).has_table(table[0]):
                error = f"no {table[1]} tables yet"
                return None, SourceStatus(name=name, location=where, ok=False, error=error)
            pages = build(engine)
        except SQLAlchemyError as e:
            error = str(e).splitlines()[0]
            return None, SourceStatus(name=name, location=where, ok=False, error=error)
        return pages, SourceStatus(name=name, location=where, ok=True)

    def _optuna(self, log: QueryLog) -> tuple[OptunaPages | None, SourceStatus]:
        return self._read(
            "Optuna storage",
            self.sources.storage,
            ("trials", "Optuna"),
            lambda engine: build_optuna_pages(engine, log, self._importances, self.sources.study),
        )

    def _ledger(self, log: QueryLog) -> tuple[LedgerPages | None, SourceStatus]:
        return self._read(
            "trading ledger",
            self.sources.ledger_url,
            ("portfolios", "ledger"),
            lambda engine: build_ledger_pages(
                engine,
                log,
                benchmarks=self._benchmarks,
                trader_status=trader_probe(engine),
                arena_windows=_arena_windows(self.sources.deployments),
            ),
        )

    def _kube(self) -> tuple[list[ProcessStatus], SourceStatus | None]:
        if not self.sources.kube:
            return [], None
        from cappuccino_runtime.dashboard.kube import custom_resource_statuses, kube_client

        try:
            statuses = custom_resource_statuses(kube_client())
        except Exception as e:  # the API server's errors vary; the page says what failed
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return [], SourceStatus(name="Kubernetes", location="in-cluster", ok=False, error=first)
        return statuses, SourceStatus(name="Kubernetes", location="in-cluster", ok=True)

    def build(self) -> Dashboard:
        """Every page at one instant."""
        log = QueryLog()
        optuna, optuna_source = self._optuna(log)
        ledger, ledger_source = self._ledger(log)
        crs, kube_source = self._kube()
        processes = []
        if optuna is not None:
            last = {s.study_name: s.last_complete for s in optuna.training.studies}
            processes.extend(trainer_statuses(optuna.running, last))
        if ledger is not None:
            for book in ledger.ensemble.books:
                processes.append(
                    book.trader.model_copy(
                        update={
                            "last_activity": book.last_update,
                            "last_activity_what": "last snapshot (bar time)",
                        }
                    )
                )
            for arena in ledger.arena.arenas:
                processes.append(
                    ProcessStatus(
                        kind="trader",
                        name=arena.arena_id,
                        running=None,
                        last_activity=arena.ranked_at,
                        last_activity_what="last ranking (bar time)",
                        detail=f"arena of {len(arena.members)} books",
                    )
                )
        processes.extend(crs)
        if not self.sources.kube:
            processes.append(
                ProcessStatus(
                    kind="operator",
                    name="cappuccino-operator",
                    running=None,
                    detail="not in a cluster (set CAPPUCCINO_DASHBOARD_KUBE=1 to read the "
                    "custom resources)",
                )
            )
        sources = [optuna_source, ledger_source] + ([kube_source] if kube_source else [])
        home = Path(self.sources.deployments or Path.cwd())
        return Dashboard(
            generated_at=datetime.now(UTC),
            system=SystemPage(sources=sources, processes=processes, resources=host_resources(home)),
            ensemble=ledger.ensemble if ledger else EnsemblePage(books=[], recent_trades=[]),
            arena=ledger.arena if ledger else ArenaPage(arenas=[]),
            training=optuna.training if optuna else TrainingPage(studies=[]),
            trades=ledger.trades if ledger else TradesPage(trades=[], total=0),
            performance=ledger.performance if ledger else PerformancePage(rows=[], targets={}),
            overfitting=optuna.overfitting
            if optuna
            else OverfittingPage(studies=[], refit_models=[]),
            two_phase=optuna.two_phase if optuna else TwoPhasePage(studies=[]),
            queries=log.statements,
            rows_fetched=log.rows,
        )
