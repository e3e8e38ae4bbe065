"""Custom resources' status for the system page (in a cluster, `CAPPUCCINO_DASHBOARD_KUBE=1`).

Read-only: lists Study, TrainingSweep, Arena and Ensemble objects with the in-cluster
ServiceAccount (or the local kubeconfig) and summarises their Ready condition.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Literal

from cappuccino_runtime.dashboard._sql import as_utc
from cappuccino_runtime.dashboard.pages import ProcessStatus

__all__ = ["GROUP", "PLURALS", "VERSION", "custom_resource_statuses", "kube_client"]

GROUP = "cappuccino.dev"
VERSION = "v1alpha1"
PLURALS = ("studies", "trainingsweeps", "arenas", "ensembles")
_KIND: dict[str, Literal["trainer", "trader"]] = {
    "studies": "trainer",
    "trainingsweeps": "trainer",
    "arenas": "trader",
    "ensembles": "trader",
}


def kube_client() -> Any:
    """CustomObjectsApi from the in-cluster config, else from $KUBECONFIG (read now, not at
    the kubernetes package's import) or ~/.kube/config."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.CustomObjectsApi()


def _ready(status: dict[str, Any]) -> tuple[bool | None, datetime | None, str]:
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready":
            when = c.get("lastTransitionTime")
            return (
                c.get("status") == "True",
                as_utc(when.replace("Z", "+00:00")) if isinstance(when, str) else None,
                f"{c.get('reason', '')}: {c.get('message', '')}".strip(": "),
            )
    return None, None, "no Ready condition yet"


def _summary(status: dict[str, Any]) -> list[str]:
    """The status's scalar summary fields (counts, leader, best value), as `key=value`."""
    return [
        f"{k}={v}"
        for k, v in status.items()
        if k not in ("conditions", "observedGeneration") and isinstance(v, str | int | float)
    ]


def custom_resource_statuses(api: Any) -> list[ProcessStatus]:
    """One line per custom resource in every namespace the ServiceAccount can read."""
    out = []
    for plural in PLURALS:
        listed = api.list_cluster_custom_object(GROUP, VERSION, plural)
        for item in listed.get("items", []):
            meta, status = item.get("metadata", {}), item.get("status") or {}
            ready, since, message = _ready(status)
            out.append(
                ProcessStatus(
                    kind=_KIND[plural],
                    name=f"{item.get('kind', plural)} {meta.get('namespace')}/{meta.get('name')}",
                    running=ready,
                    since=since,
                    detail="; ".join([message, *_summary(status)]),
                )
            )
    return out
