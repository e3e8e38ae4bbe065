"""Glue shared by the handlers: spec parsing, Study resolution, storage URLs, status patches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

from cappuccino_operator.api import VERSION
from cappuccino_operator.api.common import CrdModel, SecretKeyRef
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.builders.context import StudyContext, study_context
from cappuccino_operator.conditions import get_condition, merge_conditions
from cappuccino_operator.errors import StorageUnavailable, StudyNotReady, StudyOwnedElsewhere
from cappuccino_operator.kube import KubeError

if TYPE_CHECKING:
    from cappuccino_operator.handlers.kinds import OperatorMemo

__all__ = [
    "INTERVAL",
    "apply_child",
    "ledger_read_url",
    "namespaced",
    "normal_event",
    "parse_spec",
    "resolve_study",
    "storage_url",
    "write_status",
]

M = TypeVar("M", bound=BaseModel)
STUDY_API = f"cappuccino.dev/{VERSION}"


def _interval() -> float:
    from cappuccino_operator.config import OperatorConfig

    return OperatorConfig.from_env().status_interval


INTERVAL = _interval()


def namespaced(namespace: str | None, what: str) -> str:
    """The namespace kopf passes a handler of a namespaced resource (its signature allows None,
    for cluster-scoped ones; every cappuccino resource is namespaced)."""
    if namespace is None:
        raise kopf.PermanentError(f"{what} has no namespace; cappuccino resources are namespaced.")
    return namespace


def parse_spec(model: type[M], spec: Mapping[str, Any], what: str) -> M:
    """The typed spec; an invalid one is a PermanentError naming the bad field and value."""
    try:
        return model.model_validate(dict(spec))
    except ValidationError as e:
        bad = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}={err.get('input')!r}: {err['msg']}"
            for err in e.errors()
        )
        raise kopf.PermanentError(f"The spec of {what} is invalid: {bad}.") from None


def resolve_study(memo: OperatorMemo, namespace: str, name: str) -> StudyContext:
    """The referenced Study, resolved.

    Raises:
        StudyNotReady: it does not exist yet.
        StudyOwnedElsewhere: its Optuna study belongs to another namespace (the Study's own
            Ready condition says so too); nothing of this namespace may use it.
    """
    body = memo.kube.get(STUDY_API, "Study", namespace, name)
    if body is None:
        raise StudyNotReady(f"Study {namespace}/{name} does not exist (yet); create it first.")
    spec = parse_spec(StudySpec, body.get("spec") or {}, f"Study {namespace}/{name}")
    ctx = study_context(name, spec, memo.config, namespace=namespace)
    ready = get_condition((body.get("status") or {}).get("conditions"), "Ready") or {}
    if ready.get("reason") == "StudyOwnedElsewhere":
        raise StudyOwnedElsewhere(str(ready.get("message")))
    if (body.get("status") or {}).get("studyName") != ctx.study_name:
        # Set only once the Study handler created and claimed the Optuna study: until then
        # nothing may write into (or trade from) a study that may be another namespace's.
        raise StudyNotReady(
            f"Study {namespace}/{name} has not claimed Optuna study {ctx.study_name!r} yet."
        )
    return ctx


def apply_child(memo: OperatorMemo, obj: dict[str, Any]) -> dict[str, Any]:
    """Server-side applies one child (the operator's single field manager)."""
    return memo.kube.apply(obj)


def normal_event(body: Any, reason: str, message: str) -> None:
    """A Normal event on the resource (kubectl describe): lifecycle steps, not errors."""
    kopf.event(body, type="Normal", reason=reason, message=message)


def storage_url(memo: OperatorMemo, namespace: str, ref: SecretKeyRef | None) -> str:
    """The database URL from a Secret key (read now, never stored), else the operator's."""
    if ref is not None:
        try:
            value = memo.kube.read_secret_key(namespace, ref.name, ref.key)
        except KubeError as e:
            if e.status != 403:
                raise
            raise StudyNotReady(
                f"The operator may not read Secret {namespace}/{ref.name}: it reads only the "
                "Secrets its ClusterRole/Role names; add it to their resourceNames (chart value "
                "operator.rbac.extraSecretNames)."
            ) from None
        if not value:
            raise StudyNotReady(
                f"Secret {namespace}/{ref.name} does not exist or has no key {ref.key!r}."
            )
        return value
    if not memo.config.storage_url:
        raise StorageUnavailable(
            "No storage Secret is referenced and the operator has no CAPPUCCINO_STORAGE."
        )
    return str(memo.config.storage_url)


def ledger_read_url(memo: OperatorMemo, namespace: str, ref: SecretKeyRef | None) -> str:
    """The URL the status timers read the trading tables with: a named Secret's, else the
    operator's read-only ledger URL when it has one, else its own storage URL."""
    if ref is None and memo.config.ledger_read_url:
        return str(memo.config.ledger_read_url)
    return storage_url(memo, namespace, ref)


def write_status(
    patch: kopf.Patch,
    status: Mapping[str, Any] | None,
    generation: int | None,
    conditions: Iterable[Mapping[str, Any]] = (),
    fields: CrdModel | None = None,
) -> None:
    """Puts summary fields, observedGeneration and merged conditions into the status patch,
    leaving out what already holds those values (so an idle timer sends no request).

    `fields` is the kind's status model (StudyStatus, TrainingSweepStatus, ArenaStatus,
    EnsembleStatus): only the fields set on it are written (a field set to None is cleared), by
    their CRD names, so a misspelled or unknown field fails instead of being pruned."""
    current = status or {}
    wanted = fields.model_dump(by_alias=True, exclude_unset=True, mode="json") if fields else {}
    if generation is not None:
        wanted["observedGeneration"] = generation
    updates = list(conditions)
    if updates:
        wanted["conditions"] = merge_conditions(current.get("conditions"), updates)
    for key, value in wanted.items():
        if current.get(key) != value:
            patch.status[key] = value
