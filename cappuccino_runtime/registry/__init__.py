"""Model registry: top-N and lookups over Optuna's tables, and each deployed model's metadata.json.

The deployment manifests are cappuccino_contracts.manifests.
"""

from __future__ import annotations

from cappuccino_runtime.registry.metadata import METADATA_FILE, ModelMetadata, read_metadata
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
    "METADATA_FILE",
    "AmbiguousTrialNumber",
    "ModelMetadata",
    "RegistryTrial",
    "TrialRef",
    "connect",
    "find_by_number",
    "get_trial",
    "list_studies",
    "read_metadata",
    "resolve_number",
    "top_trials",
]
