"""The web dashboard: FastAPI pages rendering the page model with Plotly (plotly.js is served
from the `plotly` package, so the browser needs no internet).

Routes: `/` (page 1), `/page/{n}`, `/api/dashboard` (the page model as JSON), `/healthz`,
`/static/plotly.min.js`. Keys in the browser match the terminal dashboard: number keys jump to
a page, left/right page through, `r` refreshes. The model is rebuilt at most every
`refresh_seconds` however many browsers poll it.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import AsyncIterator
from functools import cache

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cappuccino_runtime.dashboard.build import DashboardService
from cappuccino_runtime.dashboard.html import fmt, page_body, page_document
from cappuccino_runtime.dashboard.pages import PAGE_TITLES, Dashboard

__all__ = ["PAGES", "create_app", "nav_html"]

PAGES = sorted(PAGE_TITLES)

KEYS_JS = """
<script>
const pages = %s, current = %d;
document.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey) return;
  const i = pages.indexOf(current);
  if (/^[0-9]$/.test(e.key) && pages.includes(Number(e.key))) location.href = '/page/' + e.key;
  else if (e.key === 'ArrowRight') location.href = '/page/' + pages[(i + 1) %% pages.length];
  else if (e.key === 'ArrowLeft') location.href = '/page/' + pages[(i - 1 + pages.length) %% pages.length];
  else if (e.key === 'r') location.reload();
});
</script>
"""


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def nav_html(current: int | None, href: str = "/page/{n}") -> str:
    """The page bar: '1 System overview | 2 Paper trading - Ensemble | ...'."""
    links = "".join(
        f'<a href="{href.format(n=n)}" class="{"active" if n == current else ""}" '
        f'id="nav-{n}">{n} {html.escape(title)}</a>'
        for n, title in PAGE_TITLES.items()
    )
    return f"<nav>{links}</nav>"


class _Cached:
    """The latest page model, rebuilt when older than `ttl` seconds."""

    def __init__(self, service: DashboardService, ttl: float) -> None:
        self.service = service
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: Dashboard | None = None
        self._at = 0.0

    def get(self, fresh: bool = False) -> Dashboard:
        with self._lock:
            if fresh or self._value is None or time.monotonic() - self._at > self.ttl:
                self._value = self.service.build()
                self._at = time.monotonic()
            return self._value


def create_app(service: DashboardService, refresh_seconds: float = 5.0) -> FastAPI:
    """The FastAPI app over one DashboardService."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="Cappuccino dashboard", docs_url=None, redoc_url=None, lifespan=lifespan)
    model = _Cached(service, refresh_seconds)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse("/page/1")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(
            _plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "max-age=86400"},
        )

    @app.get("/api/dashboard")
    def api() -> Response:
        return Response(model.get().model_dump_json(), media_type="application/json")

    @app.get("/page/{number}", response_class=HTMLResponse)
    def page(number: int, fresh: bool = False) -> str:
        if number not in PAGE_TITLES:
            raise HTTPException(404, f"no page {number}; pages are {', '.join(map(str, PAGES))}")
        d = model.get(fresh)
        title = f"{number} {PAGE_TITLES[number]}"
        body = (
            f"<h1>{html.escape(title)}</h1>"
            f'<p class="muted">computed {fmt(d.generated_at)} · {d.queries} queries, '
            f"{d.rows_fetched} rows · keys: 1-9 page, ←/→ page through, r refresh · "
            f'<a href="/page/{number}?fresh=1">refresh now</a></p>' + page_body(d, number)
        )
        head = '<script src="/static/plotly.min.js"></script>'
        return page_document(
            f"Cappuccino · {PAGE_TITLES[number]}",
            nav_html(number),
            body,
            head,
            KEYS_JS % (PAGES, number),
        )

    return app
