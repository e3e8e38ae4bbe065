"""The one atomic file write: readers see the old file or the whole new one, never a part.

Local paths (and fsspec's local filesystem): the bytes go to a temporary file beside the
target (same directory, so the rename cannot cross filesystems), are flushed and fsync'ed,
then `os.replace` puts the file in place and the directory is fsync'ed, so a crash at any
point leaves either the old file or the new one. If writing raises, the temporary file is
removed and the target is untouched.

Other fsspec filesystems (s3://, memory://...): the bytes go to `<target>.tmp-<uuid>` and are
moved into place; object stores publish an object only once its upload completes, and a
failed write removes the temporary object. A crash can leave a `.tmp-` file behind, which no
reader takes for the real one (readers open only the exact file names).

Directory swaps (a whole deployment) are a different operation: deploy/atomic.py.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["TMP_MARK", "open_atomic", "write_atomic"]

#: Marks temporary files: `<name>.tmp-<random>` (local files get a leading dot as well).
TMP_MARK = ".tmp-"


def _file_mode() -> int:
    """0o666 less the process umask: what `open(path, "w")` would give (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def _fsync_dir(directory: Path) -> None:
    """Makes a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file to write `path`'s new content into; it replaces `path` on success.

    Parent directories are created. If the body raises, the temporary file is removed, the
    target keeps its old content (or stays absent) and the exception propagates.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{TMP_MARK}")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _MODE)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol
    names = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "file" in names or "local" in names


def write_atomic(path: str | os.PathLike[str], data: bytes, fs: Any = None) -> None:
    """Writes `data` to `path` atomically (see the module docstring), creating parents.

    Args:
        path: a local path, or a path on `fs` (without its protocol).
        data: the file's whole new content.
        fs: an fsspec filesystem; None (or a local one) takes the fsync + os.replace path.
    """
    if fs is None or _is_local(fs):
        with open_atomic(os.fspath(path)) as fh:
            fh.write(data)
        return
    target = os.fspath(path)
    parent = target.rsplit("/", 1)[0] if "/" in target else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = f"{target}{TMP_MARK}{uuid.uuid4().hex}"
    try:
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(tmp):
                fs.rm(tmp)
        raise
