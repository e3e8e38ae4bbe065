"""`cappuccino report --study S --out DIR`: the dashboard's pages and charts as files.

DIR/report.html is one self-contained document (plotly.js inlined, so it opens without a server
or internet); DIR/images/<page>-<chart>.png are the same Plotly figures rendered by Kaleido,
which drives a local Chromium (Debian's `chromium`; nothing is downloaded). The Optuna pages are
limited to S and its S-refit / S-phase1 studies; the trading pages show the ledger's books.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cappuccino_runtime.dashboard.build import DashboardService, DashboardSources
from cappuccino_runtime.dashboard.figures import page_figures
from cappuccino_runtime.dashboard.html import fmt, page_body, page_document, slug
from cappuccino_runtime.dashboard.pages import PAGE_TITLES
from cappuccino_runtime.errors import CappuccinoError, ConfigError

__all__ = ["REPORT_PAGES", "ReportResult", "write_report"]

REPORT_PAGES = (4, 9, 7, 2, 3, 6, 5)
"""Training first (the study's own pages), then the trading pages."""


@dataclass(frozen=True)
class ReportResult:
    html: Path
    images: list[Path]


def _nav() -> str:
    links = "".join(f'<a href="#page-{n}">{n} {PAGE_TITLES[n]}</a>' for n in REPORT_PAGES)
    return f"<nav>{links}</nav>"


def write_report(sources: DashboardSources, out: Path, *, png: bool = True) -> ReportResult:
    """Writes DIR/report.html and, with `png`, one PNG per chart under DIR/images.

    Raises:
        ConfigError: the study does not exist in the storage, or PNGs were asked for and no
            Chromium is available (the HTML is written first).
    """
    from plotly.offline import get_plotlyjs

    if sources.study is None:
        raise ConfigError("a report needs --study NAME.")
    service = DashboardService(sources)
    try:
        d = service.build()
    finally:
        service.close()
    names = [s.study_name for s in d.training.studies]
    if sources.study not in names:
        problems = "; ".join(f"{s.name}: {s.error}" for s in d.system.sources if not s.ok)
        raise ConfigError(
            f"study {sources.study!r} is not in the Optuna storage {sources.storage!r}"
            + (f" ({problems})" if problems else "")
            + "; check --study and --storage (CAPPUCCINO_STORAGE)."
        )
    out.mkdir(parents=True, exist_ok=True)
    body = (
        f"<h1>Cappuccino report: study {sources.study}</h1>"
        f'<p class="muted">computed {fmt(d.generated_at)}</p>'
        + "".join(
            f'<section id="page-{n}"><h1>{n} {PAGE_TITLES[n]}</h1>{page_body(d, n)}</section>'
            for n in REPORT_PAGES
        )
    )
    head = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    html_path = out / "report.html"
    html_path.write_text(page_document(f"Cappuccino report: {sources.study}", _nav(), body, head))
    images: list[Path] = []
    if png:
        figures, paths = [], []
        for n in REPORT_PAGES:
            for name, fig in page_figures(d, n):
                figures.append(fig)
                paths.append(out / "images" / f"{n}-{slug(name)}.png")
        if figures:
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            _write_pngs(figures, paths)
            images = paths
    return ReportResult(html=html_path, images=images)


def _write_pngs(figures: list[object], paths: list[Path]) -> None:
    import plotly.io as pio

    try:
        pio.write_images(figures, paths, format="png", width=1100, height=420)
    except (RuntimeError, OSError, ValueError) as e:
        raise CappuccinoError(
            f"writing the PNG images failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
            "Kaleido needs a local Chromium (apt-get install chromium, or set BROWSER_PATH), "
            "or pass --no-png. report.html was written."
        ) from e
