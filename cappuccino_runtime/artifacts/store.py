"""Reads and writes `{root}/{study_name}/trial_{number}_{timeframe}/` on any fsspec filesystem.

Each file is written atomically (cappuccino_runtime.atomic) and trial.json last: a killed
worker leaves either temp files (never taken for a model) or a directory without trial.json
(never valid). Readers verify checksums before trusting any file.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping

import fsspec
from cappuccino_contracts.artifacts import (
    TRIAL_FILE,
    ArtifactFileError,
    TrialRecord,
    checksum_mismatch,
    read_trial_json,
    trial_dir_name,
)
from fsspec.core import url_to_fs

from cappuccino_runtime.atomic import write_atomic
from cappuccino_runtime.errors import ArtifactError, IdentityError

__all__ = ["ArtifactStore", "sha256_bytes"]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


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
            write_atomic(posixpath.join(path, name), data, self.fs)
        payload = record.model_dump_json(indent=2).encode()
        write_atomic(posixpath.join(path, TRIAL_FILE), payload, self.fs)
        return self.fs.unstrip_protocol(path)

    def read_record(self, trial_dir: str) -> TrialRecord:
        """Parses trial.json of a directory (path or URL under this store's filesystem).

        Raises:
            ArtifactError: trial.json is missing (a worker may have died while writing) or
                invalid; the message names the file and the key.
        """
        try:
            return read_trial_json(self.fs, self._strip(trial_dir))
        except ArtifactFileError as e:
            raise ArtifactError(str(e)) from e

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
        recorded = record.checksums.get(name)
        where = f"trial.json of study {record.study_name!r} trial_id {record.trial_id}"
        if recorded is None:
            raise IdentityError(f"{where} records no sha256 for {name}; it cannot be trusted.")
        if mismatch := checksum_mismatch(
            self.fs.unstrip_protocol(path), sha256_bytes(data), recorded, where
        ):
            raise IdentityError(
                f"{mismatch}; the file was changed or belongs to another model. Re-deploy "
                "from the registry."
            )
        return data

    def _strip(self, trial_dir: str) -> str:
        return str(url_to_fs(trial_dir)[1]) if "://" in trial_dir else trial_dir
