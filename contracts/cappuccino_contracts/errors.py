"""The root of the error hierarchy both packages raise for bad input to a shared contract.

The runtime's exceptions module (cappuccino_runtime.errors) builds its hierarchy on these two,
so a bad name or manifest raised here is the runtime's `ConfigError` (the CLI exits 2 with the
one-line message). The operator catches `ConfigError` where a spec breaks a contract.
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["CappuccinoError", "ConfigError", "describe_validation_error"]


class CappuccinoError(Exception):
    """Base class. The CLI prints the message (a full sentence) and exits 1."""


class ConfigError(CappuccinoError):
    """Bad user input (flags, config files, specs, manifests, names). Not retried; the CLI
    exits 2."""


def describe_validation_error(e: ValidationError) -> str:
    """The first problem of a pydantic validation error as one clause naming the key
    (`unknown key 'models.0.foo'`, `missing key 'trial_ids'`, `key 'x': <why>`), for the
    one-line errors every strict boundary raises."""
    errors = e.errors()
    first = errors[0]
    key = ".".join(str(x) for x in first["loc"])
    if first["type"] == "extra_forbidden":
        what = f"unknown key {key!r}"
    elif first["type"] == "missing":
        what = f"missing key {key!r}"
    elif key:
        what = f"key {key!r}: {first['msg']}"
    else:
        what = str(first["msg"])
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return " ".join(f"{what}{more}".split())
