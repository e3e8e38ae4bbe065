"""Registry queries over Optuna's tables: each question is answered by ONE SQL statement.

`top_trials` ranks the COMPLETE trials of one study by value in the database (respecting the
study's direction) and fetches the params and user attrs of just those N trials in the same
statement, instead of loading every trial through `study.trials`. Works on SQLite and
PostgreSQL through SQLAlchemy Core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    case,
    create_engine,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from cappuccino_runtime.errors import ConfigError, IdentityError, StorageUnavailable
from cappuccino_runtime.registry._params import decode_param, decode_user_attr
from cappuccino_runtime.registry._schema import (
    studies,
    study_directions,
    trial_params,
    trial_user_attributes,
    trial_values,
    trials,
)
from cappuccino_runtime.registry.models import RegistryTrial, TrialRef

__all__ = [
    "AmbiguousTrialNumber",
    "connect",
    "find_by_number",
    "get_trial",
    "list_studies",
    "resolve_number",
    "top_trials",
]


class AmbiguousTrialNumber(ConfigError):
    """A trial number was given without a study, or it names trials in several studies."""


def _const(text: str) -> ColumnElement[Any]:
    """A fixed SQL string literal (enum member names only; never user input)."""
    return literal_column(f"'{text}'")


def connect(url: str) -> Engine:
    """An engine on an Optuna storage URL; a missing SQLite file is an error, not a new DB.

    SQLAlchemy would silently create an empty SQLite file for a mistyped path, and the
    registry would then answer "no such study"; saying where it looked is more useful.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise ConfigError(
                f"No Optuna database at {url!r}: the SQLite file does not exist. Pass the "
                "storage the study was trained in with --storage (or CAPPUCCINO_STORAGE)."
            )
    return create_engine(url, pool_pre_ping=True)


def _translate(e: Exception, url: str) -> Exception:
    message = str(e).splitlines()[0]
    if "no such table" in message or "does not exist" in message:
        return ConfigError(
            f"{url!r} holds no Optuna tables ({message}); point --storage at the database "
            "the study was created in."
        )
    return StorageUnavailable(
        f"The Optuna database at {url!r} could not be queried ({message}); check that it is "
        "reachable and retry."
    )


def _execute(engine: Engine, statement: Select[Any]) -> Sequence[Any]:
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    except (OperationalError, ProgrammingError) as e:
        raise _translate(e, engine.url.render_as_string(hide_password=True)) from e


def _value_of(value: float | None, value_type: str | None) -> float | None:
    if value_type == "INF_POS":
        return math.inf
    if value_type == "INF_NEG":
        return -math.inf
    return value


def _base_select() -> Select[Any]:
    """Trial identity, state, objective-0 value and the study's objective-0 direction."""
    return (
        select(
            trials.c.trial_id,
            trials.c.number,
            trials.c.state,
            studies.c.study_name,
            trial_values.c.value,
            trial_values.c.value_type,
            study_directions.c.direction,
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
    )


def _rank_keys(direction: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(infinity class, signed value): ascending order puts the best trial first.

    `direction` is the study's direction: a column, or a scalar subquery that the database
    evaluates once per statement.
    """
    maximize = direction == _const("MAXIMIZE")
    inf_class = case(
        (trial_values.c.value_type == _const("FINITE"), 1),
        (
            and_(maximize, trial_values.c.value_type == _const("INF_POS")),
            0,
        ),
        (
            and_(~maximize, trial_values.c.value_type == _const("INF_NEG")),
            0,
        ),
        else_=2,
    )
    signed = case((maximize, -trial_values.c.value), else_=trial_values.c.value)
    return inf_class.label("rank_class"), signed.label("rank_value")


def _ranked_study(study_name: str, n: int) -> Select[Any]:
    """The N best COMPLETE trials of one study, with their rank keys.

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
    rank_class, rank_value = _rank_keys(direction)
    return (
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
        .where(trials.c.state == _const("COMPLETE"))
        .order_by(rank_class, rank_value, trials.c.number, trials.c.trial_id)
        .limit(n)
    )


def _with_attrs(core: Select[Any], order: bool) -> Select[Any]:
    """Wraps a trial-selecting statement so params and user attrs come back in the same query."""
    picked = core.cte("picked")
    extra = union_all(
        select(
            trial_params.c.trial_id,
            literal("p").label("kind"),
            trial_params.c.param_name.label("key"),
            trial_params.c.param_value.label("num"),
            trial_params.c.distribution_json.label("text"),
        ).where(trial_params.c.trial_id.in_(select(picked.c.trial_id))),
        select(
            trial_user_attributes.c.trial_id,
            literal("u").label("kind"),
            trial_user_attributes.c.key.label("key"),
            null().label("num"),
            trial_user_attributes.c.value_json.label("text"),
        ).where(trial_user_attributes.c.trial_id.in_(select(picked.c.trial_id))),
    ).subquery("extra")
    statement = select(picked, extra.c.kind, extra.c.key, extra.c.num, extra.c.text).outerjoin(
        extra, extra.c.trial_id == picked.c.trial_id
    )
    if order:
        statement = statement.order_by(
            picked.c.rank_class, picked.c.rank_value, picked.c.number, picked.c.trial_id
        )
    return statement


def _assemble(rows: Sequence[Any]) -> list[RegistryTrial]:
    """Folds the (trial x attribute) rows back into trials, keeping the query's order."""
    order: list[int] = []
    heads: dict[int, Any] = {}
    params: dict[int, dict[str, Any]] = {}
    attrs: dict[int, dict[str, Any]] = {}
    for row in rows:
        tid = int(row.trial_id)
        if tid not in heads:
            order.append(tid)
            heads[tid] = row
            params[tid] = {}
            attrs[tid] = {}
        if row.kind == "p":
            params[tid][row.key] = decode_param(row.num, row.text)
        elif row.kind == "u":
            attrs[tid][row.key] = decode_user_attr(row.text)
    return [
        RegistryTrial(
            study_name=heads[tid].study_name,
            trial_id=tid,
            number=int(heads[tid].number),
            state=str(heads[tid].state),
            value=_value_of(heads[tid].value, heads[tid].value_type),
            direction=str(heads[tid].direction),
            params=dict(sorted(params[tid].items())),
            user_attrs=dict(sorted(attrs[tid].items())),
        )
        for tid in order
    ]


def list_studies(engine: Engine) -> list[str]:
    """Names of every study in the storage, sorted."""
    rows = _execute(engine, select(studies.c.study_name).order_by(studies.c.study_name))
    return [str(r.study_name) for r in rows]


def _require_study(engine: Engine, study_name: str) -> None:
    rows = _execute(engine, select(studies.c.study_id).where(studies.c.study_name == study_name))
    if not rows:
        known = ", ".join(list_studies(engine)) or "none"
        raise ConfigError(
            f"Study {study_name!r} does not exist in this storage (studies present: {known}). "
            "Check --study and --storage."
        )


def top_trials(engine: Engine, study_name: str, n: int) -> list[RegistryTrial]:
    """The best `n` COMPLETE trials of one study, best first, in one SQL statement.

    Args:
        engine: engine on the Optuna storage (see `connect`).
        study_name: the study to rank; trials of other studies never appear.
        n: how many trials to return (fewer if the study has fewer COMPLETE trials).

    Returns:
        Trials ordered by value in the study's direction (ties: lower number first).
    """
    if n < 1:
        raise ConfigError(f"--n/--top-n must be at least 1, got {n}.")
    result = _assemble(_execute(engine, _with_attrs(_ranked_study(study_name, n), order=True)))
    if not result:
        _require_study(engine, study_name)
    return result


def get_trial(engine: Engine, trial_id: int) -> RegistryTrial:
    """One trial by its global id (the primary key of Optuna's `trials` table)."""
    rank_class, rank_value = _rank_keys(study_directions.c.direction)
    core = _base_select().add_columns(rank_class, rank_value).where(trials.c.trial_id == trial_id)
    found = _assemble(_execute(engine, _with_attrs(core, order=False)))
    if not found:
        raise ConfigError(
            f"No trial with trial_id {trial_id} exists in this storage; list candidates with "
            "`cappuccino models top --study S --n N`."
        )
    return found[0]


def find_by_number(engine: Engine, number: int, study_name: str | None = None) -> list[TrialRef]:
    """Every (study_name, trial_id) whose trial has this number, optionally within one study."""
    statement = (
        select(studies.c.study_name, trials.c.trial_id, trials.c.number)
        .select_from(trials)
        .join(studies, studies.c.study_id == trials.c.study_id)
        .where(trials.c.number == number)
        .order_by(studies.c.study_name, trials.c.trial_id)
    )
    if study_name is not None:
        statement = statement.where(studies.c.study_name == study_name)
    return [
        TrialRef(study_name=r.study_name, trial_id=int(r.trial_id), number=int(r.number))
        for r in _execute(engine, statement)
    ]


def _describe(refs: Sequence[TrialRef]) -> str:
    return ", ".join(f"{r.study_name!r} (trial_id {r.trial_id})" for r in refs)


def resolve_number(engine: Engine, number: int, study_name: str | None) -> TrialRef:
    """Maps a display number to one trial; refuses without a study, and on any ambiguity.

    Trial numbers restart at 0 in every study, so a number alone never names a model.
    """
    refs = find_by_number(engine, number, study_name)
    if study_name is None:
        where = f"it exists in {_describe(refs)}" if refs else "no study has it"
        if len(refs) > 1:
            where = f"it is ambiguous: {where}"
        raise AmbiguousTrialNumber(
            f"Trial number {number} was given without a study; trial numbers repeat across "
            f"studies ({where}). Pass --study NAME, or use --trial-id."
        )
    if not refs:
        _require_study(engine, study_name)
        raise ConfigError(
            f"Study {study_name!r} has no trial number {number}; list its trials with "
            f"`cappuccino models top --study {study_name} --n N`."
        )
    if len(refs) > 1:
        raise IdentityError(
            f"Trial number {number} of study {study_name!r} resolves to several trials "
            f"({_describe(refs)}); the study's database is inconsistent. Use --trial-id."
        )
    return refs[0]
