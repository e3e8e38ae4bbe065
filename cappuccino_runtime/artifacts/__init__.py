"""Model artifacts: layout, trial.json, checksums and atomic writes on any fsspec URL."""

from __future__ import annotations

from cappuccino_runtime.artifacts.records import (
    ExecutionSpec,
    ModelSpec,
    NormalizerStats,
    TrialRecord,
)
from cappuccino_runtime.artifacts.store import (
    ACTOR_FILE,
    CRITIC_FILE,
    TRIAL_FILE,
    ArtifactStore,
    sha256_bytes,
    trial_dir_name,
)

__all__ = [
    "ACTOR_FILE",
    "CRITIC_FILE",
    "TRIAL_FILE",
    "ArtifactStore",
    "ExecutionSpec",
    "ModelSpec",
    "NormalizerStats",
    "TrialRecord",
    "sha256_bytes",
    "trial_dir_name",
]
