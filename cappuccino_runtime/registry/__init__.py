"""Model registry: top-N and lookups over Optuna's tables, and the deployment manifests."""

from __future__ import annotations

from cappuccino_runtime.registry.manifests import (
    ARENA_FILE,
    ENSEMBLE_FILE,
    ArenaConfig,
    ArenaModel,
    DeployedModelEntry,
    DsrGate,
    EnsembleManifest,
    Manifest,
    ManifestError,
    ValidationStatus,
    read_manifest,
)
from cappuccino_runtime.registry.models import RegistryTrial, TrialRef
from cappuccino_runtime.registry.queries import (
    AmbiguousTrialNumber,
    connect,
    find_by_number,
    get_trial,
    list_studies,
    resolve_number,
    top_trials,
)

__all__ = [
    "ARENA_FILE",
    "ENSEMBLE_FILE",
    "AmbiguousTrialNumber",
    "ArenaConfig",
    "ArenaModel",
    "DeployedModelEntry",
    "DsrGate",
    "EnsembleManifest",
    "Manifest",
    "ManifestError",
    "RegistryTrial",
    "TrialRef",
    "ValidationStatus",
    "connect",
    "find_by_number",
    "get_trial",
    "list_studies",
    "read_manifest",
    "resolve_number",
    "top_trials",
]
