"""cappuccino_runtime.podlife: SIGTERM stops a `cappuccino` process promptly (it is PID 1 in a
pod) and a failing command leaves its one-line reason in the termination-message file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cappuccino_runtime.podlife import (
    TERMINATION_MESSAGE_MAX_BYTES,
    termination_message,
    write_termination_message,
)

SLEEPER = """
import sys, time
from cappuccino_runtime.podlife import install_sigterm_handler
assert install_sigterm_handler()
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    print("cleanup ran", flush=True)
"""


def test_sigterm_interrupts_promptly_and_runs_finally() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    print(f"stopped {elapsed:.2f} s after SIGTERM")
    assert "cleanup ran" in out
    assert "KeyboardInterrupt" in err and "SIGTERM" in err
    assert proc.returncode != 0


def test_termination_message_is_one_bounded_line() -> None:
    assert termination_message("a\nb   c\n") == "a b c"
    long = termination_message("é" * 5000)
    assert len(long.encode()) <= TERMINATION_MESSAGE_MAX_BYTES and long.endswith("...")


def test_write_only_when_the_file_exists(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert not write_termination_message("x", missing)
    assert not missing.exists()
    log = tmp_path / "termination-log"
    log.touch()
    assert write_termination_message("line one\nline two", log)
    assert log.read_text() == "line one line two"


def test_cli_failure_writes_the_reason(tmp_path: Path) -> None:
    """`cappuccino validate` with a bad manifest path: the reason lands in the file the kubelet
    reads (the init container's message), on one line."""
    log = tmp_path / "termination-log"
    log.touch()
    env = {**os.environ, "CAPPUCCINO_TERMINATION_LOG": str(log)}
    proc = subprocess.run(
        [sys.executable, "-m", "cappuccino_runtime.cli.main", "validate", "--manifest",
         str(tmp_path / "missing.json")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    message = log.read_text()
    print("termination message:", message)
    assert message and "\n" not in message
    assert "missing.json" in message
