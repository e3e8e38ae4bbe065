"""Operator settings and the clients kept on kopf's global memo for the whole run."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from cappuccino_operator.api import GROUP
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.handlers.kinds import MEMO_KEY, OperatorMemo
from cappuccino_operator.kube import Kube, load_api_client
from cappuccino_operator.storage import Databases

__all__ = [
    "PEERING_NAME",
    "apply_settings",
    "cleanup",
    "configure",
    "drop_timer_finalizers",
    "heartbeat",
]

PEERING_NAME = "cappuccino"
_TASKS: set[Any] = set()  # keeps the heartbeat task referenced


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


def drop_timer_finalizers(registry: Any = None) -> int:
    """Registers the status timers without kopf's finalizer (issue 10.12).

    kopf puts a finalizer on every object a timer runs for, only to stop the timer before
    deletion. Nothing here needs cleanup on deletion (children go by ownerReference garbage
    collection, the Optuna study and ledger are kept on purpose), and a finalizer nobody
    removes leaves CRs and their namespaces stuck Terminating once the operator is uninstalled
    first. kopf stops a timer when its object disappears anyway. Returns how many timers were
    changed."""
    import dataclasses

    from kopf._core.intents import handlers as kopf_handlers  # no public switch for timers
    from kopf._core.intents import registries

    reg = registry or registries.get_default_registry()
    changed = 0
    spawning = reg._spawning
    for i, handler in enumerate(list(spawning._handlers)):
        if isinstance(handler, kopf_handlers.TimerHandler) and handler.requires_finalizer:
            spawning._handlers[i] = dataclasses.replace(handler, requires_finalizer=False)
            changed += 1
    return changed


@kopf.on.startup()
async def heartbeat(**_: Any) -> None:
    """Beats for /healthz (metrics.serve with liveness) from kopf's own event loop."""
    import asyncio

    from cappuccino_operator.metrics import beat

    async def loop() -> None:
        while True:
            beat()
            await asyncio.sleep(5)

    _TASKS.add(asyncio.get_running_loop().create_task(loop()))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Applies the settings and builds the clients once (copied into every resource's memo)."""
    apply_settings(settings)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ops = OperatorMemo(
        config=OperatorConfig.from_env(), kube=Kube(load_api_client()), db=Databases()
    )
    setattr(memo, MEMO_KEY, ops)
    logger.info(
        "cappuccino operator configured: runtime image %s, status interval %ss, default storage %s",
        ops.config.runtime_image,
        ops.config.status_interval,
        "set" if ops.config.storage_url else "unset",
    )


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Closes what startup opened."""
    ops = getattr(memo, MEMO_KEY, None)
    if isinstance(ops, OperatorMemo):
        ops.db.close()
        ops.kube.close()
