"""Training, two-phase and overfitting pages from Optuna's tables, aggregated in SQL.

Per refresh the cost is a handful of GROUP BY statements over all studies plus, per study, one
top-1 trial lookup and a bounded sample for parameter importances: a study of 100k trials
returns a few hundred rows, never every trial (tests/dashboard/test_page_model.py counts them).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cappuccino_contracts.naming import PHASE1_SUFFIX, REFIT_SUFFIX
from cappuccino_contracts.tables import (
    studies,
    study_directions,
    study_user_attributes,
    trial_heartbeats,
    trial_params,
    trial_user_attributes,
    trial_values,
    trials,
)
from sqlalchemy import (
    Engine,
    Integer,
    and_,
    case,
    cast,
    func,
    literal_column,
    select,
)

from cappuccino_runtime.dashboard._sql import QueryLog, as_utc
from cappuccino_runtime.dashboard.pages import (
    OverfittingPage,
    RefitModel,
    Series,
    StudyOverfitting,
    StudySummary,
    TrainingPage,
    TwoPhasePage,
    TwoPhaseStudy,
)

__all__ = ["IMPORTANCE_SAMPLE", "MAX_BUCKETS", "OptunaPages", "build_optuna_pages"]

IMPORTANCE_SAMPLE = 200
"""Parameter importances use the newest this-many COMPLETE trials of a study."""
MAX_BUCKETS = 200
"""Time buckets per study for trials/hour and best value over time (widened from 1 h)."""

_REFIT_KEYS = (
    "source_trial_id",
    "refit_seed",
    "holdout_sharpe",
    "holdout_sharpe_hodl",
    "holdout_bars",
    "dsr",
    "psr",
    "hyperparameter_score",
)


def _const(text: str) -> Any:
    """A fixed SQL string literal (enum member names only, never user input): PostgreSQL's
    native enum columns compare with untyped literals but not with VARCHAR parameters."""
    return literal_column(f"'{text}'")


def _epoch(engine: Engine, column: Any) -> Any:
    if engine.dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.extract("epoch", column), Integer)


def _objective0() -> Any:
    return and_(trial_values.c.trial_id == trials.c.trial_id, trial_values.c.objective == 0)


def _finite_value() -> Any:
    return case((trial_values.c.value_type == _const("FINITE"), trial_values.c.value), else_=None)


@dataclass
class _Study:
    study_id: int
    name: str
    direction: str
    states: dict[str, int] = field(default_factory=dict)
    first_start: datetime | None = None
    last_complete: datetime | None = None
    running_since: datetime | None = None
    last_heartbeat: datetime | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptunaPages:
    """What the Optuna storage contributes to the dashboard."""

    training: TrainingPage
    two_phase: TwoPhasePage
    overfitting: OverfittingPage
    running: dict[str, tuple[int, datetime | None, datetime | None]]
    """study -> (RUNNING trials, oldest running start, newest heartbeat), for the system page"""


@dataclass
class ImportanceCache:
    """Importances per (study, COMPLETE count): recomputed only when the study grew."""

    entries: dict[tuple[str, int], dict[str, float] | None] = field(default_factory=dict)


def _studies(engine: Engine, conn: Any, log: QueryLog, only: str | None) -> dict[int, _Study]:
    query = (
        select(studies.c.study_id, studies.c.study_name, study_directions.c.direction)
        .join(
            study_directions,
            and_(
                study_directions.c.study_id == studies.c.study_id,
                study_directions.c.objective == 0,
            ),
        )
        .order_by(studies.c.study_name)
    )
    if only is not None:
        names = [only, only + REFIT_SUFFIX, only + PHASE1_SUFFIX]
        query = query.where(studies.c.study_name.in_(names))
    found = {
        int(r.study_id): _Study(int(r.study_id), str(r.study_name), str(r.direction))
        for r in log.fetch(conn, query)
    }
    if not found:
        return found
    ids = list(found)
    for r in log.fetch(
        conn,
        select(
            trials.c.study_id,
            trials.c.state,
            func.count().label("n"),
            func.min(trials.c.datetime_start).label("first"),
            func.max(trials.c.datetime_complete).label("last"),
        )
        .where(trials.c.study_id.in_(ids))
        .group_by(trials.c.study_id, trials.c.state),
    ):
        s = found[int(r.study_id)]
        s.states[str(r.state)] = int(r.n)
        first, last = as_utc(r.first), as_utc(r.last)
        if first is not None and (s.first_start is None or first < s.first_start):
            s.first_start = first
        if last is not None and (s.last_complete is None or last > s.last_complete):
            s.last_complete = last
        if str(r.state) == "RUNNING":
            s.running_since = first
    for r in log.fetch(
        conn,
        select(trials.c.study_id, func.max(trial_heartbeats.c.heartbeat).label("hb"))
        .join(trials, trials.c.trial_id == trial_heartbeats.c.trial_id)
        .where(trials.c.study_id.in_(ids))
        .group_by(trials.c.study_id),
    ):
        found[int(r.study_id)].last_heartbeat = as_utc(r.hb)
    for r in log.fetch(
        conn,
        select(
            study_user_attributes.c.study_id,
            study_user_attributes.c.key,
            study_user_attributes.c.value_json,
        ).where(
            study_user_attributes.c.study_id.in_(ids),
            study_user_attributes.c.key.in_(["report", "phase1_winner"]),
        ),
    ):
        found[int(r.study_id)].attrs[str(r.key)] = json.loads(r.value_json)
    return found


def _buckets(
    engine: Engine, conn: Any, log: QueryLog, s: _Study
) -> tuple[Series, Series, float | None]:
    """Finished trials per hour and the best value so far, in at most MAX_BUCKETS buckets."""
    empty = Series(name=s.name, x=[], y=[])
    if s.first_start is None or s.last_complete is None:
        return empty, empty, None
    span = max((s.last_complete - s.first_start).total_seconds(), 1.0)
    width = 3600 * max(1, math.ceil(span / 3600 / MAX_BUCKETS))
    bucket = (_epoch(engine, trials.c.datetime_complete) // literal_column(str(width))).label(
        "bucket"
    )
    value = _finite_value()
    best = (func.max if s.direction == "MAXIMIZE" else func.min)(value).label("best")
    rows = log.fetch(
        conn,
        select(bucket, func.count().label("n"), best)
        .select_from(trials)
        .outerjoin(trial_values, _objective0())
        .where(trials.c.study_id == s.study_id, trials.c.datetime_complete.is_not(None))
        .group_by(bucket)
        .order_by(bucket),
    )
    xs = [datetime.fromtimestamp(int(r.bucket) * width, UTC) for r in rows]
    rate = [int(r.n) / (width / 3600) for r in rows]
    running: list[float | None] = []
    current: float | None = None
    for r in rows:
        if r.best is not None:
            v = float(r.best)
            better = current is None or (v > current if s.direction == "MAXIMIZE" else v < current)
            current = v if better else current
        running.append(current)
    finished = sum(n for k, n in s.states.items() if k in ("COMPLETE", "PRUNED", "FAIL"))
    per_hour = finished / (span / 3600) if span >= 60 else None
    return (
        Series(name=s.name, x=xs, y=rate),
        Series(name=s.name, x=xs, y=running),
        per_hour,
    )


def _best_trial(conn: Any, log: QueryLog, s: _Study) -> tuple[Any, dict[str, Any]]:
    """The best COMPLETE trial (id, number, value) and its user attrs: two bounded statements."""
    value = _finite_value()
    order = value.desc() if s.direction == "MAXIMIZE" else value.asc()
    rows = log.fetch(
        conn,
        select(trials.c.trial_id, trials.c.number, value.label("value"))
        .join(trial_values, _objective0())
        .where(
            trials.c.study_id == s.study_id,
            trials.c.state == _const("COMPLETE"),
            trial_values.c.value_type == _const("FINITE"),
        )
        .order_by(order, trials.c.number)
        .limit(1),
    )
    if not rows:
        return None, {}
    attrs = {
        str(r.key): json.loads(r.value_json)
        for r in log.fetch(
            conn,
            select(trial_user_attributes.c.key, trial_user_attributes.c.value_json).where(
                trial_user_attributes.c.trial_id == rows[0].trial_id,
                trial_user_attributes.c.key.in_(["sharpe_list_bot", "sharpe_list_hodl"]),
            ),
        )
    }
    return rows[0], attrs


def _importances(
    conn: Any, log: QueryLog, s: _Study, cache: ImportanceCache
) -> tuple[dict[str, float] | None, str]:
    complete = s.states.get("COMPLETE", 0)
    note = f"PED-ANOVA (Optuna) over the newest {min(complete, IMPORTANCE_SAMPLE)} COMPLETE trials"
    if complete < 2:
        return None, "not computed: needs at least 2 COMPLETE trials"
    key = (s.name, complete)
    if key in cache.entries:
        return cache.entries[key], note
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from optuna.trial import create_trial

    picked = (
        select(trials.c.trial_id, _finite_value().label("value"))
        .join(trial_values, _objective0())
        .where(
            trials.c.study_id == s.study_id,
            trials.c.state == _const("COMPLETE"),
            trial_values.c.value_type == _const("FINITE"),
        )
        .order_by(trials.c.trial_id.desc())
        .limit(IMPORTANCE_SAMPLE)
        .subquery()
    )
    rows = log.fetch(
        conn,
        select(
            picked.c.trial_id,
            picked.c.value,
            trial_params.c.param_name,
            trial_params.c.param_value,
            trial_params.c.distribution_json,
        ).join(trial_params, trial_params.c.trial_id == picked.c.trial_id),
    )
    by_trial: dict[int, tuple[float, dict[str, Any], dict[str, Any]]] = {}
    for r in rows:
        _, params, dists = by_trial.setdefault(int(r.trial_id), (float(r.value), {}, {}))
        dist = json_to_distribution(r.distribution_json)
        params[r.param_name] = dist.to_external_repr(r.param_value)
        dists[r.param_name] = dist
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=optuna.study.StudyDirection[s.direction])
    study.add_trials(
        [create_trial(value=v, params=p, distributions=d) for v, p, d in by_trial.values()]
    )
    try:
        result: dict[str, float] | None = {
            k: float(v)
            for k, v in get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator()
            ).items()
        }
    except (ValueError, RuntimeError) as e:
        result, note = None, f"not computed: {e}"
    cache.entries[key] = result
    return result, note


def _refit_models(conn: Any, log: QueryLog, s: _Study) -> list[RefitModel]:
    """COMPLETE trials of a `S-refit` study with their hold-out attrs (contract 1)."""
    heads = log.fetch(
        conn,
        select(trials.c.trial_id, trials.c.number)
        .where(trials.c.study_id == s.study_id, trials.c.state == _const("COMPLETE"))
        .order_by(trials.c.number)
        .limit(500),
    )
    attrs: dict[int, dict[str, Any]] = defaultdict(dict)
    ids = [int(h.trial_id) for h in heads]
    if ids:
        for r in log.fetch(
            conn,
            select(
                trial_user_attributes.c.trial_id,
                trial_user_attributes.c.key,
                trial_user_attributes.c.value_json,
            ).where(
                trial_user_attributes.c.trial_id.in_(ids),
                trial_user_attributes.c.key.in_(_REFIT_KEYS),
            ),
        ):
            attrs[int(r.trial_id)][str(r.key)] = json.loads(r.value_json)

    def num(a: dict[str, Any], k: str) -> float | None:
        v = a.get(k)
        return None if v is None else float(v)

    def integer(a: dict[str, Any], k: str) -> int | None:
        v = a.get(k)
        return None if v is None else int(v)

    return [
        RefitModel(
            study_name=s.name,
            trial_id=int(h.trial_id),
            number=int(h.number),
            source_trial_id=integer(attrs[int(h.trial_id)], "source_trial_id"),
            refit_seed=integer(attrs[int(h.trial_id)], "refit_seed"),
            holdout_sharpe=num(attrs[int(h.trial_id)], "holdout_sharpe"),
            holdout_sharpe_hodl=num(attrs[int(h.trial_id)], "holdout_sharpe_hodl"),
            holdout_bars=integer(attrs[int(h.trial_id)], "holdout_bars"),
            dsr=num(attrs[int(h.trial_id)], "dsr"),
            psr=num(attrs[int(h.trial_id)], "psr"),
            hyperparameter_score=num(attrs[int(h.trial_id)], "hyperparameter_score"),
        )
        for h in heads
    ]


def build_optuna_pages(
    engine: Engine,
    log: QueryLog,
    cache: ImportanceCache | None = None,
    study: str | None = None,
) -> OptunaPages:
    """The training, two-phase and overfitting pages; `study` limits them to S (and S-refit,
    S-phase1), as `cappuccino report --study S` does."""
    cache = cache or ImportanceCache()
    with engine.connect() as conn:
        found = _studies(engine, conn, log, study)
        by_name = {s.name: s for s in found.values()}
        summaries: list[StudySummary] = []
        refits: list[RefitModel] = []
        for s in found.values():
            if s.name.endswith(REFIT_SUFFIX):
                refits.extend(_refit_models(conn, log, s))
            rate, best_series, per_hour = _buckets(engine, conn, log, s)
            best, best_attrs = _best_trial(conn, log, s)
            importances, note = _importances(conn, log, s, cache)
            summaries.append(
                StudySummary(
                    study_name=s.name,
                    direction=s.direction,
                    states=dict(sorted(s.states.items())),
                    total=sum(s.states.values()),
                    best_value=None if best is None else float(best.value),
                    best_trial_id=None if best is None else int(best.trial_id),
                    best_number=None if best is None else int(best.number),
                    first_start=s.first_start,
                    last_complete=s.last_complete,
                    trials_per_hour=per_hour,
                    last_heartbeat=s.last_heartbeat,
                    trials_per_hour_series=rate,
                    best_value_series=best_series,
                    split_sharpes_bot=best_attrs.get("sharpe_list_bot"),
                    split_sharpes_hodl=best_attrs.get("sharpe_list_hodl"),
                    importances=importances,
                    importance_note=note,
                )
            )
    two_phase = [
        TwoPhaseStudy(
            study_name=s.name.removesuffix(PHASE1_SUFFIX),
            phase1_study=s.name,
            phase1_states=dict(sorted(s.states.items())),
            winner=s.attrs.get("phase1_winner"),
            phase2_states=dict(sorted(by_name[s.name.removesuffix(PHASE1_SUFFIX)].states.items()))
            if s.name.removesuffix(PHASE1_SUFFIX) in by_name
            else {},
            phase2_best_value=next(
                (
                    x.best_value
                    for x in summaries
                    if x.study_name == s.name.removesuffix(PHASE1_SUFFIX)
                ),
                None,
            ),
        )
        for s in found.values()
        if s.name.endswith(PHASE1_SUFFIX)
    ]
    overfitting = [
        StudyOverfitting(study_name=s.name, report=s.attrs.get("report"))
        for s in found.values()
        if not s.name.endswith((REFIT_SUFFIX, PHASE1_SUFFIX))
    ]
    running = {
        s.name: (s.states.get("RUNNING", 0), s.running_since, s.last_heartbeat)
        for s in found.values()
    }
    return OptunaPages(
        training=TrainingPage(studies=summaries),
        two_phase=TwoPhasePage(studies=two_phase),
        overfitting=OverfittingPage(studies=overfitting, refit_models=refits),
        running=running,
    )
