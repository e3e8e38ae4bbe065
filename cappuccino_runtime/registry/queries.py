"""Registry queries over Optuna's tables: each question is answered by ONE SQL statement.

The statements are cappuccino_contracts.registry's (the operator's selection runs the same
ones); this module runs them on an engine, translates database errors into ours and answers
with RegistryTrial.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cappuccino_contracts.registry import best_models, fold, trials_by_id, with_attrs
from cappuccino_contracts.tables import studies, trials
from sqlalchemy import Engine, Select, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from cappuccino_runtime.errors import ConfigError, IdentityError, StorageUnavailable
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


def _registry_trials(rows: Sequence[Any]) -> list[RegistryTrial]:
    return fold(rows, RegistryTrial)


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
        Trials ordered by value in the study's direction (ties: lower number first); in a
        refit study (`S-refit`) by their source trial's hyperparameter score, then seed: the
        hold-out scores each agent once and never selects (cappuccino_contracts.registry).
    """
    if n < 1:
        raise ConfigError(f"--n/--top-n must be at least 1, got {n}.")
    result = best_models(lambda s: _execute(engine, s), study_name, n, RegistryTrial)
    if not result:
        _require_study(engine, study_name)
    return result


def get_trial(engine: Engine, trial_id: int) -> RegistryTrial:
    """One trial by its global id (the primary key of Optuna's `trials` table)."""
    found = _registry_trials(_execute(engine, with_attrs(trials_by_id([trial_id]), order=False)))
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
