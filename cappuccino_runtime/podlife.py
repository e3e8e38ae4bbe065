"""What a process owes the pod it runs in: a prompt stop on SIGTERM, a one-line termination reason.

Kubernetes stops a container with SIGTERM, then SIGKILL after the grace period. The operator's
pods run `cappuccino ...` as their command, so Python is PID 1, and PID 1 ignores SIGTERM unless
it installs a handler: without one, every stop (rollout, scale-down, node drain, `kubectl delete
pod`) waits the whole grace period and ends in SIGKILL. `install_sigterm_handler` turns SIGTERM
into KeyboardInterrupt in the main thread, so `finally` blocks run, Optuna marks a running trial
FAIL instead of leaving it RUNNING, and the process exits within moments.

When a container fails, the kubelet shows the content of its termination-message file (default
/dev/termination-log) in `status.containerStatuses[].state.terminated.message`; the operator
copies that into the owning resource's condition. `write_termination_message` writes the one-line
reason there when the file is writable (in a pod) and does nothing elsewhere.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

__all__ = [
    "TERMINATION_LOG",
    "TERMINATION_MESSAGE_MAX_BYTES",
    "install_sigterm_handler",
    "termination_message",
    "write_termination_message",
]

TERMINATION_LOG = Path(os.environ.get("CAPPUCCINO_TERMINATION_LOG", "/dev/termination-log"))
# The kubelet truncates the message to 4096 bytes; one line should be far shorter.
TERMINATION_MESSAGE_MAX_BYTES = 1024


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def install_sigterm_handler() -> bool:
    """SIGTERM -> KeyboardInterrupt in the main thread. Returns False (and changes nothing) when
    called off the main thread, where Python cannot install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def termination_message(reason: str) -> str:
    """`reason` as one line of at most TERMINATION_MESSAGE_MAX_BYTES UTF-8 bytes."""
    line = " ".join(reason.split())
    data = line.encode()
    if len(data) <= TERMINATION_MESSAGE_MAX_BYTES:
        return line
    return data[: TERMINATION_MESSAGE_MAX_BYTES - 3].decode(errors="ignore") + "..."


def write_termination_message(reason: str, path: Path | None = None) -> bool:
    """Writes the one-line reason to the termination-message file when it exists and is writable
    (the kubelet creates it in every container); returns whether it did."""
    target = path or TERMINATION_LOG
    if not target.exists() or not os.access(target, os.W_OK):
        return False
    try:
        with open(target, "w", encoding="utf-8") as f:
            f.write(termination_message(reason))
    except OSError:
        return False
    return True
