"""metadata.json (`ModelMetadata`): beside the weights in every deployed `model_{i}/` directory.

The deployment manifests themselves live in cappuccino_contracts.manifests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cappuccino_contracts.manifests import (
    ManifestError,
    ModelNumbers,
    describe_validation_error,
    read_json,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["METADATA_FILE", "ModelMetadata", "read_metadata"]

METADATA_FILE = "metadata.json"
_REBUILD = (
    "Rebuild it from the registry with `cappuccino deploy ensemble|arena --study STUDY "
    "--top-n N --out DIR`."
)


def _now() -> datetime:
    return datetime.now(UTC)


class ModelMetadata(BaseModel):
    """metadata.json beside each deployed model's weights."""

    model_config = ConfigDict(frozen=True)

    trial_number: int
    trial_id: int
    study_name: str = Field(min_length=1)
    sharpe_value: float | None
    timeframe: str
    source_dir: str
    sha256: str
    sha256_critic: str | None = None
    validation_passed: bool
    deployed_at: datetime = Field(default_factory=_now)
    deployed_by: str
    numbers: ModelNumbers | None = None
    """this model's own numbers (sharpe_value is numbers.sharpe)"""


def read_metadata(path: str | Path) -> ModelMetadata:
    """Parses a model directory's metadata.json."""
    p = Path(path)
    if p.is_dir():
        p = p / METADATA_FILE
    raw = read_json(p, "Model metadata")
    try:
        return ModelMetadata.model_validate(raw)
    except ValidationError as e:
        raise ManifestError(
            f"Model metadata {p} is invalid: {describe_validation_error(e)}. {_REBUILD}"
        ) from e
