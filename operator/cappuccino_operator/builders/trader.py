"""Arena/Ensemble -> (manifest ConfigMap, trader Deployment, metrics Service)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cappuccino_contracts.argv import (
    Replay,
    TraderOptions,
    arena_command,
    trade_command,
    validate_command,
)
from cappuccino_contracts.manifests import ARENA_FILE, ENSEMBLE_FILE
from cappuccino_contracts.naming import (
    deployment_name,
    manifest_configmap_name,
    portfolio_id,
    service_name,
)

from cappuccino_operator.api.trader import ArenaSpec, EnsembleSpec
from cappuccino_operator.builders.context import StudyContext, labels_for
from cappuccino_operator.builders.pods import (
    CONTAINER_SECURITY,
    POD_SECURITY,
    TERMINATION_MESSAGE_POLICY,
    artifact_volumes,
    base_env,
    env_from,
    secret_env,
    tmp_volume,
)
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.selection import (
    Selection,
    arena_config,
    ensemble_manifest,
    manifest_hash,
    selection_document,
)

__all__ = [
    "MANIFEST_HASH_ANNOTATION",
    "SELECTION_FILE",
    "SELECTION_LABEL",
    "TraderSpec",
    "build_manifest_configmap",
    "build_metrics_service",
    "build_trader_deployment",
    "duration_seconds",
    "manifest_document",
    "selection_key",
]

TraderSpec = ArenaSpec | EnsembleSpec
MANIFEST_DIR = "/etc/cappuccino/manifest"
STATE_DIR = "/tmp/cappuccino/state"
CREDENTIALS_DIR = "/var/run/secrets/cappuccino/alpaca"
MANIFEST_HASH_ANNOTATION = "cappuccino.dev/manifest-hash"
SELECTION_LABEL = "cappuccino.dev/selection"
SELECTION_FILE = "selection.json"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """'60s', '5m', '7d' -> seconds (the CRD pattern guarantees the form)."""
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit():
        raise ValueError(f"duration {text!r} is not <digits><s|m|h|d>, e.g. 60s or 7d.")
    return int(text[:-1]) * _UNITS[text[-1]]


def _kind(spec: TraderSpec) -> str:
    return "Arena" if isinstance(spec, ArenaSpec) else "Ensemble"


def _file(spec: TraderSpec) -> str:
    return ARENA_FILE if isinstance(spec, ArenaSpec) else ENSEMBLE_FILE


def selection_key(spec: TraderSpec) -> str:
    """Hash of the fields that decide WHICH models trade (topN/trialIds, minSharpe, the DSR
    gate, the reselect token). Only a change of these re-selects; editing other settings
    (cash, risk, broker...) keeps the frozen models."""
    inputs = {
        "topN": spec.top_n,
        "trialIds": list(spec.trial_ids or ()),
        "minSharpe": spec.min_sharpe if isinstance(spec, ArenaSpec) else None,
        "minDsr": spec.min_dsr,
        "allowLowDsr": spec.allow_low_dsr,
        "reselect": spec.reselect,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def manifest_document(
    name: str,
    namespace: str,
    spec: TraderSpec,
    study: StudyContext,
    sel: Selection,
    created_at: str,
    dsr_gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The frozen manifest (registry shape) with the trader settings beside it; `dsr_gate`
    records the threshold and whether low-DSR models were let through (contract 3)."""
    settings: dict[str, Any] = {
        "portfolio_id": portfolio_id(namespace, name),
        "initial_cash": spec.initial_cash,
        "symbols": list(spec.symbols or study.spec.data.symbols),
        "timeframe": study.spec.data.timeframe,
        "poll_interval_seconds": duration_seconds(spec.poll_interval),
        "broker": spec.broker.type,
        "risk": spec.risk.model_dump(mode="json"),
        "dsr_gate": dsr_gate or {"threshold": spec.min_dsr, "overridden": False},
    }
    if isinstance(spec, ArenaSpec):
        settings |= {
            "ranking_window_seconds": duration_seconds(spec.ranking_window),
            "promote_top": spec.promote_top,
            "min_sharpe": spec.min_sharpe,
        }
        return arena_config(sel, arena_name=name, created_at=created_at, extra=settings)
    settings["voting"] = spec.voting
    return ensemble_manifest(sel, created_at=created_at, extra=settings)


def build_manifest_configmap(
    name: str,
    namespace: str,
    spec: TraderSpec,
    manifest: dict[str, Any],
    generation: int,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """The ConfigMap freezing one selection; named by content hash, so a new selection is a
    new ConfigMap and the Deployment rolls. It keeps the selection itself (selection.json)
    and the selection key, so a settings-only edit reuses the same models."""
    digest = manifest_hash(manifest)
    labels = labels_for(_kind(spec), name, "manifest") | {
        "cappuccino.dev/generation": str(generation),
        SELECTION_LABEL: selection_key(spec),
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": manifest_configmap_name(name, digest),
            "namespace": namespace,
            "labels": labels,
            "annotations": {MANIFEST_HASH_ANNOTATION: digest},
        },
        "immutable": True,
        "data": {_file(spec): json.dumps(manifest, indent=2, sort_keys=True)}
        | (
            {SELECTION_FILE: json.dumps(selection_document(selection), sort_keys=True)}
            if selection is not None
            else {}
        ),
    }


def _trader_env(
    spec: TraderSpec, study: StudyContext, ledger_secret: tuple[str, str] | None
) -> list[dict[str, Any]]:
    """Ledger URL: spec.ledgerSecretRef, else the installation's ledger Secret when it exists
    (`ledger_secret`, contract 8), else the Study's storage Secret."""
    env = base_env(study)
    ref = spec.ledger_secret_ref
    name, key = (
        (ref.name, ref.key) if ref else ledger_secret or (study.storage_secret, study.storage_key)
    )
    env.append(secret_env("CAPPUCCINO_LEDGER_URL", name, key))
    if spec.broker.credentials_secret_ref:
        env.append({"name": "ALPACA_CREDENTIALS_DIR", "value": CREDENTIALS_DIR})
    return env


def _replay(spec: TraderSpec, study: StudyContext) -> Replay | None:
    """Replay broker settings; the bars default to the Study's data source."""
    if spec.broker.type != "replay":
        return None
    r = spec.broker.replay
    return Replay(
        data=r.data or study.spec.data.source,
        start=r.start,
        end=r.end,
        seconds_per_bar=r.seconds_per_bar,
    )


def _image(spec: TraderSpec, config: OperatorConfig) -> str:
    return spec.image or config.runtime_image


def build_trader_deployment(
    name: str,
    namespace: str,
    spec: TraderSpec,
    study: StudyContext,
    config: OperatorConfig,
    configmap: dict[str, Any],
    ledger_secret: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One replica (none while spec.suspend), strategy Recreate (two pods must never trade
    one portfolio); the init container validates every model of the manifest before the
    trader starts."""
    kind = _kind(spec)
    labels = labels_for(kind, name, "trader")
    selector = {f"cappuccino.dev/{kind.lower()}": name, "app.kubernetes.io/component": "trader"}
    manifest_file = f"{MANIFEST_DIR}/{_file(spec)}"
    digest = configmap["metadata"]["annotations"][MANIFEST_HASH_ANNOTATION]
    port = config.metrics_port
    options = TraderOptions(
        broker=spec.broker.type,
        poll_interval=duration_seconds(spec.poll_interval),
        metrics_port=port,
        state_dir=STATE_DIR,
        portfolio_id=portfolio_id(namespace, name),
        artifacts=study.artifact_root,
        replay=_replay(spec, study),
    )
    if isinstance(spec, ArenaSpec):
        argv = arena_command(config=manifest_file, options=options)
    else:
        argv = trade_command(manifest=manifest_file, options=options)
    tmp, tmp_mount = tmp_volume()
    art_vols, art_mounts = artifact_volumes(study, read_only=True)
    manifest_volume = {"name": "manifest", "configMap": {"name": configmap["metadata"]["name"]}}
    manifest_mount = {"name": "manifest", "mountPath": MANIFEST_DIR, "readOnly": True}
    mounts = [tmp_mount, manifest_mount, *art_mounts]
    volumes = [tmp, manifest_volume, *art_vols]
    if spec.broker.credentials_secret_ref:
        volumes.append(
            {
                "name": "alpaca",
                "secret": {
                    "secretName": spec.broker.credentials_secret_ref.name,
                    "defaultMode": 0o400,
                },
            }
        )
        mounts.append({"name": "alpaca", "mountPath": CREDENTIALS_DIR, "readOnly": True})
    env = _trader_env(spec, study, ledger_secret)
    resources = {
        "requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory},
        "limits": {"memory": spec.resources.memory},
    }
    init: dict[str, Any] = {
        "name": "validate",
        "image": _image(spec, config),
        "command": validate_command(manifest=manifest_file, artifacts=study.artifact_root),
        "env": base_env(study),
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "terminationMessagePolicy": TERMINATION_MESSAGE_POLICY,
        "volumeMounts": [tmp_mount, manifest_mount, *art_mounts],
    }
    probe = {"port": "metrics"}
    trader: dict[str, Any] = {
        "name": "trader",
        "image": _image(spec, config),
        "command": argv,
        "env": env,
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", **probe},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", **probe},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "terminationMessagePolicy": TERMINATION_MESSAGE_POLICY,
        "volumeMounts": mounts,
    }
    if ef := env_from(study):
        init["envFrom"] = ef
        trader["envFrom"] = ef
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(name), "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 0 if spec.suspend else 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {MANIFEST_HASH_ANNOTATION: digest},
                },
                "spec": {
                    "securityContext": POD_SECURITY,
                    "automountServiceAccountToken": False,
                    "initContainers": [init],
                    "containers": [trader],
                    "volumes": volumes,
                },
            },
        },
    }


def build_metrics_service(
    name: str, namespace: str, spec: TraderSpec, config: OperatorConfig
) -> dict[str, Any]:
    """ClusterIP Service exposing the trader's Prometheus metrics."""
    kind = _kind(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(name),
            "namespace": namespace,
            "labels": labels_for(kind, name, "metrics"),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {
                f"cappuccino.dev/{kind.lower()}": name,
                "app.kubernetes.io/component": "trader",
            },
            "ports": [
                {
                    "name": "metrics",
                    "port": config.metrics_port,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }
