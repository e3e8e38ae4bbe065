"""The SQL the operator runs: Optuna's tables and the trading tables, both declared once in
cappuccino_contracts.tables; the best-trials selection is cappuccino_contracts.registry's (the
runtime's `cappuccino models top` runs the same statement).

Read-only; each function takes an open Connection so callers own retries and errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cappuccino_contracts.artifacts import ATTR_ARTIFACT_URI, ATTR_SHA256_ACTOR, ATTR_TIMEFRAME
from cappuccino_contracts.registry import (
    TrialRow,
    best_models,
    best_trials,
    enum_value,
    fold,
    trial_value,
    trials_by_id,
    with_attrs,
)
from cappuccino_contracts.tables import (
    ArenaRankingRow,
    PortfolioSnapshotRow,
    studies,
    study_user_attributes,
    trial_user_attributes,
    trials,
)
from sqlalchemy import Connection, and_, func, select
from sqlalchemy.exc import DBAPIError, ProgrammingError

from cappuccino_operator.errors import SelectionError
from cappuccino_operator.selection import SelectedTrial, Selection

__all__ = [
    "MODEL_NUMBERS",
    "ArenaLeader",
    "PortfolioEquity",
    "StudySummary",
    "arena_leader",
    "complete_count",
    "portfolio_equity",
    "select_trials",
    "study_report",
    "study_summary",
    "sweep_failures",
]

_STATES = {
    "COMPLETE": "complete",
    "RUNNING": "running",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "WAITING": "waiting",
}


@dataclass(frozen=True)
class StudySummary:
    """Trial counts by state and the best COMPLETE trial of one study."""

    study_name: str
    counts: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_trial_id: int | None = None
    best_trial_number: int | None = None

    @property
    def finished(self) -> int:
        """COMPLETE + PRUNED: what a worker's `--study-budget` counts (cappuccino train)."""
        return sum(self.counts.get(k, 0) for k in ("complete", "pruned"))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def study_summary(conn: Connection, study_name: str) -> StudySummary | None:
    """Counts and best trial of `study_name`, or None when the study does not exist."""
    found = conn.execute(
        select(studies.c.study_id).where(studies.c.study_name == study_name)
    ).first()
    if found is None:
        return None
    rows = conn.execute(
        select(trials.c.state, func.count())
        .where(trials.c.study_id == found[0])
        .group_by(trials.c.state)
    ).all()
    counts = {_STATES.get(str(state), str(state).lower()): int(n) for state, n in rows}
    best = conn.execute(best_trials(study_name, 1)).first()
    if best is None:
        return StudySummary(study_name, counts)
    return StudySummary(
        study_name,
        counts,
        best_value=_finite(trial_value(best.value, best.value_type)),
        best_trial_id=int(best.trial_id),
        best_trial_number=int(best.number),
    )


# Identity attrs plus the model's own numbers (contract 1) copied into manifests when known.
MODEL_NUMBERS = (
    "holdout_sharpe",
    "holdout_bars",
    "holdout_start",
    "holdout_end",
    "dsr",
    "psr",
    "hyperparameter_score",
)
REPORT_ATTR = "report"
_MODEL_ATTRS = (ATTR_SHA256_ACTOR, ATTR_ARTIFACT_URI, ATTR_TIMEFRAME, *MODEL_NUMBERS)


def select_trials(
    conn: Connection,
    study_name: str,
    *,
    top_n: int | None = None,
    trial_ids: Sequence[int] | None = None,
    min_value: float | None = None,
    default_timeframe: str = "1h",
) -> Selection:
    """The models to trade: the best `top_n` COMPLETE trials (value >= min_value), or the
    explicit `trial_ids` (each must be a COMPLETE trial of this study). Every model needs the
    user attr sha256_actor, or there is nothing to check its weights against.

    Raises:
        SelectionError: the study is missing, has too few qualifying trials, or an id is not
            a COMPLETE trial of it.
    """
    if (top_n is None) == (not trial_ids):
        raise SelectionError("Give exactly one of top_n or trial_ids.")
    if top_n is not None:
        rows = best_models(
            conn.execute,
            study_name,
            top_n,
            TrialRow,
            min_value=min_value,
            params=False,
            attr_keys=_MODEL_ATTRS,
        )
        if len(rows) < top_n:
            floor = "" if min_value is None else f" with value >= {min_value}"
            raise SelectionError(
                f"Study {study_name!r} has {len(rows)} COMPLETE trials{floor}; topN asks for {top_n}."
            )
    else:
        rows = _explicit_trials(conn, study_name, trial_ids or ())
    no_sha = [r.trial_id for r in rows if not r.user_attrs.get(ATTR_SHA256_ACTOR)]
    if no_sha:
        raise SelectionError(
            f"Trials {no_sha} of study {study_name!r} have no sha256_actor user attr, so their "
            "weights cannot be checked; they were not written by `cappuccino train`."
        )
    return Selection(
        study_name=study_name, trials=tuple(_selected(r, default_timeframe) for r in rows)
    )


def _explicit_trials(conn: Connection, study_name: str, trial_ids: Sequence[int]) -> list[TrialRow]:
    """The given trials in the given order; each must be a COMPLETE trial of `study_name`."""
    ids = list(dict.fromkeys(int(i) for i in trial_ids))
    core = trials_by_id(ids)
    by_id = {
        r.trial_id: r
        for r in fold(
            conn.execute(with_attrs(core, order=False, params=False, attr_keys=_MODEL_ATTRS)),
            TrialRow,
        )
    }
    bad = [
        f"{i} ({'missing' if i not in by_id else f'{by_id[i].state} in study {by_id[i].study_name!r}'})"
        for i in ids
        if i not in by_id or by_id[i].state != "COMPLETE" or by_id[i].study_name != study_name
    ]
    if bad:
        raise SelectionError(
            f"trialIds must be COMPLETE trials of study {study_name!r}; these are not: "
            + ", ".join(bad)
            + "."
        )
    return [by_id[i] for i in ids]


def _selected(r: TrialRow, default_timeframe: str) -> SelectedTrial:
    a = r.user_attrs
    return SelectedTrial(
        trial_id=r.trial_id,
        number=r.number,
        value=_finite(r.value),
        sha256=str(a[ATTR_SHA256_ACTOR]),
        artifact_uri=str(a[ATTR_ARTIFACT_URI]) if a.get(ATTR_ARTIFACT_URI) else None,
        timeframe=str(a.get(ATTR_TIMEFRAME) or default_timeframe),
        numbers={k: a[k] for k in MODEL_NUMBERS if k in a},
    )


def study_report(conn: Connection, study_name: str) -> dict[str, Any] | None:
    """The study user attr `report` (contract 2: PBO, DSR, ... by `cappuccino study report`),
    or None when it was not computed."""
    row = conn.execute(
        select(study_user_attributes.c.value_json)
        .join(studies, studies.c.study_id == study_user_attributes.c.study_id)
        .where(studies.c.study_name == study_name, study_user_attributes.c.key == REPORT_ATTR)
    ).first()
    if row is None:
        return None
    try:
        report = json.loads(row[0])
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def complete_count(conn: Connection, study_name: str) -> int:
    """COMPLETE trials of a study (0 when it does not exist)."""
    row = conn.execute(
        select(func.count())
        .select_from(trials)
        .join(studies, studies.c.study_id == trials.c.study_id)
        .where(studies.c.study_name == study_name, trials.c.state == enum_value("COMPLETE"))
    ).first()
    return int(row[0]) if row else 0


def sweep_failures(conn: Connection, study_name: str, sweep: str) -> int:
    """FAIL trials of `study_name` that one sweep's workers ran and that failed by raising
    (user attrs `sweep` and `fail_reason`, set by the worker while the trial ran). Trials a
    stale heartbeat failed (suspend, preemption, a killed pod) and other sweeps' trials do not
    count."""
    w = trial_user_attributes.alias("w")
    f = trial_user_attributes.alias("f")
    row = conn.execute(
        select(func.count())
        .select_from(trials)
        .join(studies, studies.c.study_id == trials.c.study_id)
        .join(w, and_(w.c.trial_id == trials.c.trial_id, w.c.key == "sweep"))
        .join(f, and_(f.c.trial_id == trials.c.trial_id, f.c.key == "fail_reason"))
        .where(
            studies.c.study_name == study_name,
            trials.c.state == enum_value("FAIL"),
            w.c.value_json == json.dumps(sweep),
        )
    ).first()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class ArenaLeader:
    """Rank 1 of the newest ranking of an arena."""

    trial_id: int
    study_name: str
    sharpe: float | None
    promoted: int
    ranked_at: str


@dataclass(frozen=True)
class PortfolioEquity:
    equity: float
    at: str


def _missing_table(e: DBAPIError) -> bool:
    return isinstance(e, ProgrammingError) or "no such table" in str(e.orig)


def arena_leader(conn: Connection, arena_id: str) -> ArenaLeader | None:
    """The current leader from `arena_rankings` (rows of the newest ts), or None when the
    trader has written no ranking yet (or its tables do not exist yet)."""
    try:
        r = ArenaRankingRow.__table__.c
        newest = select(func.max(r.ts)).where(r.arena_id == arena_id).scalar_subquery()
        rows = conn.execute(
            select(r.trial_id, r.study_name, r.sharpe, r.rank, r.promoted, r.ts)
            .where(r.arena_id == arena_id, r.ts == newest)
            .order_by(r.rank)
        ).all()
    except DBAPIError as e:
        if _missing_table(e):
            conn.rollback()
            return None
        raise
    if not rows:
        return None
    top = rows[0]
    ts = top[5]
    return ArenaLeader(
        trial_id=int(top[0]),
        study_name=str(top[1]),
        sharpe=_finite(float(top[2])) if top[2] is not None else None,
        promoted=sum(1 for r in rows if r[4]),
        ranked_at=ts.isoformat() if hasattr(ts, "isoformat") else str(ts),
    )


def portfolio_equity(conn: Connection, portfolio_id: str) -> PortfolioEquity | None:
    """Newest `portfolio_snapshots` row of one portfolio, or None."""
    try:
        p = PortfolioSnapshotRow.__table__.c
        row = conn.execute(
            select(p.equity, p.ts)
            .where(p.portfolio_id == portfolio_id)
            .order_by(p.ts.desc())
            .limit(1)
        ).first()
    except DBAPIError as e:
        if _missing_table(e):
            conn.rollback()
            return None
        raise
    if row is None:
        return None
    ts = row[1]
    return PortfolioEquity(float(row[0]), ts.isoformat() if hasattr(ts, "isoformat") else str(ts))
