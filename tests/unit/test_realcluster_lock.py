"""The real-cluster harness holds a machine-wide lock: a second cluster on the same machine
waits for the first (saying for whom) instead of breaking its host state, and gives up with the
holder's pid after its wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.controlplane import REPO_ROOT
from tests.support.realcluster import RealClusterUnavailable, machine_lock

SECOND = """
import sys
from pathlib import Path
from tests.support.realcluster import RealClusterUnavailable, machine_lock
try:
    machine_lock(Path(sys.argv[1]), wait_s=float(sys.argv[2]))
except RealClusterUnavailable as e:
    print(e)
    sys.exit(3)
print("locked")
"""


def _second(lock: Path, wait_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SECOND, str(lock), str(wait_s)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_cluster_waits_then_names_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "realcluster.lock"
    fd = machine_lock(lock)
    try:
        busy = _second(lock, 2.5)
    finally:
        os.close(fd)
    assert busy.returncode == 3
    assert f"pid {os.getpid()}" in busy.stdout and "waiting" in busy.stderr
    assert _second(lock, 2.5).stdout.strip() == "locked"  # released: the next one gets it


def test_one_holder_at_a_time_and_children_do_not_inherit_it(tmp_path: Path) -> None:
    lock = tmp_path / "realcluster.lock"
    fd = machine_lock(lock)
    try:
        with pytest.raises(RealClusterUnavailable):
            machine_lock(lock, wait_s=0.1)  # another open of the file in this process: busy
    finally:
        os.close(fd)
    again = machine_lock(lock)
    try:
        assert os.get_inheritable(again) is False  # a spawned component never keeps it
    finally:
        os.close(again)
