"""The artifact store: trial directories on any fsspec URL, written atomically, read verified.

File names, trial.json and metadata.json live in cappuccino_contracts.artifacts.
"""

from __future__ import annotations

from cappuccino_runtime.artifacts.store import ArtifactStore, sha256_bytes

__all__ = ["ArtifactStore", "sha256_bytes"]
