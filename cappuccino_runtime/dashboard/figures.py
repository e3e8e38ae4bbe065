"""Plotly figures of the page model: the charts both the web dashboard and `cappuccino report`
show. Pure functions from page data to `go.Figure`; no figure queries anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go

from cappuccino_runtime.dashboard.pages import Dashboard, Series

__all__ = ["PAGE_FIGURES", "page_figures"]

Figures = list[tuple[str, go.Figure]]


def _layout(fig: go.Figure, title: str, y: str = "", x: str = "") -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        xaxis_title=x,
        yaxis_title=y,
    )
    return fig


def _xy(series: Series, name: str) -> dict[str, Any]:
    """A trace's points and legend name: `series` under `name`."""
    return {"x": series.x, "y": series.y, "name": name}


def _line(series: Series, dash: str | None = None) -> go.Scatter:
    return go.Scatter(**_xy(series, series.name), mode="lines", line={"dash": dash})


def _ensemble(d: Dashboard) -> Figures:
    out = []
    for book in d.ensemble.books:
        fig = go.Figure([_line(book.equity_curve)] + [_line(b, "dot") for b in book.benchmarks])
        out.append(
            (
                f"equity-{book.portfolio_id}",
                _layout(fig, f"{book.portfolio_id}: equity vs benchmarks", "USD"),
            )
        )
    return out


def _arena(d: Dashboard) -> Figures:
    out = []
    for a in d.arena.arenas:
        ranks = go.Figure(
            [go.Scatter(x=s.x, y=s.y, name=s.name, mode="lines+markers") for s in a.rank_history]
        )
        ranks.update_yaxes(autorange="reversed", dtick=1)
        out.append(
            (f"ranking-{a.arena_id}", _layout(ranks, f"{a.arena_id}: ranking over time", "rank"))
        )
        equity = go.Figure([_line(s) for s in a.equity_curves])
        out.append(
            (f"equity-{a.arena_id}", _layout(equity, f"{a.arena_id}: each book's equity", "USD"))
        )
        members = [m for m in a.members if m.sharpe is not None]
        sharpe = go.Figure(
            go.Bar(
                x=[m.portfolio_id.rsplit("/", 1)[-1] for m in members],
                y=[m.sharpe for m in members],
                error_y={"type": "data", "array": [m.sharpe_stderr or 0.0 for m in members]},
                marker_color=["#2a9d8f" if m.promoted else "#adb5bd" for m in members],
                name="window Sharpe ± SE",
            )
        )
        out.append(
            (
                f"sharpe-{a.arena_id}",
                _layout(
                    sharpe,
                    f"{a.arena_id}: ranking-window Sharpe ± standard error (promoted in green)",
                    "annualised Sharpe",
                ),
            )
        )
    return out


def _training(d: Dashboard) -> Figures:
    studies = d.training.studies
    if not studies:
        return []
    states = sorted({k for s in studies for k in s.states})
    out = [
        (
            "states",
            _layout(
                go.Figure(
                    [
                        go.Bar(
                            name=k,
                            x=[s.study_name for s in studies],
                            y=[s.states.get(k, 0) for s in studies],
                        )
                        for k in states
                    ]
                ).update_layout(barmode="stack"),
                "trials by state",
                "trials",
            ),
        ),
        (
            "trials-per-hour",
            _layout(
                go.Figure([go.Bar(**_xy(s.trials_per_hour_series, s.study_name)) for s in studies]),
                "finished trials per hour",
                "trials / hour",
            ),
        ),
        (
            "best-value",
            _layout(
                go.Figure(
                    [
                        go.Scatter(
                            **_xy(s.best_value_series, s.study_name),
                            mode="lines+markers",
                            line={"shape": "hv"},
                        )
                        for s in studies
                    ]
                ),
                "best value over time",
                "objective",
            ),
        ),
    ]
    for s in studies:
        if s.split_sharpes_bot:
            splits = [f"split {i + 1}" for i in range(len(s.split_sharpes_bot))]
            bars = [go.Bar(name="agent", x=splits, y=s.split_sharpes_bot)]
            if s.split_sharpes_hodl:
                bars.append(go.Bar(name="buy-and-hold", x=splits, y=s.split_sharpes_hodl))
            out.append(
                (
                    f"splits-{s.study_name}",
                    _layout(
                        go.Figure(bars),
                        f"{s.study_name}: per-split Sharpe of the best trial (trial_id {s.best_trial_id})",
                        "annualised Sharpe",
                    ),
                )
            )
        if s.importances:
            items = sorted(s.importances.items(), key=lambda kv: kv[1])
            fig = go.Figure(
                go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h")
            )
            out.append(
                (
                    f"importance-{s.study_name}",
                    _layout(fig, f"{s.study_name}: parameter importances ({s.importance_note})"),
                )
            )
    return out


def _two_phase(d: Dashboard) -> Figures:
    out = []
    for s in d.two_phase.studies:
        states = sorted({*s.phase1_states, *s.phase2_states})
        fig = go.Figure(
            [
                go.Bar(
                    name=k,
                    x=["phase 1", "phase 2"],
                    y=[s.phase1_states.get(k, 0), s.phase2_states.get(k, 0)],
                )
                for k in states
            ]
        ).update_layout(barmode="stack")
        out.append(
            (
                f"phases-{s.study_name}",
                _layout(fig, f"{s.study_name}: phase-1 and phase-2 progress", "trials"),
            )
        )
    return out


def _performance(d: Dashboard) -> Figures:
    rows = d.performance.rows
    if not rows:
        return []
    names = [r.portfolio_id for r in rows]
    tph = go.Figure(go.Bar(x=names, y=[r.trades_per_hour for r in rows], name="trades/hour"))
    for y, dash, label in ((1, "dot", "target 1"), (3, "dot", "target 3"), (5, "dash", "churning")):
        tph.add_hline(y=y, line_dash=dash, annotation_text=label)
    dd = go.Figure(
        go.Bar(x=names, y=[(r.max_drawdown or 0.0) * 100 for r in rows], name="max drawdown %")
    )
    dd.add_hline(y=10, line_dash="dot", annotation_text="target < 10 %")
    dd.add_hline(y=20, line_dash="dash", line_color="red", annotation_text="warning > 20 %")
    return [
        (
            "trades-per-hour",
            _layout(tph, "trades per hour against the original's 1-3 target", "trades / hour"),
        ),
        ("drawdown", _layout(dd, "max drawdown against the original's targets", "%")),
    ]


def _overfitting(d: Dashboard) -> Figures:
    models = [m for m in d.overfitting.refit_models if m.holdout_sharpe is not None]
    if not models:
        return []
    labels = [f"{m.study_name}:{m.trial_id}" for m in models]
    bars = [go.Bar(name="refit agent", x=labels, y=[m.holdout_sharpe for m in models])]
    if any(m.holdout_sharpe_hodl is not None for m in models):
        bars.append(
            go.Bar(name="buy-and-hold", x=labels, y=[m.holdout_sharpe_hodl for m in models])
        )
    return [
        (
            "holdout",
            _layout(go.Figure(bars), "each refit model's own hold-out Sharpe", "annualised Sharpe"),
        )
    ]


PAGE_FIGURES: dict[int, Callable[[Dashboard], Figures]] = {
    2: _ensemble,
    3: _arena,
    4: _training,
    6: _performance,
    7: _overfitting,
    9: _two_phase,
}


def page_figures(dashboard: Dashboard, page: int) -> Figures:
    """(slug, figure) pairs of one page; pages without charts give []."""
    make = PAGE_FIGURES.get(page)
    return make(dashboard) if make else []
