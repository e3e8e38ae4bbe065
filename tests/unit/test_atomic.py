"""The one atomic write: a write that raises (or a process killed) midway leaves no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from cappuccino_runtime.atomic import TMP_MARK, open_atomic, write_atomic


class Boom(RuntimeError):
    pass


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if TMP_MARK in p.name)


def test_a_write_that_raises_midway_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state" / "positions_state.json"
    with pytest.raises(Boom), open_atomic(target) as fh:
        fh.write(b'{"cash": 1')
        raise Boom("disk on fire")
    assert not target.exists()
    assert _leftovers(target.parent) == []


def test_a_write_that_raises_midway_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "trial.json"
    write_atomic(target, b'{"old": true}')
    with pytest.raises(Boom), open_atomic(target) as fh:
        fh.write(b'{"new": ')
        raise Boom("killed")
    assert target.read_bytes() == b'{"old": true}'
    assert _leftovers(tmp_path) == []


def test_a_local_write_replaces_the_file_whole_with_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    write_atomic(target, b"one")
    write_atomic(str(target), b"two", fsspec.filesystem("file"))
    assert target.read_bytes() == b"two"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


class _HalfWriteFS(MemoryFileSystem):
    """A remote-like filesystem whose writes die after half the bytes."""

    protocol = ("halfwrite",)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        fh = super().open(path, mode, **kwargs)
        if "w" not in mode:
            return fh
        real_write = fh.write

        def write(data: bytes) -> int:
            real_write(data[: len(data) // 2])
            fh.flush()
            raise Boom("connection reset")

        fh.write = write
        return fh


def test_an_object_store_write_that_raises_midway_leaves_nothing() -> None:
    fs = _HalfWriteFS()
    with pytest.raises(Boom):
        write_atomic("/bucket/study/trial_0_1h/actor.pth", b"x" * 1000, fs)
    assert not fs.exists("/bucket/study/trial_0_1h/actor.pth")
    assert [p for p in fs.find("/bucket") if TMP_MARK in p] == []
    plain = MemoryFileSystem()
    write_atomic("/bucket2/trial.json", b"{}", plain)
    assert plain.cat_file("/bucket2/trial.json") == b"{}"
    assert [p for p in plain.find("/bucket2") if TMP_MARK in p] == []


def test_a_process_killed_midway_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """SIGKILL in the middle of a write: the target still holds the old bytes, never a part."""
    target = tmp_path / "cache.parquet"
    write_atomic(target, b"old")
    child = textwrap.dedent(
        f"""
        import sys, time
        from cappuccino_runtime.atomic import open_atomic
        with open_atomic({str(target)!r}) as fh:
            fh.write(b"n" * (1 << 20))
            fh.flush()
            sys.stdout.write("started\\n"); sys.stdout.flush()
            time.sleep(60)  # the rest of a long write; killed before it ends
            fh.write(b"n" * (1 << 20))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old"
    partial = [p for p in tmp_path.iterdir() if p != target]
    assert all(TMP_MARK in p.name for p in partial)  # a temp file no reader opens, at most
