"""The one retry decorator: retries only temporary errors, with capped exponential backoff.

Temporary means `TemporaryBrokerError` (429, 5xx, timeouts) and `StorageUnavailable`; every
other error is raised at once. Order submission does not use this decorator blindly: it looks
the order up by client_order_id between attempts (see brokers/alpaca.py).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from cappuccino_runtime.errors import StorageUnavailable, TemporaryBrokerError

__all__ = ["TEMPORARY", "Backoff", "retry_temporary"]

P = ParamSpec("P")
R = TypeVar("R")
TEMPORARY: tuple[type[Exception], ...] = (TemporaryBrokerError, StorageUnavailable)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """attempts in all (the first included); delay doubles from base to cap seconds."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        return min(self.cap, self.base * (2**attempt))


def retry_temporary(backoff: Backoff | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: call again after a temporary error, up to backoff.attempts calls in all."""
    policy = backoff or Backoff()

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(policy.attempts):
                try:
                    return fn(*args, **kwargs)
                except TEMPORARY as e:
                    if attempt + 1 >= policy.attempts:
                        raise
                    delay = policy.delay(attempt)
                    log.warning(
                        "temporary error in %s (attempt %d of %d), retrying in %.2f s: %s",
                        fn.__name__,
                        attempt + 1,
                        policy.attempts,
                        delay,
                        e,
                    )
                    policy.sleep(delay)
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper

    return decorate
