"""The one exceptions module. Each docstring says what the system does with that error type."""

from __future__ import annotations

# The root of the hierarchy is shared with the operator (cappuccino_contracts.errors).
from cappuccino_contracts.errors import CappuccinoError, ConfigError

__all__ = [
    "ArtifactError",
    "BrokerError",
    "CappuccinoError",
    "ConfigError",
    "DataQualityError",
    "DataUnavailable",
    "IdentityError",
    "PortfolioLocked",
    "StorageUnavailable",
    "TemporaryBrokerError",
    "ValidationFailed",
]


class DataQualityError(CappuccinoError):
    """Market data breaks a policy that has no safe repair. Stops the run; names file, symbol, rows."""


class DataUnavailable(CappuccinoError):
    """A market-data source (Alpaca, a remote file) cannot be reached or refused. Stops the load;
    callers may retry later; the CLI exits 1."""


class StorageUnavailable(CappuccinoError):
    """The Optuna/ledger database cannot be reached. Temporary: callers retry with backoff."""


class ArtifactError(CappuccinoError):
    """A model's files are missing, corrupt or do not match their recorded checksums. Never loaded."""


class IdentityError(ArtifactError):
    """A model's study, trial_id or checksum is not what was asked for. Never a fallback."""


class ValidationFailed(CappuccinoError):
    """One or more validation checkpoints failed. Deploy refuses; init containers exit 1."""


class PortfolioLocked(CappuccinoError):
    """Another process holds the trading lock of a portfolio. The trader refuses to start (exit 1)."""


class BrokerError(CappuccinoError):
    """A broker rejected an operation (bad size, insufficient funds...). Not retried; logged."""


class TemporaryBrokerError(BrokerError):
    """Rate limit, 5xx or timeout. Retried with backoff after looking the order up by client id."""
