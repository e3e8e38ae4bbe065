"""The terminal dashboard (`cappuccino dashboard --tui`), Textual, with the original's keys:
number keys jump to a page, left/right page through, `r` refreshes, `q` quits; the page model
is rebuilt every 5 seconds. Equity curves are Textual sparklines; tables are Rich tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Label, Sparkline, Static

from cappuccino_runtime.dashboard.build import DashboardService
from cappuccino_runtime.dashboard.html import NOT_COMPUTED, fmt
from cappuccino_runtime.dashboard.pages import PAGE_TITLES, Dashboard, Series

__all__ = ["DashboardApp", "page_renderable", "page_sparklines"]

PAGES = sorted(PAGE_TITLES)


def _table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str
) -> RenderableType:
    if not rows:
        return Text(f"{title}: {empty}", style="dim")
    table = Table(title=title, title_justify="left", expand=True)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def _running(v: bool | None) -> str:
    return "unknown" if v is None else ("running" if v else "stopped")


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in states.items()) or "none"


def _system(d: Dashboard) -> list[RenderableType]:
    s, r = d.system, d.system.resources
    return [
        _table("Data sources", ["source", "location", "status"],
               [[x.name, x.location, "ok" if x.ok else f"unavailable: {x.error}"] for x in s.sources], "none"),
        _table("Trainers, traders, operator", ["kind", "name", "state", "since", "last activity", "detail"],
               [[p.kind, p.name, _running(p.running), fmt(p.since, missing="-"),
                 f"{fmt(p.last_activity, missing='-')} {p.last_activity_what}", p.detail] for p in s.processes],
               "nothing has run yet"),
        Text(f"Host: {r.cpu_count} CPUs, load {fmt(r.load_1m, 2, missing='-')}, memory "
             f"{fmt(r.memory_used_fraction, pct=True, missing='-')} used, disk {r.disk_path} "
             f"{fmt(r.disk_used_fraction, pct=True, missing='-')} used"),
    ]  # fmt: skip


def _trades_table(title: str, trades: Sequence[Any]) -> RenderableType:
    return _table(title, ["time", "portfolio", "ticker", "side", "qty", "price", "fee", "client order id"],
                  [[fmt(t.time), t.portfolio_id, t.ticker, t.side, fmt(t.quantity, 6), fmt(t.price, 2),
                    f"{t.fee:.6g} {t.fee_currency}", t.client_order_id] for t in trades], "no trades yet")  # fmt: skip


def _ensemble(d: Dashboard) -> list[RenderableType]:
    out: list[RenderableType] = []
    if not d.ensemble.books:
        out.append(
            Text("No ensemble portfolio in the ledger yet (run `cappuccino trade`).", style="dim")
        )
    for b in d.ensemble.books:
        guard = f"HALTED: {b.halted_reason}" if b.halted_reason else "no guard halt"
        bench = " · ".join(f"{s.name} {fmt(s.y[-1], 2, missing='-')}" for s in b.benchmarks if s.y)
        out.append(
            Text(
                f"{b.portfolio_id}: trader {_running(b.trader.running)} ({b.trader.detail}); "
                f"equity {fmt(b.equity, 2, missing='-')}, cash {fmt(b.cash, 2)}; {guard}; "
                f"last update {fmt(b.last_update, missing='-')}",
                style="bold",
            )
        )
        out.append(
            Text(f"benchmarks: {bench}" if bench else f"benchmarks not shown: {b.benchmark_note}")
        )
        out.append(
            _table(
                "Positions",
                ["ticker", "quantity", "avg entry", "price", "value", "P&L %"],
                [
                    [
                        p.ticker,
                        fmt(p.quantity, 6),
                        fmt(p.avg_entry, 2, missing="-"),
                        fmt(p.current_price, 2, missing="-"),
                        fmt(p.position_value, 2, missing="-"),
                        fmt(p.pnl_pct, 2, missing="-"),
                    ]
                    for p in b.positions
                ],
                "no open positions",
            )
        )
    out.append(_trades_table("Recent trades", d.ensemble.recent_trades))
    return out  # fmt: skip


def _arena(d: Dashboard) -> list[RenderableType]:
    if not d.arena.arenas:
        return [Text("No arena ranking in the ledger yet (run `cappuccino arena`).", style="dim")]
    return [
        _table(f"{a.arena_id} (ranked {fmt(a.ranked_at, missing='never')}, window {a.window_seconds / 3600:.0f} h)",
               ["rank", "book", "trial_id", "Sharpe", "± SE", "promoted", "equity"],
               [[m.rank, m.portfolio_id, m.trial_id, fmt(m.sharpe, 2), fmt(m.sharpe_stderr, 2),
                 "*" if m.promoted else "", fmt(m.equity, 2, missing="-")] for m in a.members], "no members")
        for a in d.arena.arenas
    ]  # fmt: skip


def _training(d: Dashboard) -> list[RenderableType]:
    out: list[RenderableType] = [
        _table("Studies", ["study", "trials", "states", "best", "best trial_id", "trials/h", "last heartbeat"],
               [[s.study_name, s.total, _states(s.states), fmt(s.best_value), fmt(s.best_trial_id, missing="-"),
                 fmt(s.trials_per_hour, 2, missing="-"), fmt(s.last_heartbeat, missing="-")]
                for s in d.training.studies],
               "no study yet (run `cappuccino train` or `cappuccino demo`)")
    ]  # fmt: skip
    for s in d.training.studies:
        if s.split_sharpes_bot:
            splits = " ".join(f"{v:+.2f}" for v in s.split_sharpes_bot)
            out.append(Text(f"{s.study_name} best trial per-split Sharpe: {splits}"))
        if s.importances:
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(s.importances.items())[:5])
            out.append(Text(f"{s.study_name} importances ({s.importance_note}): {top}"))
    return out


def _two_phase(d: Dashboard) -> list[RenderableType]:
    rows = [
        [s.study_name, f"{s.phase1_study}: {_states(s.phase1_states)}",
         "none yet" if not s.winner else f"trial_id {s.winner.get('trial_id')} value {fmt(s.winner.get('value'))} fixes {s.winner.get('params')}",
         _states(s.phase2_states), fmt(s.phase2_best_value, missing="-")]
        for s in d.two_phase.studies
    ]  # fmt: skip
    return [_table("Two-phase studies", ["study", "phase 1", "winner", "phase 2", "phase-2 best"], rows,
                   "no two-phase study (NAME-phase1) yet")]  # fmt: skip


def _trades(d: Dashboard) -> list[RenderableType]:
    return [_trades_table(f"Trade history ({d.trades.total} fills, newest first)", d.trades.trades)]


def _performance(d: Dashboard) -> list[RenderableType]:
    rows = [
        [r.portfolio_id, fmt(r.total_return, pct=True, missing="-"), fmt(r.sharpe, 2, missing="-"),
         fmt(r.sortino, 2, missing="-"), f"{fmt(r.max_drawdown, pct=True, missing='-')} {r.drawdown_status}",
         fmt(r.alpha, pct=True, missing="no benchmark"),
         f"{fmt(r.trades_per_hour, 2, missing='-')} {r.trades_status}", r.churn,
         fmt(r.turnover, 2, missing="-"), fmt(r.fees, 2)]
        for r in d.performance.rows
    ]  # fmt: skip
    targets = "; ".join(f"{k}: {v}" for k, v in d.performance.targets.items())
    return [
        _table("Performance", ["book", "return", "Sharpe", "Sortino", "max DD", "alpha", "trades/h",
                               "churn", "turnover", "fees"], rows, "no portfolio yet"),
        Text(f"Targets: {targets}", style="dim"),
    ]  # fmt: skip


def _overfitting(d: Dashboard) -> list[RenderableType]:
    studies = [
        [s.study_name, fmt((s.report or {}).get("pbo")), fmt((s.report or {}).get("dsr")),
         fmt((s.report or {}).get("psr"))]
        for s in d.overfitting.studies
    ]  # fmt: skip
    models = [
        [m.study_name, m.trial_id, fmt(m.holdout_sharpe, 2), fmt(m.holdout_sharpe_hodl, 2), fmt(m.dsr)]
        for m in d.overfitting.refit_models
    ]  # fmt: skip
    return [
        _table("Studies", ["study", "PBO", "DSR", "PSR"], studies, "no study yet"),
        _table("Refit models (own hold-out Sharpe)", ["study", "trial_id", "hold-out Sharpe", "B&H", "DSR"],
               models, f"{NOT_COMPUTED}: no S-refit study yet"),
    ]  # fmt: skip


RENDERERS: dict[int, Callable[[Dashboard], list[RenderableType]]] = {
    1: _system, 2: _ensemble, 3: _arena, 4: _training, 5: _trades, 6: _performance,
    7: _overfitting, 9: _two_phase,
}  # fmt: skip


def page_renderable(d: Dashboard, page: int) -> RenderableType:
    """The Rich content of one page."""
    return Group(*RENDERERS[page](d))


def page_sparklines(d: Dashboard, page: int) -> list[Series]:
    """The curves a page draws as sparklines."""
    if page == 2:
        return [b.equity_curve for b in d.ensemble.books] + [
            s for b in d.ensemble.books for s in b.benchmarks
        ]
    if page == 3:
        return [s for a in d.arena.arenas for s in a.equity_curves]
    if page == 4:
        return [s.best_value_series for s in d.training.studies]
    return []


def _plain(renderable: RenderableType, width: int = 160) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


class DashboardApp(App[None]):
    """Numbered pages over one DashboardService."""

    CSS = """
    #pages { height: auto; background: $panel; padding: 0 1; }
    #body { height: 1fr; padding: 0 1; }
    Sparkline { height: 3; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("q", "quit", "quit"),
        Binding("r", "refresh", "refresh"),
        Binding("left", "page(-1)", "previous"),
        Binding("right", "page(1)", "next"),
        *[Binding(str(n), f"goto({n})", show=False) for n in PAGES],
    ]

    def __init__(
        self, service: DashboardService, refresh_seconds: float = 5.0, page: int = 1
    ) -> None:
        super().__init__()
        self.service = service
        self.refresh_seconds = refresh_seconds
        self.page = page
        self.model: Dashboard | None = None
        self.page_text = ""
        self.refreshes = 0

    def compose(self) -> ComposeResult:
        yield Static(id="pages")
        with VerticalScroll(id="body"):
            yield Static(id="content")
            yield VerticalScroll(id="charts")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Cappuccino"
        self.action_refresh()
        self.set_interval(self.refresh_seconds, self.action_refresh)

    def on_unmount(self) -> None:
        self.service.close()

    def action_refresh(self) -> None:
        self.model = self.service.build()
        self.refreshes += 1
        self._show()

    def action_goto(self, page: int) -> None:
        if page in PAGE_TITLES:
            self.page = page
            self._show()

    def action_page(self, step: int) -> None:
        i = PAGES.index(self.page)
        self.page = PAGES[(i + step) % len(PAGES)]
        self._show()

    def _show(self) -> None:
        if self.model is None:
            return
        bar = Text()
        for n in PAGES:
            bar.append(f" {n} {PAGE_TITLES[n]} ", style="reverse bold" if n == self.page else "")
        bar.append(
            f"   computed {fmt(self.model.generated_at)} · auto refresh {self.refresh_seconds:g} s"
        )
        self.query_one("#pages", Static).update(bar)
        content = page_renderable(self.model, self.page)
        self.page_text = _plain(Group(Text(f"{self.page} {PAGE_TITLES[self.page]}"), content))
        self.query_one("#content", Static).update(content)
        charts = self.query_one("#charts", VerticalScroll)
        charts.remove_children()
        for series in page_sparklines(self.model, self.page):
            values = [v for v in series.y if v is not None]
            if len(values) < 2:
                continue
            charts.mount(Label(f"{series.name}: {values[0]:.4g} → {values[-1]:.4g}"))
            charts.mount(Sparkline(values, summary_function=max))
