"""HTML of each page (tables, notes and the Plotly charts of figures.py), shared by the web
dashboard and `cappuccino report`. Every value is escaped; a missing value reads as such."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cappuccino_runtime.dashboard.figures import page_figures
from cappuccino_runtime.dashboard.pages import Dashboard

__all__ = ["NOT_COMPUTED", "fmt", "page_body", "page_document", "slug"]

NOT_COMPUTED = "not computed"
STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#212529;background:#f8f9fa}
nav{background:#343a40;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem}
nav a{color:#dee2e6;text-decoration:none;padding:.25rem .6rem;border-radius:.25rem}
nav a.active{background:#0d6efd;color:#fff}
main{padding:1rem 1.5rem}
table{border-collapse:collapse;margin:.5rem 0 1.25rem;background:#fff;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.25rem .5rem;text-align:left}
th{background:#e9ecef}
.ok{color:#198754}.warn{color:#b02a37;font-weight:600}.muted{color:#6c757d}
.chart{background:#fff;margin-bottom:1rem}
"""


def slug(text: str) -> str:
    """A file/element-safe name: 'local/arena/demo:3' -> 'local-arena-demo-3'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def fmt(value: Any, digits: int = 3, pct: bool = False, missing: str = NOT_COMPUTED) -> str:
    """One cell's text: None -> `missing`, floats rounded, times in UTC."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value * 100:.2f} %" if pct else f"{value:.{digits}f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _h(text: str, level: int = 2) -> str:
    return f"<h{level}>{html.escape(text)}</h{level}>"


def _p(text: str, cls: str = "muted") -> str:
    return f'<p class="{cls}">{html.escape(text)}</p>'


def _running(v: bool | None) -> str:
    return "unknown" if v is None else ("running" if v else "stopped")


def _system(d: Dashboard) -> str:
    s = d.system
    r = s.resources
    return "".join(
        [
            _h("Data sources"),
            _table(
                ["source", "location", "status"],
                [
                    [x.name, x.location, "ok" if x.ok else f"unavailable: {x.error}"]
                    for x in s.sources
                ],
                "no sources",
            ),
            _h("Trainers, traders, operator"),
            _table(
                ["kind", "name", "state", "since", "last activity", "what", "detail"],
                [
                    [
                        p.kind,
                        p.name,
                        _running(p.running),
                        fmt(p.since, missing="-"),
                        fmt(p.last_activity, missing="-"),
                        p.last_activity_what,
                        p.detail,
                    ]
                    for p in s.processes
                ],
                "nothing has run yet",
            ),
            _h("Resources (dashboard host)"),
            _table(
                ["CPUs", "load (1 min)", "memory used", "disk", "disk used"],
                [
                    [
                        r.cpu_count,
                        fmt(r.load_1m, 2, missing="-"),
                        fmt(r.memory_used_fraction, pct=True, missing="-"),
                        r.disk_path,
                        fmt(r.disk_used_fraction, pct=True, missing="-"),
                    ]
                ],
                "",
            ),
        ]
    )


def _trades_table(trades: Sequence[Any]) -> str:
    return _table(
        [
            "time",
            "portfolio",
            "ticker",
            "side",
            "quantity",
            "price",
            "notional",
            "fee",
            "client order id",
        ],
        [
            [
                fmt(t.time),
                t.portfolio_id,
                t.ticker,
                t.side,
                fmt(t.quantity, 6),
                fmt(t.price, 2),
                fmt(t.notional, 2),
                f"{t.fee:.6g} {t.fee_currency}",
                t.client_order_id,
            ]
            for t in trades
        ],
        "no trades yet",
    )


def _ensemble(d: Dashboard) -> str:
    parts = []
    if not d.ensemble.books:
        parts.append(_p("No ensemble portfolio in the ledger yet (run `cappuccino trade`)."))
    for b in d.ensemble.books:
        guard = f"HALTED: {b.halted_reason}" if b.halted_reason else "trading (no guard halt)"
        parts += [
            _h(b.portfolio_id),
            _table(
                ["trader", "equity", "cash", "initial cash", "last update", "guard"],
                [
                    [
                        _running(b.trader.running)
                        + (f" ({b.trader.detail})" if b.trader.detail else ""),
                        fmt(b.equity, 2, missing="-"),
                        fmt(b.cash, 2),
                        fmt(b.initial_cash, 2),
                        fmt(b.last_update, missing="-"),
                        guard,
                    ]
                ],
                "",
            ),
            _h("Positions", 3),
            _table(
                [
                    "ticker",
                    "quantity",
                    "avg entry",
                    "current price",
                    "price from",
                    "value",
                    "P&L %",
                ],
                [
                    [
                        p.ticker,
                        fmt(p.quantity, 6),
                        fmt(p.avg_entry, 2, missing="-"),
                        fmt(p.current_price, 2, missing="-"),
                        p.price_source,
                        fmt(p.position_value, 2, missing="-"),
                        fmt(p.pnl_pct, 2, missing="-"),
                    ]
                    for p in b.positions
                ],
                "no open positions",
            ),
        ]
        if b.benchmark_note:
            parts.append(_p(f"Benchmarks not shown: {b.benchmark_note}."))
    parts += [_h("Recent trades"), _trades_table(d.ensemble.recent_trades)]
    return "".join(parts)


def _arena(d: Dashboard) -> str:
    parts = []
    if not d.arena.arenas:
        parts.append(_p("No arena ranking in the ledger yet (run `cappuccino arena`)."))
    for a in d.arena.arenas:
        parts += [
            _h(f"{a.arena_id} (ranked {fmt(a.ranked_at, missing='never')})"),
            _table(
                [
                    "rank",
                    "book",
                    "model (study, trial_id)",
                    "window Sharpe",
                    "± SE",
                    "returns in window",
                    "promoted",
                    "equity",
                ],
                [
                    [
                        m.rank,
                        m.portfolio_id,
                        f"{m.study_name}, {m.trial_id}",
                        fmt(m.sharpe, 2),
                        fmt(m.sharpe_stderr, 2),
                        m.window_returns,
                        "yes" if m.promoted else "",
                        fmt(m.equity, 2, missing="-"),
                    ]
                    for m in a.members
                ],
                "no members",
            ),
            _p(f"Ranking window {a.window_seconds / 3600:.0f} h. {a.note}"),
        ]
    return "".join(parts)


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in states.items()) or "none"


def _training(d: Dashboard) -> str:
    rows = [
        [
            s.study_name,
            s.direction.lower(),
            s.total,
            _states(s.states),
            fmt(s.best_value),
            "-" if s.best_trial_id is None else f"{s.best_trial_id} (#{s.best_number})",
            fmt(s.trials_per_hour, 2, missing="-"),
            fmt(s.last_complete, missing="-"),
            fmt(s.last_heartbeat, missing="-"),
        ]
        for s in d.training.studies
    ]
    table = _table(
        [
            "study",
            "direction",
            "trials",
            "states",
            "best value",
            "best trial_id",
            "trials/hour",
            "last finished",
            "last heartbeat",
        ],
        rows,
        "No study in the Optuna storage yet (run `cappuccino train` or `cappuccino demo`).",
    )
    notes = [_p(f"{s.study_name}: importances {s.importance_note}.") for s in d.training.studies]
    return _h("Studies") + table + "".join(notes)


def _two_phase(d: Dashboard) -> str:
    if not d.two_phase.studies:
        return _p("No two-phase study (a study NAME-phase1) in the storage.")
    rows = []
    for s in d.two_phase.studies:
        w = s.winner
        winner = (
            f"trial_id {w.get('trial_id')} (#{w.get('number')}), value {fmt(w.get('value'))}, "
            f"fixes {w.get('params')}"
            if w
            else "no completed phase-1 trial yet"
        )
        rows.append(
            [
                s.study_name,
                _states(s.phase1_states),
                winner,
                _states(s.phase2_states),
                fmt(s.phase2_best_value, missing="-"),
            ]
        )
    return _table(["study", "phase 1", "phase-1 winner", "phase 2", "phase-2 best"], rows, "")


def _trades(d: Dashboard) -> str:
    shown = len(d.trades.trades)
    return _p(f"{d.trades.total} fills in the ledger; the newest {shown} shown.") + _trades_table(
        d.trades.trades
    )


def _status(text: str) -> str:
    return text if text in ("ok", "n/a") else f"{text} (!)"


def _performance(d: Dashboard) -> str:
    rows = [
        [
            r.portfolio_id,
            r.bars,
            fmt(r.total_return, pct=True, missing="-"),
            fmt(r.sharpe, 2, missing="-"),
            fmt(r.sortino, 2, missing="-"),
            fmt(r.max_drawdown, pct=True, missing="-") + f" [{_status(r.drawdown_status)}]",
            fmt(r.alpha, pct=True, missing="no benchmark"),
            r.trades,
            fmt(r.trades_per_hour, 2, missing="-") + f" [{_status(r.trades_status)}]",
            r.churn,
            fmt(r.turnover, 2, missing="-"),
            fmt(r.fees, 2),
        ]
        for r in d.performance.rows
    ]
    targets = _table(["metric", "the original's target"], list(d.performance.targets.items()), "")
    return (
        _table(
            [
                "book",
                "snapshots",
                "return",
                "Sharpe",
                "Sortino",
                "max drawdown",
                "alpha vs B&H",
                "trades",
                "trades/hour",
                "churn",
                "turnover",
                "fees (USD)",
            ],
            rows,
            "No portfolio in the ledger yet.",
        )
        + _h("Targets", 3)
        + targets
        + _p(
            "Sharpe/Sortino annualised from the returns between consecutive snapshots; "
            "turnover = traded notional / mean equity; churn = buy/sell reversals per asset."
        )
    )


def _overfitting(d: Dashboard) -> str:
    rows = []
    for s in d.overfitting.studies:
        r = s.report or {}
        rows.append(
            [
                s.study_name,
                fmt(r.get("pbo")),
                fmt(r.get("dsr")),
                fmt(r.get("psr")),
                fmt(r.get("n_trials"), missing="-"),
                fmt(r.get("computed_at"), missing="-"),
            ]
        )
    models = [
        [
            m.study_name,
            m.trial_id,
            fmt(m.source_trial_id, missing="-"),
            fmt(m.refit_seed, missing="-"),
            fmt(m.holdout_sharpe, 2),
            fmt(m.holdout_sharpe_hodl, 2),
            fmt(m.holdout_bars, missing="-"),
            fmt(m.dsr),
            fmt(m.psr),
            fmt(m.hyperparameter_score, 2),
        ]
        for m in d.overfitting.refit_models
    ]
    return (
        _h("Studies: probability of backtest overfitting, deflated Sharpe")
        + _table(
            ["study", "PBO", "DSR", "PSR", "configurations tried", "computed at"],
            rows,
            "No study yet.",
        )
        + _p(
            "From the study's `report` user attribute (`cappuccino study report`); "
            f"'{NOT_COMPUTED}' until it has been computed."
        )
        + _h("Refit models: each model's own hold-out Sharpe")
        + _table(
            [
                "study",
                "trial_id",
                "source trial_id",
                "seed",
                "hold-out Sharpe",
                "buy-and-hold",
                "hold-out bars",
                "DSR",
                "PSR",
                "CPCV score",
            ],
            models,
            f"{NOT_COMPUTED}: no S-refit study yet (`cappuccino models refit`).",
        )
    )


PAGE_BODIES: dict[int, Callable[[Dashboard], str]] = {
    1: _system,
    2: _ensemble,
    3: _arena,
    4: _training,
    5: _trades,
    6: _performance,
    7: _overfitting,
    9: _two_phase,
}


def page_body(d: Dashboard, page: int) -> str:
    """Chart <div>s, then the tables of one page (plotly.js must be loaded by the document)."""
    charts = "".join(
        f'<div class="chart" data-chart="{html.escape(name)}">'
        + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{slug(name)}")
        + "</div>"
        for name, fig in page_figures(d, page)
    )
    return charts + PAGE_BODIES[page](d)


def page_document(title: str, nav: str, body: str, head: str, footer: str = "") -> str:
    """A whole HTML document around one or more page bodies."""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><link rel='icon' href='data:,'>"
        f"<style>{STYLE}</style>{head}</head>"
        f"<body>{nav}<main>{body}</main>{footer}</body></html>"
    )
