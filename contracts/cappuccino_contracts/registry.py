"""The registry's questions to Optuna's tables, as SQLAlchemy Core statements both packages run.

`best_trials` ranks the COMPLETE trials of one study by value in the database (respecting the
study's direction, infinities by their sign) and `with_attrs` fetches the params and user attrs
of just the picked trials in the same statement, instead of loading every trial through
`study.trials`. `fold` turns the (trial x attribute) rows back into `TrialRow`s. The runtime's
registry (`cappuccino models top`, `deploy`, `validate`) and the operator's Arena/Ensemble
selection both build their statements here, so they always pick the same models.
`best_models` is the one rule of what "the best N models" of a study are: by value, except
in a refit study (`S-refit`), whose value is each agent's hold-out Sharpe. The hold-out is
scored once and never selects, so refit agents rank by what was known before it: their source
trial's hyperparameter score (best first), then source trial number, then seed.
Works on SQLite and PostgreSQL; no Optuna import (its parameter encoding is decoded from the
stored JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    literal,
    literal_column,
    null,
    select,
    union_all,
)

from cappuccino_contracts.naming import REFIT_SUFFIX
from cappuccino_contracts.tables import (
    studies,
    study_directions,
    trial_params,
    trial_user_attributes,
    trial_values,
    trials,
)

__all__ = [
    "REFIT_RANK_ATTRS",
    "TrialRow",
    "best_models",
    "best_trials",
    "decode_param",
    "decode_user_attr",
    "enum_value",
    "fold",
    "rank_keys",
    "refit_rank_key",
    "trial_value",
    "trials_by_id",
    "with_attrs",
]

T = TypeVar("T", bound="TrialRow")

_INT_DISTRIBUTIONS = frozenset(
    {"IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"}
)


def decode_param(param_value: float, distribution_json: str) -> Any:
    """External value of one stored parameter (int, float or the categorical choice).

    Optuna stores every parameter as a float plus its distribution as JSON; a categorical is
    stored as the index of its choice.
    """
    dist = json.loads(distribution_json)
    name = dist.get("name", "")
    if name == "CategoricalDistribution":
        return dist["attributes"]["choices"][int(param_value)]
    if name in _INT_DISTRIBUTIONS:
        return int(param_value)
    return float(param_value)


def decode_user_attr(value_json: str) -> Any:
    """A user attribute is stored as JSON text."""
    return json.loads(value_json)


def trial_value(value: float | None, value_type: str | None) -> float | None:
    """A stored objective value: Optuna keeps infinities as NULL plus INF_POS / INF_NEG."""
    if value_type == "INF_POS":
        return math.inf
    if value_type == "INF_NEG":
        return -math.inf
    return value


def enum_value(member: str) -> ColumnElement[Any]:
    """An Optuna enum member (TrialState, StudyDirection, TrialValueType) as a SQL literal.

    PostgreSQL stores these as native enum types, which compare with a text literal but not
    with a bound VARCHAR parameter; SQLite stores the names as text. Member names only, never
    user input.
    """
    if not member.replace("_", "").isalpha():
        raise ValueError(f"{member!r} is not an Optuna enum member name.")
    return literal_column(f"'{member}'")


def rank_keys(direction: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(infinity class, signed value) labelled rank_class / rank_value: ascending order puts
    the best trial first.

    `direction` is the study's direction: a column, or a scalar subquery that the database
    evaluates once per statement.
    """
    maximize = direction == enum_value("MAXIMIZE")
    inf_class = case(
        (trial_values.c.value_type == enum_value("FINITE"), 1),
        (and_(maximize, trial_values.c.value_type == enum_value("INF_POS")), 0),
        (and_(~maximize, trial_values.c.value_type == enum_value("INF_NEG")), 0),
        else_=2,
    )
    signed = case((maximize, -trial_values.c.value), else_=trial_values.c.value)
    return inf_class.label("rank_class"), signed.label("rank_value")


def best_trials(study_name: str, n: int | None, *, min_value: float | None = None) -> Select[Any]:
    """The `n` (None: all) best COMPLETE trials of one study (value >= `min_value` when
    given), best first (ties: lower number first), with columns trial_id, number, state, study_name, value,
    value_type, direction, rank_class, rank_value.

    The study id and direction are uncorrelated scalar subqueries (evaluated once), so the
    only per-row work is the join of the study's trials with their values and a top-N sort.
    """
    study_id = (
        select(studies.c.study_id).where(studies.c.study_name == study_name).scalar_subquery()
    )
    direction = (
        select(study_directions.c.direction)
        .where(study_directions.c.study_id == study_id, study_directions.c.objective == 0)
        .scalar_subquery()
    )
    rank_class, rank_value = rank_keys(direction)
    statement = (
        select(
            trials.c.trial_id,
            trials.c.number,
            trials.c.state,
            literal(study_name).label("study_name"),
            trial_values.c.value,
            trial_values.c.value_type,
            direction.label("direction"),
            rank_class,
            rank_value,
        )
        .select_from(trials)
        .join(
            trial_values,
            and_(trial_values.c.trial_id == trials.c.trial_id, trial_values.c.objective == 0),
        )
        .where(trials.c.study_id == study_id)
        .where(trials.c.state == enum_value("COMPLETE"))
    )
    if min_value is not None:
        statement = statement.where(trial_values.c.value >= min_value)
    ordered = statement.order_by(rank_class, rank_value, trials.c.number, trials.c.trial_id)
    return ordered if n is None else ordered.limit(n)


def trials_by_id(trial_ids: Iterable[int]) -> Select[Any]:
    """Trials by their global ids (any state, any study), with the same columns as
    `best_trials`; value columns are NULL for a trial without a value."""
    rank_class, rank_value = rank_keys(study_directions.c.direction)
    return (
        select(
            trials.c.trial_id,
            trials.c.number,
            trials.c.state,
            studies.c.study_name,
            trial_values.c.value,
            trial_values.c.value_type,
            study_directions.c.direction,
            rank_class,
            rank_value,
        )
        .select_from(trials)
        .join(studies, studies.c.study_id == trials.c.study_id)
        .join(
            study_directions,
            and_(
                study_directions.c.study_id == trials.c.study_id,
                study_directions.c.objective == 0,
            ),
        )
        .outerjoin(
            trial_values,
            and_(trial_values.c.trial_id == trials.c.trial_id, trial_values.c.objective == 0),
        )
        .where(trials.c.trial_id.in_([int(i) for i in trial_ids]))
    )


def with_attrs(
    core: Select[Any],
    *,
    order: bool,
    params: bool = True,
    attr_keys: Sequence[str] | None = None,
) -> Select[Any]:
    """Wraps a trial-selecting statement (`best_trials`, `trials_by_id`) so the picked trials'
    params (unless `params=False`) and user attrs (only `attr_keys` when given) come back in
    the same query, one row per (trial, attribute); `order` keeps the core's ranking."""
    picked = core.cte("picked")
    attrs = select(
        trial_user_attributes.c.trial_id,
        literal("u").label("kind"),
        trial_user_attributes.c.key.label("key"),
        null().label("num"),
        trial_user_attributes.c.value_json.label("text"),
    ).where(trial_user_attributes.c.trial_id.in_(select(picked.c.trial_id)))
    if attr_keys is not None:
        attrs = attrs.where(trial_user_attributes.c.key.in_(list(attr_keys)))
    parts = [attrs]
    if params:
        parts.insert(
            0,
            select(
                trial_params.c.trial_id,
                literal("p").label("kind"),
                trial_params.c.param_name.label("key"),
                trial_params.c.param_value.label("num"),
                trial_params.c.distribution_json.label("text"),
            ).where(trial_params.c.trial_id.in_(select(picked.c.trial_id))),
        )
    extra = union_all(*parts).subquery("extra")
    statement = select(picked, extra.c.kind, extra.c.key, extra.c.num, extra.c.text).outerjoin(
        extra, extra.c.trial_id == picked.c.trial_id
    )
    if order:
        statement = statement.order_by(
            picked.c.rank_class, picked.c.rank_value, picked.c.number, picked.c.trial_id
        )
    return statement


class TrialRow(BaseModel):
    """One trial as Optuna stores it: identity, state, objective-0 value, the study's direction
    (MAXIMIZE / MINIMIZE), decoded params and user attrs (sorted by name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_name: str
    trial_id: int
    number: int
    state: str
    value: float | None
    direction: str
    params: dict[str, Any] = Field(default_factory=dict)
    user_attrs: dict[str, Any] = Field(default_factory=dict)


def fold(rows: Iterable[Any], model: type[T]) -> list[T]:
    """Folds the (trial x attribute) rows of a `with_attrs` statement back into trials
    (`model`: TrialRow or a subclass), keeping the statement's order."""
    heads: dict[int, Any] = {}
    params: dict[int, dict[str, Any]] = {}
    attrs: dict[int, dict[str, Any]] = {}
    for row in rows:
        tid = int(row.trial_id)
        if tid not in heads:
            heads[tid] = row
            params[tid] = {}
            attrs[tid] = {}
        if row.kind == "p":
            params[tid][row.key] = decode_param(row.num, row.text)
        elif row.kind == "u":
            attrs[tid][row.key] = decode_user_attr(row.text)
    return [
        model(
            study_name=str(head.study_name),
            trial_id=tid,
            number=int(head.number),
            state=str(head.state),
            value=trial_value(head.value, head.value_type),
            direction=str(head.direction),
            params=dict(sorted(params[tid].items())),
            user_attrs=dict(sorted(attrs[tid].items())),
        )
        for tid, head in heads.items()
    ]


REFIT_RANK_ATTRS = ("hyperparameter_score", "source_number", "refit_seed")
"""The user attrs of a refit agent that rank it (see the module docstring)."""


def refit_rank_key(row: TrialRow) -> tuple[float, int, int, int]:
    """Ascending order puts the best refit agent first: source trials by hyperparameter score
    (higher is better: the search maximises Sharpe; unknown scores last), then source trial
    number, then seed, then the refit trial's own number. The hold-out Sharpe is not a key."""
    a = row.user_attrs
    score = a.get("hyperparameter_score")
    known = isinstance(score, int | float) and math.isfinite(score)
    rank = -float(score) if isinstance(score, int | float) and known else math.inf
    return (
        rank,
        int(a.get("source_number", 1 << 62)),
        int(a.get("refit_seed", 1 << 62)),
        row.number,
    )


def best_models(
    execute: Callable[[Select[Any]], Iterable[Any]],
    study_name: str,
    n: int,
    model: type[T],
    *,
    min_value: float | None = None,
    params: bool = True,
    attr_keys: Sequence[str] | None = None,
) -> list[T]:
    """The best `n` COMPLETE trials of a study as `model`s (value >= `min_value` when given),
    best first: by value, or for a refit study by `refit_rank_key`. `execute` runs a
    statement on the caller's connection and returns its rows."""
    refit = study_name.endswith(REFIT_SUFFIX)
    keys = None if attr_keys is None else (*attr_keys, *(REFIT_RANK_ATTRS if refit else ()))
    core = best_trials(study_name, None if refit else n, min_value=min_value)
    rows = fold(execute(with_attrs(core, order=True, params=params, attr_keys=keys)), model)
    return sorted(rows, key=refit_rank_key)[:n] if refit else rows
