"""Naming rules other modules reuse: names that become paths or ids must stay inside their root.

A study name becomes a directory under the artifact root (`{root}/{study}/trial_...`) and part
of Kubernetes object names and portfolio ids, so it may only hold letters, digits, `.`, `_` and
`-`, must start with a letter or digit, is at most 128 characters, and is never `.`/`..`: a
name like `../x` or `/etc` would write outside the root.
"""

from __future__ import annotations

import re

from cappuccino_runtime.errors import ConfigError

__all__ = ["STUDY_NAME_PATTERN", "check_study_name"]

STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_STUDY_NAME = re.compile(STUDY_NAME_PATTERN)


def check_study_name(name: str) -> str:
    """Returns `name` when it is a safe study name; ConfigError saying why and how otherwise."""
    if not isinstance(name, str) or not _STUDY_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"study name {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..' or '/' (the name becomes a directory "
            "under the artifact root and must stay inside it)."
        )
    return name
