"""Operator metrics on /metrics (contract 6), and the liveness answer when it shares the port.

- cappuccino_operator_reconciles_total{kind,result}: handler runs (result ok|retry|error)
- cappuccino_operator_errors_total{kind}: handler runs that raised (retried or permanent)
- cappuccino_operator_children{kind}: children the operator keeps (Job, Deployment, ...)
- cappuccino_operator_sweeps_running: TrainingSweeps neither finished nor suspended

`serve(port, liveness=True)` starts a daemon-thread HTTP server; with liveness it also
answers /healthz: 200 while kopf's event loop beats (`beat()`, every few seconds), else 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

__all__ = [
    "REGISTRY",
    "Inventory",
    "beat",
    "counted",
    "inventory",
    "reconciled",
    "serve",
]

REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "cappuccino_operator_reconciles",
    "Reconcile and observe runs by resource kind and result (ok, retry, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "cappuccino_operator_errors",
    "Reconcile runs that raised, by resource kind.",
    ["kind"],
    registry=REGISTRY,
)
LIVENESS_WINDOW_S = 60.0


class Inventory:
    """What the operator currently keeps, per owning resource (thread-safe): children by
    kind, and which sweeps are running. Owners are forgotten when they are deleted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[str, dict[str, int]] = {}
        self._running: set[str] = set()

    def set_children(self, owner: str, children: Mapping[str, int]) -> None:
        with self._lock:
            self._children[owner] = dict(children)

    def set_running(self, owner: str, running: bool) -> None:
        with self._lock:
            (self._running.add if running else self._running.discard)(owner)

    def forget(self, owner: str) -> None:
        with self._lock:
            self._children.pop(owner, None)
            self._running.discard(owner)

    def children(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for kinds in self._children.values():
                for kind, n in kinds.items():
                    out[kind] = out.get(kind, 0) + n
            return out

    def running(self) -> int:
        with self._lock:
            return len(self._running)


inventory = Inventory()


class _InventoryCollector:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        children = GaugeMetricFamily(
            "cappuccino_operator_children",
            "Children the operator keeps, by kind (Job, Deployment, Service, ConfigMap).",
            labels=["kind"],
        )
        for kind, n in sorted(inventory.children().items()):
            children.add_metric([kind], n)
        yield children
        running = GaugeMetricFamily(
            "cappuccino_operator_sweeps_running", "TrainingSweeps neither finished nor suspended."
        )
        running.add_metric([], inventory.running())
        yield running


REGISTRY.register(_InventoryCollector())


def counted(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator counting a handler's runs: ok, retry (kopf.TemporaryError) or error."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with reconciled(kind):
                return fn(*args, **kwargs)

        run.__name__ = fn.__name__
        run.__qualname__ = fn.__qualname__
        run.__doc__ = fn.__doc__
        run.__module__ = fn.__module__
        return run

    return wrap


@contextmanager
def reconciled(kind: str) -> Iterator[None]:
    try:
        yield
    except kopf.TemporaryError:
        RECONCILES.labels(kind, "retry").inc()
        ERRORS.labels(kind).inc()
        raise
    except Exception:
        RECONCILES.labels(kind, "error").inc()
        ERRORS.labels(kind).inc()
        raise
    RECONCILES.labels(kind, "ok").inc()


_last_beat = [time.monotonic()]


def beat() -> None:
    """Called from kopf's event loop every few seconds (handlers.startup)."""
    _last_beat[0] = time.monotonic()


def _alive() -> bool:
    return time.monotonic() - _last_beat[0] < LIVENESS_WINDOW_S


def serve(port: int, *, liveness: bool, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Starts the metrics (and optional /healthz) server in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, status, ctype = generate_latest(REGISTRY), 200, CONTENT_TYPE_LATEST
            elif path == "/healthz" and liveness:
                ok = _alive()
                body = b"ok\n" if ok else b"kopf event loop stalled\n"
                status, ctype = (200 if ok else 503), "text/plain"
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # scrapes are not log lines
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
