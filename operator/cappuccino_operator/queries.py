"""Plain SQL the operator runs: Optuna's tables (studies, trials, trial_values,
trial_user_attributes, study_directions) and the trading tables of docs/CONTRACTS.md.

Read-only; each function takes an open Connection so callers own retries and errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cappuccino_contracts.artifacts import ATTR_ARTIFACT_URI, ATTR_SHA256_ACTOR, ATTR_TIMEFRAME
from sqlalchemy import Connection, text
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


def _value(value: float | None, value_type: str | None) -> float | None:
    if value_type == "INF_POS":
        return math.inf
    if value_type == "INF_NEG":
        return -math.inf
    return value


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


_BEST_TEMPLATE = """
SELECT t.trial_id, t.number, v.value, v.value_type
FROM trials t
JOIN studies s ON s.study_id = t.study_id
JOIN study_directions d ON d.study_id = t.study_id AND d.objective = 0
JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
WHERE s.study_name = :study AND t.state = 'COMPLETE'
  {min_filter}
ORDER BY
  CASE WHEN v.value_type = 'FINITE' THEN 1
       WHEN d.direction = 'MAXIMIZE' AND v.value_type = 'INF_POS' THEN 0
       WHEN d.direction = 'MINIMIZE' AND v.value_type = 'INF_NEG' THEN 0
       ELSE 2 END,
  CASE WHEN d.direction = 'MAXIMIZE' THEN -v.value ELSE v.value END,
  t.trial_id
LIMIT :n
"""


def _best_sql(min_value: float | None) -> str:
    return _BEST_TEMPLATE.format(
        min_filter="" if min_value is None else "AND v.value >= :min_value"
    )


def study_summary(conn: Connection, study_name: str) -> StudySummary | None:
    """Counts and best trial of `study_name`, or None when the study does not exist."""
    found = conn.execute(
        text("SELECT study_id FROM studies WHERE study_name = :study"), {"study": study_name}
    ).first()
    if found is None:
        return None
    rows = conn.execute(
        text("SELECT state, count(*) FROM trials WHERE study_id = :sid GROUP BY state"),
        {"sid": found[0]},
    ).all()
    counts = {_STATES.get(str(state), str(state).lower()): int(n) for state, n in rows}
    best = conn.execute(text(_best_sql(None)), {"study": study_name, "n": 1}).first()
    if best is None:
        return StudySummary(study_name, counts)
    return StudySummary(
        study_name,
        counts,
        best_value=_finite(_value(best[2], best[3])),
        best_trial_id=int(best[0]),
        best_trial_number=int(best[1]),
    )


def _int_list(ids: Sequence[int]) -> str:
    """Inline integer list for IN (...): ints only, so nothing user-typed reaches the SQL."""
    return ",".join(str(int(i)) for i in ids)


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
_MODEL_ATTRS = (ATTR_SHA256_ACTOR, ATTR_ARTIFACT_URI, ATTR_TIMEFRAME, *MODEL_NUMBERS)


def _attrs(conn: Connection, trial_ids: Sequence[int]) -> dict[int, dict[str, object]]:
    out: dict[int, dict[str, object]] = {t: {} for t in trial_ids}
    if not trial_ids:
        return out
    rows = conn.execute(
        text(
            "SELECT trial_id, key, value_json FROM trial_user_attributes "
            f"WHERE trial_id IN ({_int_list(trial_ids)}) "
            f"AND key IN ({', '.join(repr(k) for k in _MODEL_ATTRS)})"
        )
    ).all()
    for trial_id, key, value_json in rows:
        if trial_id in out:
            out[trial_id][key] = json.loads(value_json)
    return out


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
        rows = conn.execute(
            text(_best_sql(min_value)), {"study": study_name, "n": top_n, "min_value": min_value}
        ).all()
        if len(rows) < top_n:
            floor = "" if min_value is None else f" with value >= {min_value}"
            raise SelectionError(
                f"Study {study_name!r} has {len(rows)} COMPLETE trials{floor}; topN asks for {top_n}."
            )
    else:
        ids = list(dict.fromkeys(int(i) for i in trial_ids or ()))
        found = conn.execute(
            text(
                "SELECT t.trial_id, t.number, v.value, v.value_type, t.state, s.study_name "
                "FROM trials t JOIN studies s ON s.study_id = t.study_id "
                "LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
                f"WHERE t.trial_id IN ({_int_list(ids)})"
            )
        ).all()
        by_id = {int(r[0]): r for r in found}
        bad = [
            f"{i} ({'missing' if i not in by_id else f'{by_id[i][4]} in study {by_id[i][5]!r}'})"
            for i in ids
            if i not in by_id or by_id[i][4] != "COMPLETE" or by_id[i][5] != study_name
        ]
        if bad:
            raise SelectionError(
                f"trialIds must be COMPLETE trials of study {study_name!r}; these are not: "
                + ", ".join(bad)
                + "."
            )
        rows = [by_id[i] for i in ids]
    attrs = _attrs(conn, [int(r[0]) for r in rows])
    no_sha = [int(r[0]) for r in rows if not attrs[int(r[0])].get("sha256_actor")]
    if no_sha:
        raise SelectionError(
            f"Trials {no_sha} of study {study_name!r} have no sha256_actor user attr, so their "
            "weights cannot be checked; they were not written by `cappuccino train`."
        )
    trials = tuple(
        SelectedTrial(
            trial_id=int(r[0]),
            number=int(r[1]),
            value=_finite(_value(r[2], r[3])),
            sha256=str(attrs[int(r[0])]["sha256_actor"]),
            artifact_uri=str(attrs[int(r[0])]["artifact_uri"])
            if attrs[int(r[0])].get("artifact_uri")
            else None,
            timeframe=str(attrs[int(r[0])].get("timeframe") or default_timeframe),
            numbers={k: attrs[int(r[0])][k] for k in MODEL_NUMBERS if k in attrs[int(r[0])]},
        )
        for r in rows
    )
    return Selection(study_name=study_name, trials=trials)


def study_report(conn: Connection, study_name: str) -> dict[str, Any] | None:
    """The study user attr `report` (contract 2: PBO, DSR, ... by `cappuccino study report`),
    or None when it was not computed."""
    row = conn.execute(
        text(
            "SELECT a.value_json FROM study_user_attributes a "
            "JOIN studies s ON s.study_id = a.study_id "
            "WHERE s.study_name = :study AND a.key = 'report'"
        ),
        {"study": study_name},
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
        text(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = :study AND t.state = 'COMPLETE'"
        ),
        {"study": study_name},
    ).first()
    return int(row[0]) if row else 0


def sweep_failures(conn: Connection, study_name: str, sweep: str) -> int:
    """FAIL trials of `study_name` that one sweep's workers ran and that failed by raising
    (user attrs `sweep` and `fail_reason`, set by the worker while the trial ran). Trials a
    stale heartbeat failed (suspend, preemption, a killed pod) and other sweeps' trials do not
    count."""
    row = conn.execute(
        text(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "JOIN trial_user_attributes w ON w.trial_id = t.trial_id AND w.key = 'sweep' "
            "JOIN trial_user_attributes f ON f.trial_id = t.trial_id AND f.key = 'fail_reason' "
            "WHERE s.study_name = :study AND t.state = 'FAIL' AND w.value_json = :sweep"
        ),
        {"study": study_name, "sweep": json.dumps(sweep)},
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
        rows = conn.execute(
            text(
                "SELECT trial_id, study_name, sharpe, rank, promoted, ts FROM arena_rankings "
                "WHERE arena_id = :a AND ts = (SELECT max(ts) FROM arena_rankings WHERE arena_id = :a) "
                "ORDER BY rank"
            ),
            {"a": arena_id},
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
        row = conn.execute(
            text(
                "SELECT equity, ts FROM portfolio_snapshots WHERE portfolio_id = :p "
                "ORDER BY ts DESC LIMIT 1"
            ),
            {"p": portfolio_id},
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
