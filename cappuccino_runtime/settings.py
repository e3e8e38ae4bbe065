"""Where local state lives: embedded defaults (SQLite, local files) overridable by env and flags."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["Settings", "pick_device"]


class Settings(BaseModel):
    """Resolved locations. See docs/CONTRACTS.md for the environment variables."""

    model_config = ConfigDict(frozen=True)

    home: Path
    storage: str
    artifact_root: str
    ledger_url: str
    data_cache: Path
    device: str = "auto"

    @classmethod
    def from_env(cls, home: str | Path | None = None, **overrides: str | None) -> Settings:
        """Builds settings from CAPPUCCINO_* variables; explicit non-None overrides win."""
        env = os.environ
        base = Path(home or env.get("CAPPUCCINO_HOME", ".cappuccino")).expanduser().resolve()
        values: dict[str, object] = {
            "home": base,
            "storage": env.get("CAPPUCCINO_STORAGE", f"sqlite:///{base / 'optuna.db'}"),
            "artifact_root": env.get("CAPPUCCINO_ARTIFACT_ROOT", str(base / "artifacts")),
            "ledger_url": env.get("CAPPUCCINO_LEDGER_URL", f"sqlite:///{base / 'ledger.db'}"),
            "data_cache": Path(env.get("CAPPUCCINO_DATA_CACHE", str(base / "data-cache"))),
            "device": env.get("CAPPUCCINO_DEVICE", "auto"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def ensure_dirs(self) -> None:
        """Creates the local directories the embedded defaults point at."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_cache.mkdir(parents=True, exist_ok=True)
        if "://" not in self.artifact_root or self.artifact_root.startswith("file://"):
            Path(self.artifact_root.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def pick_device(requested: str = "auto") -> str:
    """Returns 'cuda' when asked for auto and a GPU is visible, else the requested device."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from cappuccino_runtime.errors import ConfigError

        raise ConfigError(
            f"device={requested!r} was requested but no CUDA device is visible; "
            "use --device auto or cpu."
        )
    return requested
