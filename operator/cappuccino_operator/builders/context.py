"""What builders need to know about the referenced Study and the operator, resolved once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cappuccino_contracts.naming import default_study_name, refit_study_name

from cappuccino_operator.api import GROUP
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.config import OperatorConfig

__all__ = ["ARTIFACT_MOUNT", "StudyContext", "labels_for", "study_context"]

ARTIFACT_MOUNT = "/var/lib/cappuccino/artifacts"


@dataclass(frozen=True)
class StudyContext:
    """A Study resolved for its children: names, where pods read secrets, artifact settings."""

    resource_name: str
    namespace: str
    study_name: str
    spec: StudySpec
    storage_secret: str
    storage_key: str
    artifact_root: str
    artifact_pvc: str | None = None
    artifact_env_secret: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def refit_study_name(self) -> str:
        """Optuna study of the refit agents (contract 1: `S-refit`)."""
        return refit_study_name(self.study_name)


def study_context(
    name: str, spec: StudySpec, config: OperatorConfig, *, namespace: str
) -> StudyContext:
    """Resolves a Study's defaults (study name, storage Secret, artifact root)."""
    ref = spec.storage_secret_ref
    artifacts = spec.artifacts
    explicit_root = artifacts.root if artifacts else None
    pvc = artifacts.pvc_name if artifacts else None
    if pvc is None and explicit_root is None and config.artifact_pvc:
        # Pods run with a read-only root filesystem: a Study that names no storage uses the
        # installation's shared artifact PVC (the chart's), so workers can write and traders read.
        pvc = config.artifact_pvc
    root = explicit_root or (ARTIFACT_MOUNT if pvc else config.artifact_root)
    return StudyContext(
        resource_name=name,
        namespace=namespace,
        study_name=spec.study_name or default_study_name(namespace, name),
        spec=spec,
        storage_secret=ref.name if ref else config.storage_secret,
        storage_key=ref.key if ref else config.storage_secret_key,
        artifact_root=root,
        artifact_pvc=pvc,
        artifact_env_secret=artifacts.secret_ref.name
        if artifacts and artifacts.secret_ref
        else None,
    )


def labels_for(kind: str, name: str, component: str) -> dict[str, str]:
    """Labels every child carries; `cappuccino.dev/<kind>=<name>` selects them."""
    return {
        "app.kubernetes.io/name": "cappuccino",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "cappuccino-operator",
        f"{GROUP}/{kind.lower()}": name,
    }
