"""Finding and hashing a model's files on any fsspec filesystem (local, PVC mount, s3://).

The size is checked from the listing before a byte is read, so an oversized file is refused
without loading it, and hashes are streamed (never the whole file in memory). The checks that
use these are verify.py's.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

import fsspec
from cappuccino_contracts.artifacts import LEGACY_SUBDIR

from cappuccino_runtime.errors import ArtifactError, ConfigError

__all__ = [
    "DEFAULT_BOUNDS",
    "SizeBounds",
    "check_artifact_root",
    "file_sha256",
    "locate",
]


@dataclass(frozen=True)
class SizeBounds:
    """Accepted size of actor.pth in bytes (defaults: 64 B to 512 MiB)."""

    min_bytes: int = 64
    max_bytes: int = 512 * 1024 * 1024


#: The bounds every check uses unless told otherwise (`--max-bytes`).
DEFAULT_BOUNDS = SizeBounds()


def check_artifact_root(url: str, flag: str = "--artifacts") -> str:
    """Returns `url` when it names an existing directory; a local path that does not exist is a
    ConfigError (never silently replaced by another directory). Remote roots are not probed."""
    if "://" in url and not url.startswith("file://"):
        return url
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.isdir(path):
        raise ConfigError(
            f"{flag} {url!r} is not a directory; give the artifact root that holds "
            "`{study}/trial_{n}_{tf}/` (or leave the flag out to use CAPPUCCINO_ARTIFACT_ROOT)."
        )
    return url


def locate(fs: fsspec.AbstractFileSystem, trial_dir: str, name: str) -> str | None:
    """Path of a file in a trial dir, or in its `stored_agent/` subdir (original layout)."""
    for candidate in (
        posixpath.join(trial_dir, name),
        posixpath.join(trial_dir, LEGACY_SUBDIR, name),
    ):
        if fs.isfile(candidate):
            return candidate
    return None


HASH_CHUNK = 1 << 20


def file_sha256(
    fs: fsspec.AbstractFileSystem,
    trial_dir: str,
    name: str,
    max_bytes: int = SizeBounds().max_bytes,
) -> str | None:
    """sha256 of a file found by `locate` (None when absent), streamed in 1 MiB chunks after
    a size check from the listing, so an oversized file is refused without being read whole.

    Raises:
        ArtifactError: the file is larger than max_bytes.
    """
    path = locate(fs, trial_dir, name)
    if path is None:
        return None
    size = int(fs.size(path))
    if size > max_bytes:
        raise ArtifactError(
            f"{fs.unstrip_protocol(path)} is {size} bytes, over the {max_bytes}-byte limit for "
            "model files; it is not hashed or loaded. Restore the original file or re-run the "
            "trial (raise --max-bytes only if the network really is that large)."
        )
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
