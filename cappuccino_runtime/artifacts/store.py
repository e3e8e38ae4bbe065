"""Reads and writes `{root}/{study_name}/trial_{number}_{timeframe}/` on any fsspec filesystem.

Each file is written under a temporary name and renamed into place, and trial.json is written
last: a killed worker leaves either temp files (never taken for a model) or a directory without
trial.json (never valid). Readers verify checksums before trusting any file.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from collections.abc import Mapping

import fsspec
from fsspec.core import url_to_fs

from cappuccino_runtime.artifacts.records import TrialRecord
from cappuccino_runtime.errors import ArtifactError, IdentityError

__all__ = [
    "ACTOR_FILE",
    "CRITIC_FILE",
    "TRIAL_FILE",
    "ArtifactStore",
    "sha256_bytes",
    "trial_dir_name",
]

ACTOR_FILE = "actor.pth"
CRITIC_FILE = "critic.pth"
TRIAL_FILE = "trial.json"
_TMP_MARK = ".tmp-"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def trial_dir_name(number: int, timeframe: str) -> str:
    """`trial_{number}_{timeframe}`: the directory name DESIGN.md fixes."""
    return f"trial_{number}_{timeframe}"


class ArtifactStore:
    """One artifact root (local path, PVC mount or s3://...), addressed by study and trial."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self.fs: fsspec.AbstractFileSystem
        self.fs, self._root_path = url_to_fs(self.root)

    def trial_path(self, study_name: str, number: int, timeframe: str) -> str:
        """Filesystem path (without protocol) of one trial's directory (the study name is
        checked by naming.check_study_name: never a path outside the root)."""
        from cappuccino_contracts.naming import check_study_name

        check_study_name(study_name)
        return posixpath.join(self._root_path, study_name, trial_dir_name(number, timeframe))

    def trial_uri(self, study_name: str, number: int, timeframe: str) -> str:
        """URL of a trial directory as users and the database see it."""
        return self.fs.unstrip_protocol(self.trial_path(study_name, number, timeframe))

    def write_trial(self, record: TrialRecord, files: Mapping[str, bytes]) -> str:
        """Writes weight files then trial.json, each atomically; returns the directory URI.

        The record's checksums must match the bytes given, so a record can never describe
        files other than the ones written beside it.
        """
        for name, data in files.items():
            expected = record.checksums.get(name)
            if expected != sha256_bytes(data):
                raise ArtifactError(
                    f"trial.json for study {record.study_name!r} trial_id {record.trial_id} "
                    f"records sha256 {expected!r} for {name}, but the bytes given hash to "
                    f"{sha256_bytes(data)!r}; refusing to write an inconsistent artifact."
                )
        path = self.trial_path(record.study_name, record.number, record.timeframe)
        self.fs.makedirs(path, exist_ok=True)
        for name, data in files.items():
            self._atomic_write(posixpath.join(path, name), data)
        payload = record.model_dump_json(indent=2).encode()
        self._atomic_write(posixpath.join(path, TRIAL_FILE), payload)
        return self.fs.unstrip_protocol(path)

    def read_record(self, trial_dir: str) -> TrialRecord:
        """Parses trial.json of a directory (path or URL under this store's filesystem)."""
        path = posixpath.join(self._strip(trial_dir), TRIAL_FILE)
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError as e:
            raise ArtifactError(
                f"{self.fs.unstrip_protocol(path)} is missing: the trial directory is incomplete "
                "(a worker may have died while writing). Re-run the trial or `cappuccino "
                "validate --fix` to regenerate trial.json from the database."
            ) from e
        try:
            return TrialRecord.model_validate_json(raw)
        except ValueError as e:
            raise ArtifactError(
                f"{self.fs.unstrip_protocol(path)} is not a valid trial record: {e}"
            ) from e

    def read_verified(self, trial_dir: str, name: str, record: TrialRecord) -> bytes:
        """Returns a file's bytes after checking them against the record's sha256."""
        path = posixpath.join(self._strip(trial_dir), name)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError as e:
            raise ArtifactError(
                f"{self.fs.unstrip_protocol(path)} is missing for study {record.study_name!r} "
                f"trial_id {record.trial_id}."
            ) from e
        expected = record.checksums.get(name)
        actual = sha256_bytes(data)
        if expected != actual:
            raise IdentityError(
                f"{self.fs.unstrip_protocol(path)} has sha256 {actual} but trial.json of study "
                f"{record.study_name!r} trial_id {record.trial_id} records {expected}; the file "
                "was changed or belongs to another model. Re-deploy from the registry."
            )
        return data

    def _strip(self, trial_dir: str) -> str:
        return str(url_to_fs(trial_dir)[1]) if "://" in trial_dir else trial_dir

    def _atomic_write(self, path: str, data: bytes) -> None:
        tmp = f"{path}{_TMP_MARK}{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, path)
