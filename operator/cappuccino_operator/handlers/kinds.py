"""One registration for every kind: the kopf handlers (reconcile on resume/create/spec update,
the level-based status timer, the metrics cleanup on delete) are the same thin wrappers for
Study, TrainingSweep, Arena and Ensemble, so they are written once here. Each kind supplies one
`sync(event, from_timer)`; the wrapper gives it a typed `Event` (with the typed memo) instead
of kopf's eight loose keyword arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf

from cappuccino_operator.api import GROUP, VERSION
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.handlers.common import INTERVAL, namespaced
from cappuccino_operator.kube import Kube
from cappuccino_operator.metrics import inventory, reconciled
from cappuccino_operator.storage import Databases

__all__ = ["MEMO_KEY", "Event", "OperatorMemo", "Sync", "operator_memo", "register"]

#: Attribute of kopf's global memo holding the OperatorMemo (startup sets it).
MEMO_KEY = "cappuccino"


@dataclass(frozen=True)
class OperatorMemo:
    """What the startup handler builds once and every handler shares: settings, the Kubernetes
    client and the database pools."""

    config: OperatorConfig
    kube: Kube
    db: Databases


def operator_memo(memo: Any) -> OperatorMemo:
    """The typed memo kept on kopf's memo; a PermanentError when startup never ran."""
    found = getattr(memo, MEMO_KEY, None)
    if not isinstance(found, OperatorMemo):
        raise kopf.PermanentError(
            "The operator is not configured (its startup handler did not run); restart it."
        )
    return found


@dataclass(frozen=True)
class Event:
    """One handler call for one resource, typed."""

    name: str
    namespace: str
    spec: kopf.Spec
    meta: kopf.Meta
    body: kopf.Body
    status: kopf.Status
    patch: kopf.Patch
    memo: OperatorMemo

    @property
    def generation(self) -> int | None:
        gen = self.meta.get("generation")
        return int(gen) if gen is not None else None

    @property
    def owner(self) -> str:
        """ "<namespace>/<name>", the key of this resource in the metrics."""
        return f"{self.namespace}/{self.name}"

    def not_ready(self, reason: str, message: str) -> None:
        """Writes Ready=False with `reason` and `message` for this generation."""
        from cappuccino_operator.conditions import condition
        from cappuccino_operator.handlers.common import write_status

        gen = self.generation
        write_status(
            self.patch, self.status, gen, [condition("Ready", "False", reason, message, gen)]
        )


Sync = Callable[[Event, bool], None]


def _event(kind: str, kwargs: dict[str, Any]) -> Event:
    name = str(kwargs["name"])
    return Event(
        name=name,
        namespace=namespaced(kwargs.get("namespace"), f"{kind} {name}"),
        spec=kwargs["spec"],
        meta=kwargs["meta"],
        body=kwargs["body"],
        status=kwargs["status"],
        patch=kwargs["patch"],
        memo=operator_memo(kwargs["memo"]),
    )


def register(plural: str, kind: str, sync: Sync, *, short: str, timer_help: str) -> None:
    """Registers `reconcile_<short>` (resume, create, spec update), the timer `observe_<short>`
    (every INTERVAL seconds, level-based: `sync(event, from_timer=True)`) and `forget_<short>`
    (delete: drops the resource from the metrics; optional, so no finalizer)."""

    def reconcile(**kwargs: Any) -> None:
        with reconciled(kind):
            sync(_event(kind, kwargs), False)

    def observe(**kwargs: Any) -> None:
        with reconciled(kind):
            sync(_event(kind, kwargs), True)

    def forget(**kwargs: Any) -> None:
        inventory.forget(f"{kwargs.get('namespace')}/{kwargs['name']}")

    reconcile.__doc__ = f"Converges a {kind}'s children and status to its spec."
    observe.__doc__ = timer_help
    forget.__doc__ = f"Drops a deleted {kind} from the metrics (children go by GC)."
    rid = f"reconcile_{short}"
    kopf.on.resume(GROUP, VERSION, plural, id=rid)(reconcile)
    kopf.on.create(GROUP, VERSION, plural, id=rid)(reconcile)
    kopf.on.update(GROUP, VERSION, plural, field="spec", id=rid)(reconcile)
    kopf.timer(GROUP, VERSION, plural, interval=INTERVAL, initial_delay=1, id=f"observe_{short}")(
        observe
    )
    kopf.on.delete(GROUP, VERSION, plural, optional=True, id=f"forget_{short}")(forget)
