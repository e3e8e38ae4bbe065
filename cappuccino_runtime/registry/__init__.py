"""Model registry: top-N and lookups over Optuna's tables (statements: cappuccino_contracts.registry).

The deployment manifests are cappuccino_contracts.manifests; metadata.json is cappuccino_contracts.artifacts.
"""

from __future__ import annotations

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
    "AmbiguousTrialNumber",
    "RegistryTrial",
    "TrialRef",
    "connect",
    "find_by_number",
    "get_trial",
    "list_studies",
    "resolve_number",
    "top_trials",
]
