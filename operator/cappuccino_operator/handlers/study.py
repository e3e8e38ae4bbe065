"""Study: ensure the Optuna study exists; a timer mirrors trial counts and the best trial."""

from __future__ import annotations

from typing import Any

import kopf

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.conditions import condition
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady
from cappuccino_operator.handlers.common import INTERVAL, parse_spec, storage_url, write_status
from cappuccino_operator.queries import StudySummary, study_summary

__all__ = ["observe_study", "reconcile_study"]

RETRY = 15


def _summary_fields(s: StudySummary) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "trials": {
            k: s.counts.get(k, 0) for k in ("complete", "running", "pruned", "failed", "waiting")
        }
    }
    if s.best_trial_id is not None:
        fields |= {
            "bestValue": s.best_value,
            "bestTrialId": s.best_trial_id,
            "bestTrialNumber": s.best_trial_number,
        }
    return fields


def _ensure(memo: Any, namespace: str, name: str, spec: StudySpec) -> tuple[str, str]:
    ctx = study_context(name, spec, memo.config)
    url = storage_url(memo, namespace, spec.storage_secret_ref)
    try:
        memo.db.ensure_study(url, ctx.study_name, spec.direction)
    except ValueError as e:
        raise kopf.PermanentError(
            f"Optuna study {ctx.study_name!r} exists with another direction than "
            f"spec.direction={spec.direction!r}: {e}"
        ) from None
    return ctx.study_name, url


@kopf.on.resume(GROUP, VERSION, "studies")
@kopf.on.create(GROUP, VERSION, "studies")
@kopf.on.update(GROUP, VERSION, "studies", field="spec")
def reconcile_study(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Creates the Optuna study (load_if_exists) and reports Ready."""
    gen = meta.get("generation")
    parsed = parse_spec(StudySpec, spec, f"Study {namespace}/{name}")
    try:
        study_name, _url = _ensure(memo, namespace, name, parsed)
    except StorageUnavailable as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StorageUnavailable", str(e), gen)]
        )
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    except StudyNotReady as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "SecretNotFound", str(e), gen)]
        )
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    write_status(
        patch,
        status,
        gen,
        [condition("Ready", "True", "StudyReady", f"Optuna study {study_name!r} exists.", gen)],
        studyName=study_name,
    )


@kopf.timer(GROUP, VERSION, "studies", interval=INTERVAL, initial_delay=1)
def observe_study(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Mirrors trial counts and the best trial from PostgreSQL into status."""
    gen = meta.get("generation")
    parsed = parse_spec(StudySpec, spec, f"Study {namespace}/{name}")
    try:
        study_name = study_context(name, parsed, memo.config).study_name
        url = storage_url(memo, namespace, parsed.storage_secret_ref)
        with memo.db.connect(url) as conn:
            summary = study_summary(conn, study_name)
        if summary is None:  # the database was replaced or the study deleted: recreate it
            _ensure(memo, namespace, name, parsed)
    except StorageUnavailable as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StorageUnavailable", str(e), gen)]
        )
        return
    except StudyNotReady as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "SecretNotFound", str(e), gen)]
        )
        return
    except Exception as e:  # a query failing mid-way means the database went away
        from cappuccino_operator.storage import describe_error

        msg = f"Reading study {parsed.study_name or name!r} failed ({describe_error(e)})."
        write_status(
            patch, status, gen, [condition("Ready", "False", "StorageUnavailable", msg, gen)]
        )
        return
    summary = summary or StudySummary(study_name)
    c = summary.counts
    message = (
        f"Optuna study {study_name!r}: {c.get('complete', 0)} complete, {c.get('running', 0)} "
        f"running, {c.get('failed', 0)} failed trials."
    )
    write_status(
        patch,
        status,
        gen,
        [condition("Ready", "True", "StudyReady", message, gen)],
        studyName=study_name,
        **_summary_fields(summary),
    )
