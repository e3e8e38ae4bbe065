"""The page model: plain, typed data behind every dashboard page, computed once per refresh.

The web dashboard, the terminal dashboard and `cappuccino report` render these objects; none of
them queries a database itself. A value the system does not have is `None` and is shown as
"not computed" / "not available", never replaced by a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PAGE_TITLES",
    "ArenaMember",
    "ArenaPage",
    "ArenaView",
    "BookView",
    "Dashboard",
    "DrawdownStatus",
    "EnsemblePage",
    "OverfittingPage",
    "PerformancePage",
    "PerformanceRow",
    "PositionRow",
    "ProcessStatus",
    "RefitModel",
    "Resources",
    "Series",
    "SourceStatus",
    "StudyOverfitting",
    "StudySummary",
    "SystemPage",
    "TradeRow",
    "TradesPage",
    "TradesStatus",
    "TrainingPage",
    "TwoPhasePage",
    "TwoPhaseStudy",
]

TradesStatus = Literal["ok", "low", "high", "churning", "n/a"]
DrawdownStatus = Literal["ok", "watch", "warning", "n/a"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Series(_Model):
    """One line of a chart: x (times or labels) against y."""

    name: str
    x: list[datetime] | list[str] | list[int]
    y: Sequence[float | None]


class SourceStatus(_Model):
    """One data source the dashboard reads, and whether it answered."""

    name: str
    location: str
    ok: bool
    error: str | None = None


class ProcessStatus(_Model):
    """A trainer, trader or operator: running or not, since when, last sign of life."""

    kind: Literal["trainer", "trader", "operator", "resource"]
    name: str
    running: bool | None
    """None: the dashboard cannot tell (e.g. a trader whose lock lives on another machine)."""
    since: datetime | None = None
    last_activity: datetime | None = None
    last_activity_what: str = ""
    detail: str = ""


class Resources(_Model):
    """The dashboard host's resources (the original's page 1: memory, disk)."""

    cpu_count: int
    load_1m: float | None
    memory_used_fraction: float | None
    disk_path: str
    disk_used_fraction: float | None


class SystemPage(_Model):
    sources: list[SourceStatus]
    processes: list[ProcessStatus]
    resources: Resources


class PositionRow(_Model):
    """positions_state.json's position keys: avg_entry is the average cost of the units held."""

    ticker: str
    quantity: float
    avg_entry: float | None
    current_price: float | None
    price_source: str
    position_value: float | None
    pnl_pct: float | None


class TradeRow(_Model):
    """One fill, trades_history.json's keys."""

    time: datetime
    portfolio_id: str
    ticker: str
    side: str
    quantity: float
    price: float
    notional: float
    fee: float
    fee_currency: str
    client_order_id: str


class BookView(_Model):
    """One portfolio from the ledger."""

    portfolio_id: str
    initial_cash: float
    cash: float
    equity: float | None
    last_update: datetime | None
    halted_reason: str | None
    positions: list[PositionRow]
    equity_curve: Series
    snapshots: int
    benchmarks: list[Series]
    benchmark_note: str | None
    trader: ProcessStatus


class EnsemblePage(_Model):
    books: list[BookView]
    recent_trades: list[TradeRow]


class ArenaMember(_Model):
    portfolio_id: str
    study_name: str
    trial_id: int
    rank: int
    sharpe: float | None
    sharpe_stderr: float | None
    """Lo (2002) standard error of the ranking-window Sharpe; None with fewer than 2 returns."""
    window_returns: int
    promoted: bool
    equity: float | None


class ArenaView(_Model):
    arena_id: str
    ranked_at: datetime | None
    members: list[ArenaMember]
    rank_history: list[Series]
    equity_curves: list[Series]
    window_seconds: float
    note: str


class ArenaPage(_Model):
    arenas: list[ArenaView]


class StudySummary(_Model):
    study_name: str
    direction: str
    states: dict[str, int]
    total: int
    best_value: float | None
    best_trial_id: int | None
    best_number: int | None
    first_start: datetime | None
    last_complete: datetime | None
    trials_per_hour: float | None
    last_heartbeat: datetime | None
    trials_per_hour_series: Series
    best_value_series: Series
    split_sharpes_bot: list[float] | None
    split_sharpes_hodl: list[float] | None
    importances: dict[str, float] | None
    importance_note: str


class TrainingPage(_Model):
    studies: list[StudySummary]


class TwoPhaseStudy(_Model):
    study_name: str
    phase1_study: str
    phase1_states: dict[str, int]
    winner: dict[str, object] | None
    phase2_states: dict[str, int]
    phase2_best_value: float | None


class TwoPhasePage(_Model):
    studies: list[TwoPhaseStudy]


class TradesPage(_Model):
    trades: list[TradeRow]
    total: int


class PerformanceRow(_Model):
    portfolio_id: str
    bars: int
    total_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    alpha: float | None
    trades: int
    trades_per_hour: float | None
    churn: int
    turnover: float | None
    fees: float
    trades_status: TradesStatus
    drawdown_status: DrawdownStatus


class PerformancePage(_Model):
    rows: list[PerformanceRow]
    targets: dict[str, str]


class StudyOverfitting(_Model):
    study_name: str
    report: dict[str, float | int | str | None] | None
    """The study user attr `report` (contract 2); None = not computed."""


class RefitModel(_Model):
    study_name: str
    trial_id: int
    number: int
    source_trial_id: int | None
    refit_seed: int | None
    holdout_sharpe: float | None
    holdout_sharpe_hodl: float | None
    holdout_bars: int | None
    dsr: float | None
    psr: float | None
    hyperparameter_score: float | None


class OverfittingPage(_Model):
    studies: list[StudyOverfitting]
    refit_models: list[RefitModel]


PAGE_TITLES: dict[int, str] = {
    1: "System overview",
    2: "Paper trading - Ensemble",
    3: "Arena competition",
    4: "Training overview",
    5: "Trade history",
    6: "Performance",
    7: "Overfitting",
    9: "Two-phase training",
}
"""Page numbers as the original's keys: 1-4 and 9 are its documented pages."""


class Dashboard(_Model):
    """Every page, computed at one instant."""

    generated_at: datetime
    system: SystemPage
    ensemble: EnsemblePage
    arena: ArenaPage
    training: TrainingPage
    trades: TradesPage
    performance: PerformancePage
    overfitting: OverfittingPage
    two_phase: TwoPhasePage
    queries: int
    rows_fetched: int
