"""Study: ensure the Optuna study exists; a timer mirrors trial counts and the best trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from cappuccino_operator.api.study import StudyReport, StudySpec, StudyStatus, TrialCounts
from cappuccino_operator.builders.context import StudyContext, study_context
from cappuccino_operator.conditions import condition
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady, StudyOwnedElsewhere
from cappuccino_operator.handlers.common import parse_spec, storage_url, write_status
from cappuccino_operator.handlers.kinds import Event, OperatorMemo, register
from cappuccino_operator.queries import StudySummary, complete_count, study_report, study_summary
from cappuccino_operator.storage import check_owner, describe_error, study_owner

__all__ = ["StudyReading", "study_ready"]  # and registers its handlers (kinds.register)

RETRY = 15
#: Ready=False reason of each problem the Study handlers report.
_REASONS: dict[type[Exception], str] = {
    StorageUnavailable: "StorageUnavailable",
    StudyNotReady: "SecretNotFound",
    StudyOwnedElsewhere: "StudyOwnedElsewhere",
}


def _summary_fields(s: StudySummary) -> dict[str, Any]:
    """StudyStatus fields from the study's counts and best trial."""
    fields: dict[str, Any] = {
        "trials": TrialCounts(
            **{
                k: s.counts.get(k, 0)
                for k in ("complete", "running", "pruned", "failed", "waiting")
            }
        )
    }
    if s.best_trial_id is not None:
        fields |= {
            "best_value": s.best_value,
            "best_trial_id": s.best_trial_id,
            "best_trial_number": s.best_trial_number,
        }
    return fields


def _report_fields(report: dict[str, Any] | None) -> dict[str, Any]:
    """Study status `report` from the study user attr (contract 2); absent = not computed."""
    if not report:
        return {}
    out: dict[str, Any] = {}
    for key in ("pbo", "dsr", "psr", "n_trials"):
        value = report.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    if isinstance(report.get("computed_at"), str):
        out["computed_at"] = report["computed_at"]
    return {"report": StudyReport(**out)} if out else {}


def _ensure(memo: OperatorMemo, namespace: str, name: str, spec: StudySpec) -> tuple[str, str]:
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


def _reconcile(ev: Event) -> None:
    """Creates the Optuna study (load_if_exists), claims it for this namespace, reports Ready."""
    name, namespace, spec = ev.name, ev.namespace, ev.spec
    body, status, patch = ev.body, ev.status, ev.patch
    memo = ev.memo
    gen = ev.generation
    parsed = parse_spec(StudySpec, spec, f"Study {namespace}/{name}")
    try:
        study_name, _url = _ensure(memo, namespace, name, parsed)
    except (StorageUnavailable, StudyNotReady, StudyOwnedElsewhere) as e:
        ev.not_ready(_REASONS[type(e)], str(e))
        if not isinstance(e, StudyOwnedElsewhere):
            raise kopf.TemporaryError(str(e), delay=RETRY) from None
        kopf.warn(body, reason="StudyOwnedElsewhere", message=str(e))
        raise kopf.TemporaryError(str(e), delay=60) from None
    write_status(
        patch,
        status,
        gen,
        [condition("Ready", "True", "StudyReady", f"Optuna study {study_name!r} exists.", gen)],
        StudyStatus(study_name=study_name),
    )


@dataclass(frozen=True)
class StudyReading:
    """What the status timer read from the database for one Study."""

    study_name: str
    summary: StudySummary | None
    owner: str | None
    report: dict[str, Any] | None
    refit_study_name: str | None


def _read(memo: OperatorMemo, ctx: StudyContext, url: str) -> StudyReading:
    """I/O: counts, best trial, owner, report and whether the refit study has agents."""
    report: dict[str, Any] | None = None
    refit: str | None = None
    with memo.db.connect(url) as conn:
        summary = study_summary(conn, ctx.study_name)
        owner = study_owner(conn, ctx.study_name)
        if summary is not None:
            report = study_report(conn, ctx.study_name)
            if complete_count(conn, ctx.refit_study_name) > 0:
                refit = ctx.refit_study_name
    return StudyReading(ctx.study_name, summary, owner, report, refit)


def study_ready(
    reading: StudyReading, generation: int | None
) -> tuple[dict[str, Any], StudyStatus]:
    """Pure: the Ready condition and the status fields of a Study whose storage answered."""
    summary = reading.summary or StudySummary(reading.study_name)
    c = summary.counts
    message = (
        f"Optuna study {reading.study_name!r}: {c.get('complete', 0)} complete, "
        f"{c.get('running', 0)} running, {c.get('failed', 0)} failed trials."
    )
    fields = StudyStatus(
        study_name=reading.study_name,
        refit_study_name=reading.refit_study_name,
        **_summary_fields(summary),
        **_report_fields(reading.report),
    )
    return condition("Ready", "True", "StudyReady", message, generation), fields


def _observe(ev: Event) -> None:
    """Mirrors trial counts, the best trial and the report (PBO, DSR) into status; re-claims
    (or re-creates) the Optuna study level-based."""
    parsed = parse_spec(StudySpec, ev.spec, f"Study {ev.namespace}/{ev.name}")
    try:
        ctx = study_context(ev.name, parsed, ev.memo.config, namespace=ev.namespace)
        url = storage_url(ev.memo, ev.namespace, parsed.storage_secret_ref)
        reading = _read(ev.memo, ctx, url)
        if reading.summary is None or reading.owner is None:
            _ensure(ev.memo, ev.namespace, ev.name, parsed)  # database replaced, study deleted
        else:
            check_owner(ctx.study_name, reading.owner, ev.namespace)
    except (StorageUnavailable, StudyNotReady, StudyOwnedElsewhere) as e:
        ev.not_ready(_REASONS[type(e)], str(e))
        return
    except Exception as e:  # a query failing mid-way means the database went away
        msg = f"Reading study {parsed.study_name or ev.name!r} failed ({describe_error(e)})."
        ev.not_ready("StorageUnavailable", msg)
        return
    ready, fields = study_ready(reading, ev.generation)
    write_status(ev.patch, ev.status, ev.generation, [ready], fields)


def _sync(ev: Event, from_timer: bool) -> None:
    (_observe if from_timer else _reconcile)(ev)


register(
    "studies",
    "Study",
    _sync,
    short="study",
    timer_help="Mirrors trial counts, the best trial and the report into status; re-claims (or "
    "re-creates) the Optuna study level-based.",
)
