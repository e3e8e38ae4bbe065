"""Operator settings and the clients kept on kopf's global memo for the whole run."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from cappuccino_operator.api import GROUP
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.kube import Kube, load_api_client
from cappuccino_operator.storage import Databases

__all__ = ["PEERING_NAME", "apply_settings", "cleanup", "configure"]

PEERING_NAME = "cappuccino"


def apply_settings(settings: kopf.OperatorSettings) -> None:
    """kopf settings the conventions require (reference/kubernetes-conventions.md):
    watch timeouts (kopf's streams stall silently without them), our own finalizer and
    annotation prefixes, peering, and warnings-only Kubernetes events."""
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 5
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 5
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.peering.name = PEERING_NAME
    settings.execution.max_workers = 8


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Applies the settings and builds the clients once (copied into every resource's memo)."""
    apply_settings(settings)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    memo.config = OperatorConfig.from_env()
    memo.kube = Kube(load_api_client())
    memo.db = Databases()
    logger.info(
        "cappuccino operator configured: runtime image %s, status interval %ss, default storage %s",
        memo.config.runtime_image,
        memo.config.status_interval,
        "set" if memo.config.storage_url else "unset",
    )


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Closes what startup opened."""
    if getattr(memo, "db", None) is not None:
        memo.db.close()
    if getattr(memo, "kube", None) is not None:
        memo.kube.close()
