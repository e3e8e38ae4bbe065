"""Arena and Ensemble: freeze the selection into a ConfigMap, run one trader Deployment with a
validating init container and a metrics Service; a timer mirrors rankings/equity."""

from __future__ import annotations

import json
from typing import Any

import kopf
from cappuccino_contracts.naming import deployment_name, portfolio_id

from cappuccino_operator.api.trader import (
    ArenaSpec,
    ArenaStatus,
    EnsembleSpec,
    EnsembleStatus,
    ManifestRef,
)
from cappuccino_operator.builders.context import StudyContext
from cappuccino_operator.builders.trader import (
    MANIFEST_HASH_ANNOTATION,
    SELECTION_FILE,
    SELECTION_LABEL,
    TraderSpec,
    build_manifest_configmap,
    build_metrics_service,
    build_trader_deployment,
    manifest_document,
    selection_key,
)
from cappuccino_operator.conditions import get_condition, now_iso
from cappuccino_operator.errors import (
    SelectionError,
    StorageUnavailable,
    StudyNotReady,
    StudyOwnedElsewhere,
)
from cappuccino_operator.handlers.common import (
    apply_child,
    ledger_read_url,
    normal_event,
    parse_spec,
    resolve_study,
    storage_url,
    write_status,
)
from cappuccino_operator.handlers.kinds import Event, OperatorMemo, Sync, register
from cappuccino_operator.kube import KubeError
from cappuccino_operator.metrics import inventory
from cappuccino_operator.observe import trader_ready
from cappuccino_operator.queries import (
    ArenaLeader,
    PortfolioEquity,
    arena_leader,
    complete_count,
    portfolio_equity,
    select_trials,
    study_report,
)
from cappuccino_operator.selection import Selection, dsr_refusals, selection_from_document
from cappuccino_operator.storage import describe_error

__all__ = ["trader_figures"]  # and registers its handlers (handlers.kinds.register)

RETRY = 10
#: Ready=False reason of each problem the trader handlers report.
_REASONS: dict[type[Exception], str] = {
    StudyNotReady: "StudyNotFound",
    StudyOwnedElsewhere: "StudyOwnedElsewhere",
    SelectionError: "SelectionFailed",
    StorageUnavailable: "StorageUnavailable",
}
MODELS: dict[str, tuple[type[TraderSpec], str]] = {
    "arenas": (ArenaSpec, "Arena"),
    "ensembles": (EnsembleSpec, "Ensemble"),
}


def _owned_manifests(
    memo: OperatorMemo, kind: str, namespace: str, name: str, uid: str
) -> list[dict[str, Any]]:
    items = memo.kube.list(
        "v1",
        "ConfigMap",
        namespace,
        {f"cappuccino.dev/{kind.lower()}": name, "app.kubernetes.io/component": "manifest"},
    )
    return [
        cm
        for cm in items
        if any(ref.get("uid") == uid for ref in cm["metadata"].get("ownerReferences") or ())
    ]


def _select(
    memo: OperatorMemo, spec: TraderSpec, study: StudyContext, conn: Any
) -> tuple[Selection, dict[str, Any]]:
    """Selects the models now: refit agents (study `<S>-refit`) when it has enough, else the
    search's trials; then the DSR gate. Returns the selection and the manifest's dsr_gate."""

    def select(study_name: str) -> Selection:
        return select_trials(
            conn,
            study_name,
            top_n=spec.top_n,
            trial_ids=spec.trial_ids,
            min_value=spec.min_sharpe if isinstance(spec, ArenaSpec) else None,
            default_timeframe=study.spec.data.timeframe,
        )

    selection = None
    source = study.study_name
    if complete_count(conn, study.refit_study_name) > 0:
        try:
            selection = select(study.refit_study_name)
            source = study.refit_study_name
        except SelectionError:
            selection = None  # too few refit agents (or ids of the search): use the search
    if selection is None:
        selection = select(study.study_name)
    report = study_report(conn, source) or study_report(conn, study.study_name) or {}
    study_dsr = report.get("dsr") if isinstance(report.get("dsr"), int | float) else None
    low = dsr_refusals(selection, study_dsr, spec.min_dsr)
    if low and not spec.allow_low_dsr:
        listed = ", ".join(f"{selection.study_name}:{t.trial_id} (DSR {d:.3f})" for t, d in low)
        raise SelectionError(
            f"Models below minDsr {spec.min_dsr}: {listed}. A low deflated Sharpe ratio means "
            "the search likely found luck; set allowLowDsr: true to trade them anyway (the "
            "manifest records the override)."
        )
    return selection, {"threshold": spec.min_dsr, "overridden": bool(low)}


def _freeze(
    memo: OperatorMemo,
    kind: str,
    name: str,
    namespace: str,
    spec: TraderSpec,
    study: StudyContext,
    body: Any,
) -> tuple[dict[str, Any], bool]:
    """The manifest ConfigMap for this spec, and whether it was (re)selected just now.

    A manifest of this generation is reused (a restart mid-reconcile must not re-select).
    After an edit that leaves the selection inputs alone (selection_key: topN, trialIds,
    minSharpe, the DSR gate, reselect), the frozen models are kept and only the settings
    change; otherwise the models are selected from the database now."""
    gen = int(body["metadata"].get("generation") or 1)
    uid = body["metadata"]["uid"]
    owned = _owned_manifests(memo, kind, namespace, name, uid)
    for cm in owned:
        if cm["metadata"].get("labels", {}).get("cappuccino.dev/generation") == str(gen):
            return cm, False
    key = selection_key(spec)
    previous = sorted(
        (
            cm
            for cm in owned
            if cm["metadata"].get("labels", {}).get(SELECTION_LABEL) == key
            and SELECTION_FILE in (cm.get("data") or {})
        ),
        key=lambda cm: int(cm["metadata"].get("labels", {}).get("cappuccino.dev/generation", 0)),
    )
    if previous:
        old = previous[-1]
        selection = selection_from_document(json.loads(old["data"][SELECTION_FILE]))
        manifest_file = next(k for k in old["data"] if k != SELECTION_FILE)
        gate = json.loads(old["data"][manifest_file]).get("dsr_gate")
        reselected = False
    else:
        url = storage_url(memo, namespace, study.spec.storage_secret_ref)
        with memo.db.connect(url) as conn:
            selection, gate = _select(memo, spec, study, conn)
        reselected = True
    manifest = manifest_document(name, namespace, spec, study, selection, now_iso(), gate)
    cm = build_manifest_configmap(name, namespace, spec, manifest, gen, selection)
    kopf.adopt(cm, owner=body)
    return memo.kube.ensure(cm), reselected


def _ledger_secret(memo: OperatorMemo, namespace: str) -> tuple[str, str] | None:
    """The installation's ledger Secret (contract 8) when it exists in this namespace."""
    name = memo.config.ledger_secret
    if not name:
        return None
    try:
        found = memo.kube.get("v1", "Secret", namespace, name)
    except KubeError:
        return None
    return (name, memo.config.storage_secret_key) if found is not None else None


def _sync(plural: str, ev: Event) -> None:
    """One level-based pass: freeze (or reuse) the selection, apply the Deployment and
    Service (re-created when deleted, reverted when edited by hand), report the truth."""
    name, namespace, body = ev.name, ev.namespace, ev.body
    status, patch, memo = ev.status, ev.patch, ev.memo
    model, kind = MODELS[plural]
    gen = ev.generation
    parsed = parse_spec(model, ev.spec, f"{kind} {namespace}/{name}")
    owner = ev.owner
    try:
        study = resolve_study(memo, namespace, parsed.study_ref.name)
        cm, reselected = _freeze(memo, kind, name, namespace, parsed, study, body)
    except (StudyNotReady, StudyOwnedElsewhere, SelectionError, StorageUnavailable) as e:
        ev.not_ready(_REASONS[type(e)], str(e))
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    current = cm["metadata"]["name"]
    manifest = json.loads(cm["data"][next(k for k in cm["data"] if k != SELECTION_FILE)])
    if reselected:
        normal_event(
            body,
            "ModelsSelected",
            f"{manifest['model_count']} models of study {manifest['study_name']!r} frozen in "
            f"ConfigMap {current}.",
        )
    existing = memo.kube.get("apps/v1", "Deployment", namespace, deployment_name(name))
    deployment = build_trader_deployment(
        name, namespace, parsed, study, memo.config, cm, _ledger_secret(memo, namespace)
    )
    service = build_metrics_service(name, namespace, parsed, memo.config)
    kopf.adopt([deployment, service], owner=body)
    try:
        live = apply_child(memo, deployment)
        apply_child(memo, service)
    except KubeError as e:
        msg = f"Applying the trader failed: {e}"
        ev.not_ready("ApplyFailed", msg)
        raise kopf.TemporaryError(msg, delay=RETRY) from None
    for old in _owned_manifests(memo, kind, namespace, name, body["metadata"]["uid"]):
        if old["metadata"]["name"] != current:
            memo.kube.delete("v1", "ConfigMap", namespace, old["metadata"]["name"])
    if existing is None:
        normal_event(body, "TraderCreated", f"Deployment {deployment_name(name)} created.")
    inventory.set_children(owner, {"Deployment": 1, "Service": 1, "ConfigMap": 1})
    pods = memo.kube.list(
        "v1",
        "Pod",
        namespace,
        {f"cappuccino.dev/{kind.lower()}": name, "app.kubernetes.io/component": "trader"},
    )
    ready = trader_ready(live, pods, gen, suspended=parsed.suspend)
    was = get_condition(status.get("conditions"), "Ready") or {}
    if ready["status"] == "True" and was.get("status") != "True":
        normal_event(body, "TraderReady", ready["message"])
    status_model = ArenaStatus if isinstance(parsed, ArenaSpec) else EnsembleStatus
    found = _read_figures(memo, namespace, name, parsed, study, body)
    selection = selection_from_document(json.loads(cm["data"][SELECTION_FILE]))
    write_status(
        patch,
        status,
        gen,
        [ready],
        status_model(
            study_name=manifest["study_name"],
            models=int(manifest["model_count"]),
            manifest=ManifestRef(
                config_map=current,
                hash=cm["metadata"]["annotations"][MANIFEST_HASH_ANNOTATION],
                generation=gen,
            ),
            deployment=deployment_name(name),
            **trader_figures(parsed, found, selection),
        ),
    )


def trader_figures(
    parsed: TraderSpec, found: ArenaLeader | PortfolioEquity | None, selection: Selection
) -> dict[str, Any]:
    """Pure: the ArenaStatus leader fields (the leader's Optuna trial number from the frozen
    selection) or the EnsembleStatus equity fields; {} when nothing was read."""
    if isinstance(found, ArenaLeader):
        number = next((t.number for t in selection.trials if t.trial_id == found.trial_id), None)
        return {
            "leader_trial_id": found.trial_id,
            "leader_trial_number": number,
            "leader_sharpe": found.sharpe,
            "promoted": found.promoted,
            "ranked_at": found.ranked_at,
        }
    if isinstance(found, PortfolioEquity):
        return {
            "equity": found.equity,
            "return_pct": round((found.equity / parsed.initial_cash - 1.0) * 100.0, 4),
            "equity_at": found.at,
        }
    return {}


def _read_figures(
    memo: OperatorMemo,
    namespace: str,
    name: str,
    parsed: TraderSpec,
    study: StudyContext,
    body: Any,
) -> ArenaLeader | PortfolioEquity | None:
    """I/O: the Arena's leader or the Ensemble's equity from the trading tables; None when
    unknown (a warning event says why the database could not be read)."""
    try:
        ledger = parsed.ledger_secret_ref or study.spec.storage_secret_ref
        url = ledger_read_url(memo, namespace, ledger)
        pid = portfolio_id(namespace, name)
        with memo.db.connect(url) as conn:
            if isinstance(parsed, ArenaSpec):
                return arena_leader(conn, pid)
            return portfolio_equity(conn, pid)
    except (StudyNotReady, StorageUnavailable) as e:
        kopf.warn(body, reason="TradingDatabaseUnavailable", message=str(e))
    except Exception as e:
        kopf.warn(body, reason="TradingDatabaseUnavailable", message=describe_error(e))
    return None


def _handler(plural: str) -> Sync:
    """The trader pass for `plural`; the timer leaves a retryable problem in the condition."""

    def sync(ev: Event, from_timer: bool) -> None:
        try:
            _sync(plural, ev)
        except kopf.TemporaryError:
            if not from_timer:
                raise

    return sync


register(
    "arenas",
    "Arena",
    _handler("arenas"),
    short="arena",
    timer_help="Ready from the Deployment/pods; leader and its Sharpe from arena_rankings.",
)
register(
    "ensembles",
    "Ensemble",
    _handler("ensembles"),
    short="ensemble",
    timer_help="Ready from the Deployment/pods; equity and return from portfolio_snapshots.",
)
