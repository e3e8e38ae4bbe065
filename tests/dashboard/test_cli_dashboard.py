"""`cappuccino dashboard` as the chart runs it: a real process serving /healthz and the pages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.dashboard.world import DemoWorld
from tests.support.controlplane import free_port


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_dashboard_process_serves_healthz_and_pages(demo_world: DemoWorld, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CAPPUCCINO_HOME": str(demo_world.settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cappuccino_runtime.cli.main", "dashboard", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
                time.sleep(0.3)
        assert status == 200 and '"ok"' in body
        status, page = _get(f"{base}/page/4")
        assert status == 200 and "demo-phase1" in page and "/static/plotly.min.js" in page
        status, js = _get(f"{base}/static/plotly.min.js")
        assert status == 200 and len(js) > 1_000_000
    finally:
        proc.terminate()
        proc.wait(20)
