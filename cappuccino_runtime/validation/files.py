"""Checkpoint 2 (model files): find actor.pth, bound its size, load it into its network.

Works on any fsspec filesystem (local, PVC mount, s3://). The size is checked from the
listing before a byte is read, so an oversized file is refused without loading it, and hashes
are streamed (never the whole file in memory). torch is
imported only when weights are actually loaded.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec

from cappuccino_runtime.artifacts import ACTOR_FILE, ModelSpec
from cappuccino_runtime.errors import ArtifactError, ConfigError
from cappuccino_runtime.validation.report import Checkpoint, CheckResult

__all__ = [
    "LEGACY_SUBDIR",
    "SizeBounds",
    "check_artifact_root",
    "check_model_files",
    "file_sha256",
    "locate",
]

LEGACY_SUBDIR = "stored_agent"


@dataclass(frozen=True)
class SizeBounds:
    """Accepted size of actor.pth in bytes (defaults: 64 B to 512 MiB)."""

    min_bytes: int = 64
    max_bytes: int = 512 * 1024 * 1024


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


def check_model_files(
    fs: fsspec.AbstractFileSystem,
    trial_dir: str,
    spec: ModelSpec | None,
    params: dict[str, Any],
    subject: str,
    bounds: SizeBounds = SizeBounds(),
) -> CheckResult:
    """Checkpoint 2 on one trial directory.

    Args:
        fs: the filesystem holding the directory.
        trial_dir: path of the trial (or deployed model) directory on `fs`.
        spec: the ModelSpec describing the network; None fails (nothing to load into).
        params: the trial's params; a `net_dimension` param must agree with the spec.
        subject: how the model is named in the report.
        bounds: accepted actor.pth size.
    """
    url = fs.unstrip_protocol(trial_dir)

    def fail(message: str, fix: str) -> CheckResult:
        return CheckResult(
            checkpoint=Checkpoint.MODEL_FILES,
            subject=subject,
            passed=False,
            message=message,
            fix=fix,
        )

    path = locate(fs, trial_dir, ACTOR_FILE)
    if path is None:
        return fail(
            f"{ACTOR_FILE} is missing from {url} (and from its {LEGACY_SUBDIR}/ subdirectory).",
            "restore the trial's artifacts or re-run the trial; a model without weights "
            "cannot be deployed.",
        )
    size = int(fs.size(path))
    if size < bounds.min_bytes or size > bounds.max_bytes:
        return fail(
            f"{fs.unstrip_protocol(path)} is {size} bytes, outside the accepted "
            f"{bounds.min_bytes}..{bounds.max_bytes} bytes (empty, truncated or not a weights "
            "file).",
            "restore the original actor.pth or re-run the trial; raise --max-bytes only if the "
            "network really is that large.",
        )
    if spec is None:
        return fail(
            "no ModelSpec is recorded (trial.json and the model_spec user attr are both "
            "missing), so the network to load into is unknown.",
            "re-run the trial with the current trainer; old trials cannot be rebuilt safely.",
        )
    declared = params.get("net_dimension")
    if declared is not None and int(declared) != spec.net_dimension:
        return fail(
            f"params say net_dimension={declared} but the ModelSpec says "
            f"{spec.net_dimension}; the recorded network is not the one trained.",
            "regenerate trial.json from the database (--fix) or re-run the trial.",
        )
    from cappuccino_runtime.agent.networks import load_actor

    try:
        load_actor(fs.cat_file(path), spec, None, what=fs.unstrip_protocol(path))
    except ArtifactError as e:
        return fail(str(e), "restore the original actor.pth or re-run the trial.")
    return CheckResult(
        checkpoint=Checkpoint.MODEL_FILES,
        subject=subject,
        passed=True,
        message=(
            f"{ACTOR_FILE} ({size} bytes) loads with weights_only=True into "
            f"Actor(obs_dim={spec.obs_dim}, action_dim={spec.action_dim}, "
            f"net_dimension={spec.net_dimension})."
        ),
    )
