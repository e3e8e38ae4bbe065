"""Replacing a deployment directory so that readers never see a half-written one.

The new deployment is built in a sibling temporary directory, then swapped in: with
`renameat2(RENAME_EXCHANGE)` (Linux) the two directories trade places in one atomic step;
elsewhere the old one is renamed aside and the new one renamed into place (two renames, so
for an instant the path is absent, but never partial).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["replace_dir", "sibling_temp_dir"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def sibling_temp_dir(target: Path, tag: str = "tmp") -> Path:
    """A fresh hidden directory next to `target` (same filesystem, so renames are atomic)."""
    path = target.parent / f".{target.name}.{tag}-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths with renameat2; False when the platform cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def replace_dir(new: Path, target: Path) -> None:
    """Makes `new` (a sibling built beforehand) appear at `target`, replacing what was there."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new)  # `new` now holds the previous deployment
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old)
