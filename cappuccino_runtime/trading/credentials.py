"""Alpaca keys: from the environment or a mounted Secret directory, never from flags or logs."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from cappuccino_runtime.errors import ConfigError

__all__ = ["AlpacaCredentials"]


class AlpacaCredentials(BaseModel):
    """Key id and secret; `SecretStr` keeps the secret out of repr, str and logs."""

    model_config = ConfigDict(frozen=True)

    key_id: SecretStr
    secret_key: SecretStr

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AlpacaCredentials:
        """ALPACA_CREDENTIALS_DIR (files key_id, secret_key) wins over ALPACA_API_KEY_ID/SECRET_KEY."""
        values = os.environ if env is None else env
        directory = values.get("ALPACA_CREDENTIALS_DIR")
        if directory:
            root = Path(directory)
            try:
                key_id = (root / "key_id").read_text().strip()
                secret = (root / "secret_key").read_text().strip()
            except OSError as e:
                raise ConfigError(
                    f"ALPACA_CREDENTIALS_DIR={directory} must hold the files key_id and "
                    f"secret_key (a mounted Secret); reading them failed: {e.strerror}."
                ) from e
        else:
            key_id = values.get("ALPACA_API_KEY_ID", "")
            secret = values.get("ALPACA_API_SECRET_KEY", "")
        if not key_id or not secret:
            raise ConfigError(
                "Alpaca keys are missing: set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY, or "
                "ALPACA_CREDENTIALS_DIR to a directory with the files key_id and secret_key."
            )
        return cls(key_id=SecretStr(key_id), secret_key=SecretStr(secret))
