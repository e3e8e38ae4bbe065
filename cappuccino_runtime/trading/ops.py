"""Operations surface: Prometheus /metrics, /healthz and /readyz on one tiny HTTP server.

Metrics (labels: portfolio_id): cappuccino_equity, cappuccino_return (since the book started),
cappuccino_drawdown, cappuccino_trades_total, cappuccino_rank (arena members),
cappuccino_guard_halted (1 while a guard halts the book), cappuccino_last_poll_timestamp.
/healthz answers 200 while the poll loop is alive and 503 once no poll has finished for
`stall_after_s` (the trader sets N poll intervals), so Kubernetes restarts a hung trader;
/readyz answers 200 once the trader has
reconciled with the broker and finished a poll, 503 before.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["TraderMetrics", "serve_ops"]


class TraderMetrics:
    """The trader's gauges and counters, on their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        label = ["portfolio_id"]
        self.equity = Gauge(
            "cappuccino_equity", "Book equity (quote).", label, registry=self.registry
        )
        self.returns = Gauge(
            "cappuccino_return", "Return since the book started.", label, registry=self.registry
        )
        self.drawdown = Gauge(
            "cappuccino_drawdown", "Drawdown from the equity peak.", label, registry=self.registry
        )
        self.trades = Counter("cappuccino_trades", "Filled orders.", label, registry=self.registry)
        self.rank = Gauge(
            "cappuccino_rank", "Arena rank (1 = best).", label, registry=self.registry
        )
        self.halted = Gauge(
            "cappuccino_guard_halted",
            "1 while a risk guard halts the book.",
            label,
            registry=self.registry,
        )
        self.last_poll = Gauge(
            "cappuccino_last_poll_timestamp", "Unix time of the last poll.", registry=self.registry
        )
        self.ready = threading.Event()
        self.stall_after_s: float | None = None
        self._beat = time.monotonic()

    def heartbeat(self) -> None:
        """The poll loop finished one iteration (successful or not)."""
        self._beat = time.monotonic()

    def stalled_for(self) -> float | None:
        """Seconds since the last heartbeat when that exceeds stall_after_s, else None."""
        age = time.monotonic() - self._beat
        if self.stall_after_s is not None and age > self.stall_after_s:
            return age
        return None


def serve_ops(metrics: TraderMetrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Starts the ops server in a daemon thread; call .shutdown() to stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, ctype = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                stalled = metrics.stalled_for()
                if stalled is None:
                    body, status, ctype = b"ok\n", 200, "text/plain"
                else:
                    body = f"stalled: no poll finished for {stalled:.0f} s\n".encode()
                    status, ctype = 503, "text/plain"
            elif self.path == "/readyz":
                ok = metrics.ready.is_set()
                body = b"ready\n" if ok else b"not ready\n"
                status, ctype = (200 if ok else 503), "text/plain"
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet probes
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
