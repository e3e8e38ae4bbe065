"""Study: ensure the Optuna study exists; a timer mirrors trial counts and the best trial."""

from __future__ import annotations

from typing import Any

import kopf

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.conditions import condition
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady, StudyOwnedElsewhere
from cappuccino_operator.handlers.common import (
    INTERVAL,
    namespaced,
    parse_spec,
    storage_url,
    write_status,
)
from cappuccino_operator.metrics import reconciled
from cappuccino_operator.queries import StudySummary, complete_count, study_report, study_summary
from cappuccino_operator.storage import check_owner, study_owner

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


def _report_fields(report: dict[str, Any] | None) -> dict[str, Any]:
    """Study status `report` from the study user attr (contract 2); absent = not computed."""
    if not report:
        return {}
    keys = {"pbo": "pbo", "dsr": "dsr", "psr": "psr", "n_trials": "nTrials"}
    out: dict[str, Any] = {}
    for key, field in keys.items():
        value = report.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[field] = value
    if isinstance(report.get("computed_at"), str):
        out["computedAt"] = report["computed_at"]
    return {"report": out} if out else {}


def _ensure(memo: Any, namespace: str, name: str, spec: StudySpec) -> tuple[str, str]:
    ctx = study_context(name, spec, memo.config, namespace=namespace)
    url = storage_url(memo, namespace, spec.storage_secret_ref)
    try:
        memo.db.ensure_study(url, ctx.study_name, spec.direction, namespace)
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
    namespace: str | None,
    spec: kopf.Spec,
    meta: kopf.Meta,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Creates the Optuna study (load_if_exists), claims it for this namespace, reports Ready."""
    with reconciled("Study"):
        ns = namespaced(namespace, f"Study {name}")
        _reconcile(name, ns, spec, meta, body, status, patch, memo)


def _reconcile(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
) -> None:
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
    except StudyOwnedElsewhere as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StudyOwnedElsewhere", str(e), gen)]
        )
        kopf.warn(body, reason="StudyOwnedElsewhere", message=str(e))
        raise kopf.TemporaryError(str(e), delay=60) from None
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
    namespace: str | None,
    spec: kopf.Spec,
    meta: kopf.Meta,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Mirrors trial counts, the best trial and the report (PBO, DSR) into status; re-claims
    (or re-creates) the Optuna study level-based."""
    with reconciled("Study"):
        ns = namespaced(namespace, f"Study {name}")
        _observe(name, ns, spec, meta, body, status, patch, memo)


def _observe(
    name: str,
    namespace: str,
    spec: Any,
    meta: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
) -> None:
    gen = meta.get("generation")
    parsed = parse_spec(StudySpec, spec, f"Study {namespace}/{name}")
    report: dict[str, Any] | None = None
    refit: str | None = None
    try:
        ctx = study_context(name, parsed, memo.config, namespace=namespace)
        study_name = ctx.study_name
        url = storage_url(memo, namespace, parsed.storage_secret_ref)
        with memo.db.connect(url) as conn:
            summary = study_summary(conn, study_name)
            owner = study_owner(conn, study_name)
            if summary is not None:
                report = study_report(conn, study_name)
                if complete_count(conn, ctx.refit_study_name) > 0:
                    refit = ctx.refit_study_name
        if summary is None or owner is None:  # database replaced, study deleted: recreate
            _ensure(memo, namespace, name, parsed)
        else:
            check_owner(study_name, owner, namespace)
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
    except StudyOwnedElsewhere as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StudyOwnedElsewhere", str(e), gen)]
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
        refitStudyName=refit,
        **_summary_fields(summary),
        **_report_fields(report),
    )
