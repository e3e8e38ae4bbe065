"""Arena and Ensemble: freeze the selection into a ConfigMap, run one trader Deployment with a
validating init container and a metrics Service; a timer mirrors rankings/equity."""

from __future__ import annotations

import json
from typing import Any

import kopf

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.api.trader import ArenaSpec, EnsembleSpec
from cappuccino_operator.builders.context import StudyContext
from cappuccino_operator.builders.trader import (
    MANIFEST_HASH_ANNOTATION,
    TraderSpec,
    build_manifest_configmap,
    build_metrics_service,
    build_trader_deployment,
    deployment_name,
    manifest_document,
    portfolio_id,
)
from cappuccino_operator.conditions import condition, now_iso
from cappuccino_operator.errors import SelectionError, StorageUnavailable, StudyNotReady
from cappuccino_operator.handlers.common import (
    INTERVAL,
    parse_spec,
    resolve_study,
    storage_url,
    write_status,
)
from cappuccino_operator.observe import trader_ready
from cappuccino_operator.queries import arena_leader, portfolio_equity, select_trials
from cappuccino_operator.storage import describe_error

__all__ = ["observe_arena", "observe_ensemble", "reconcile_arena", "reconcile_ensemble"]

RETRY = 10
MODELS = {"arenas": (ArenaSpec, "Arena"), "ensembles": (EnsembleSpec, "Ensemble")}


def _owned_manifests(
    memo: Any, kind: str, namespace: str, name: str, uid: str
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


def _freeze(
    memo: Any,
    kind: str,
    name: str,
    namespace: str,
    spec: TraderSpec,
    study: StudyContext,
    body: Any,
) -> dict[str, Any]:
    """The manifest ConfigMap of this generation: reused when it already exists (a restart
    mid-reconcile must not re-select), else selected from the database now."""
    gen = int(body["metadata"].get("generation") or 1)
    uid = body["metadata"]["uid"]
    for cm in _owned_manifests(memo, kind, namespace, name, uid):
        if cm["metadata"].get("labels", {}).get("cappuccino.dev/generation") == str(gen):
            return cm
    url = storage_url(memo, namespace, study.spec.storage_secret_ref)
    with memo.db.connect(url) as conn:
        selection = select_trials(
            conn,
            study.study_name,
            top_n=spec.top_n,
            trial_ids=spec.trial_ids,
            min_value=spec.min_sharpe if isinstance(spec, ArenaSpec) else None,
            default_timeframe=study.spec.data.timeframe,
        )
    manifest = manifest_document(name, namespace, spec, study, selection, now_iso())
    cm = build_manifest_configmap(name, namespace, spec, manifest, gen)
    kopf.adopt(cm, owner=body)
    return memo.kube.ensure(cm)


def _reconcile(
    plural: str,
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
) -> None:
    model, kind = MODELS[plural]
    gen = body["metadata"].get("generation")
    parsed = parse_spec(model, spec, f"{kind} {namespace}/{name}")
    try:
        study = resolve_study(memo, namespace, parsed.study_ref.name)
        cm = _freeze(memo, kind, name, namespace, parsed, study, body)
    except StudyNotReady as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StudyNotFound", str(e), gen)]
        )
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    except SelectionError as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "SelectionFailed", str(e), gen)]
        )
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    except StorageUnavailable as e:
        write_status(
            patch, status, gen, [condition("Ready", "False", "StorageUnavailable", str(e), gen)]
        )
        raise kopf.TemporaryError(str(e), delay=RETRY) from None
    deployment = build_trader_deployment(name, namespace, parsed, study, memo.config, cm)
    service = build_metrics_service(name, namespace, parsed, memo.config)
    kopf.adopt([deployment, service], owner=body)
    memo.kube.create_or_patch(deployment)
    memo.kube.create_or_patch(service)
    current = cm["metadata"]["name"]
    for old in _owned_manifests(memo, kind, namespace, name, body["metadata"]["uid"]):
        if old["metadata"]["name"] != current:
            memo.kube.delete("v1", "ConfigMap", namespace, old["metadata"]["name"])
    manifest = json.loads(next(iter(cm["data"].values())))
    write_status(
        patch,
        status,
        gen,
        [
            condition(
                "Ready",
                "False",
                "Deploying",
                f"Manifest {current} frozen; trader rolling out.",
                gen,
            )
        ]
        if not (status or {}).get("conditions")
        else [],
        studyName=study.study_name,
        models=int(manifest["model_count"]),
        manifest={
            "configMap": current,
            "hash": cm["metadata"]["annotations"][MANIFEST_HASH_ANNOTATION],
            "generation": gen,
        },
        deployment=deployment_name(name),
    )


def _observe(
    plural: str,
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
) -> None:
    model, kind = MODELS[plural]
    gen = body["metadata"].get("generation")
    parsed = parse_spec(model, spec, f"{kind} {namespace}/{name}")
    deployment = memo.kube.get("apps/v1", "Deployment", namespace, deployment_name(name))
    pods = memo.kube.list(
        "v1",
        "Pod",
        namespace,
        {f"cappuccino.dev/{kind.lower()}": name, "app.kubernetes.io/component": "trader"},
    )
    ready = trader_ready(deployment, pods, gen)
    if deployment is None and (status or {}).get("conditions"):
        ready = None  # still being created by the reconcile handler: keep its condition
    fields: dict[str, Any] = {}
    try:
        study = resolve_study(memo, namespace, parsed.study_ref.name)
        ledger = parsed.ledger_secret_ref or study.spec.storage_secret_ref
        url = storage_url(memo, namespace, ledger)
        pid = portfolio_id(namespace, name)
        with memo.db.connect(url) as conn:
            if isinstance(parsed, ArenaSpec):
                leader = arena_leader(conn, pid)
                if leader is not None:
                    fields = {
                        "leaderTrialId": leader.trial_id,
                        "leaderSharpe": leader.sharpe,
                        "promoted": leader.promoted,
                        "rankedAt": leader.ranked_at,
                    }
            else:
                eq = portfolio_equity(conn, pid)
                if eq is not None:
                    fields = {
                        "equity": eq.equity,
                        "returnPct": round((eq.equity / parsed.initial_cash - 1.0) * 100.0, 4),
                        "equityAt": eq.at,
                    }
    except (StudyNotReady, StorageUnavailable) as e:
        kopf.warn(body, reason="TradingDatabaseUnavailable", message=str(e))
    except Exception as e:
        kopf.warn(body, reason="TradingDatabaseUnavailable", message=describe_error(e))
    write_status(patch, status, None, [ready] if ready else [], **fields)


@kopf.on.resume(GROUP, VERSION, "arenas")
@kopf.on.create(GROUP, VERSION, "arenas")
@kopf.on.update(GROUP, VERSION, "arenas", field="spec")
def reconcile_arena(
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Freezes the arena's models and applies its ConfigMap, Deployment and Service."""
    _reconcile("arenas", name, namespace, spec, body, status, patch, memo)


@kopf.on.resume(GROUP, VERSION, "ensembles")
@kopf.on.create(GROUP, VERSION, "ensembles")
@kopf.on.update(GROUP, VERSION, "ensembles", field="spec")
def reconcile_ensemble(
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Freezes the ensemble's models and applies its ConfigMap, Deployment and Service."""
    _reconcile("ensembles", name, namespace, spec, body, status, patch, memo)


@kopf.timer(GROUP, VERSION, "arenas", interval=INTERVAL, initial_delay=1)
def observe_arena(
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Ready from the Deployment/pods; leader and its Sharpe from arena_rankings."""
    _observe("arenas", name, namespace, spec, body, status, patch, memo)


@kopf.timer(GROUP, VERSION, "ensembles", interval=INTERVAL, initial_delay=1)
def observe_ensemble(
    name: str,
    namespace: str,
    spec: Any,
    body: Any,
    status: Any,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Ready from the Deployment/pods; equity and return from portfolio_snapshots."""
    _observe("ensembles", name, namespace, spec, body, status, patch, memo)
