"""Helpers for tests and demos that need database state without running training or traders.

- seed_trials: COMPLETE (or FAIL) trials with the identity user attrs the registry writes.
- write_ranking / write_snapshot: rows in the trading tables the status timers read
  (cappuccino_contracts.tables, the one definition the runtime's ledger writes too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from cappuccino_contracts.naming import member_portfolio_id
from cappuccino_contracts.tables import ArenaRankingRow, Base, PortfolioSnapshotRow
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

__all__ = ["seed_trials", "write_ranking", "write_report", "write_snapshot"]


def seed_trials(
    storage_url: str,
    study_name: str,
    values: Sequence[float],
    *,
    failed: int = 0,
    timeframe: str = "1h",
    direction: Literal["maximize", "minimize"] = "maximize",
    failed_by: str | None = None,
    numbers: dict[str, object] | None = None,
) -> list[int]:
    """Adds one COMPLETE trial per value (plus `failed` FAIL trials); returns the COMPLETE
    trials' trial_ids in insertion order. With `failed_by` (a sweep id) the FAIL trials look
    like that sweep's workers raised in them (user attrs sweep and fail_reason); without, like
    trials a stale heartbeat failed. `numbers` adds user attrs (dsr, holdout_sharpe...) to
    every COMPLETE trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name, storage=storage_url, direction=direction, load_if_exists=True
    )
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        "x": optuna.distributions.FloatDistribution(0.0, 1.0)
    }
    for i, value in enumerate(values):
        number = len(study.get_trials(deepcopy=False))
        sha = hashlib.sha256(f"{study_name}:{number}:{value}".encode()).hexdigest()
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": (i % 10) / 10},
                distributions=dist,
                value=value,
                user_attrs={
                    "sha256_actor": sha,
                    "artifact_uri": f"/artifacts/{study_name}/trial_{number}_{timeframe}",
                    "timeframe": timeframe,
                    "mean_sharpe_bot": value,
                    **(numbers or {}),
                },
            )
        )
    attrs = {"sweep": failed_by, "fail_reason": "RuntimeError: seeded"} if failed_by else {}
    for _ in range(failed):
        study.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs)
        )
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return [t._trial_id for t in complete][-len(values) :] if values else []


def write_report(storage_url: str, study_name: str, report: dict[str, object]) -> None:
    """Stores `report` as study user attr `report`, as `cappuccino study report` does."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    study.set_user_attr("report", report)


def _engine_with_tables(url: str) -> Engine:
    """An engine on `url` with the two tables the status timers read (cappuccino_contracts.
    tables, as the runtime's migrations create them) present."""
    engine = create_engine(url)
    tables = Base.metadata.tables
    wanted = (ArenaRankingRow.__tablename__, PortfolioSnapshotRow.__tablename__)
    Base.metadata.create_all(engine, tables=[tables[name] for name in wanted])
    return engine


def write_ranking(
    url: str, arena_id: str, study_name: str, ranking: Sequence[tuple[int, float]], promote: int = 3
) -> None:
    """One ranking (trial_id, sharpe), best first, at the current time."""
    now = datetime.now(UTC)
    engine = _engine_with_tables(url)
    with Session(engine) as session, session.begin():
        session.add_all(
            ArenaRankingRow(
                arena_id=arena_id,
                ts=now,
                portfolio_id=member_portfolio_id(arena_id, study_name, trial_id),
                study_name=study_name,
                trial_id=trial_id,
                rank=rank,
                sharpe=sharpe,
                promoted=rank <= promote,
            )
            for rank, (trial_id, sharpe) in enumerate(ranking, start=1)
        )
    engine.dispose()


def write_snapshot(url: str, portfolio_id: str, equity: float, cash: float = 0.0) -> None:
    """One portfolio snapshot at the current time."""
    engine = _engine_with_tables(url)
    with Session(engine) as session, session.begin():
        session.add(
            PortfolioSnapshotRow(
                portfolio_id=portfolio_id,
                ts=datetime.now(UTC),
                equity=Decimal(repr(equity)),
                cash=Decimal(repr(cash)),
                positions_value=Decimal(repr(equity)) - Decimal(repr(cash)),
                halted_reason=None,
            )
        )
    engine.dispose()
