"""The root of the error hierarchy both packages raise for bad input to a shared contract.

The runtime's exceptions module (cappuccino_runtime.errors) builds its hierarchy on these two,
so a bad name or manifest raised here is the runtime's `ConfigError` (the CLI exits 2 with the
one-line message). The operator catches `ConfigError` where a spec breaks a contract.
"""

from __future__ import annotations

__all__ = ["CappuccinoError", "ConfigError"]


class CappuccinoError(Exception):
    """Base class. The CLI prints the message (a full sentence) and exits 1."""


class ConfigError(CappuccinoError):
    """Bad user input (flags, config files, specs, manifests, names). Not retried; the CLI
    exits 2."""
