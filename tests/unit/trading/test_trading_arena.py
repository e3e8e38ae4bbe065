"""Arena ranking on hand-computed Sharpe ratios."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cappuccino_runtime.trading.arena import rank_members

T0 = datetime(2024, 1, 8, tzinfo=UTC)


def _series(values: list[float], end: datetime = T0) -> list[tuple[datetime, float]]:
    n = len(values)
    return [(end - timedelta(hours=n - 1 - i), v) for i, v in enumerate(values)]


def test_ranking_by_rolling_sharpe_and_top_k_promoted() -> None:
    # returns: a = [+10%, -10%] -> mean 0, Sharpe 0
    #          b = [+10%, +5%] ... computed by hand below
    #          c = [+1%, +1%] flat-deviation -> Sharpe 0 by convention (std 0)
    #          d = [-5%, -5.263..%] (100 -> 95 -> 90): negative
    eq = {
        "a": _series([100.0, 110.0, 99.0]),
        "b": _series([100.0, 110.0, 115.5]),
        "c": _series([100.0, 101.0, 102.01]),
        "d": _series([100.0, 95.0, 90.0]),
    }
    ranking = rank_members(eq, T0, periods_per_year=8760.0, top_k=2)
    by_id = {r.portfolio_id: r for r in ranking}
    # b: returns 0.10, 0.05 -> mean 0.075, sample std = 0.05 / sqrt(2) -> Sharpe 1.5 sqrt(2) sqrt(8760)
    assert by_id["b"].sharpe == pytest.approx(0.075 / (0.05 / math.sqrt(2)) * math.sqrt(8760))
    assert by_id["a"].sharpe == pytest.approx(0.0, abs=1e-9)
    assert by_id["c"].sharpe == 0.0
    assert [r.portfolio_id for r in ranking] == ["b", "a", "c", "d"]
    assert [r.rank for r in ranking] == [1, 2, 3, 4]
    assert [r.promoted for r in ranking] == [True, True, False, False]


def test_window_excludes_old_snapshots_and_short_histories_rank_last() -> None:
    # 'old' had a great run ending 8 days ago, then 3 flat points inside the window -> Sharpe 0;
    # 'new' has only 2 points inside the window -> no Sharpe, ranked last, never promoted.
    old = _series([100.0, 200.0, 400.0], end=T0 - timedelta(days=8)) + _series([400.0] * 3)
    ranking = rank_members(
        {"new": _series([100.0, 120.0]), "old": old}, T0, periods_per_year=8760.0, top_k=3
    )
    assert [(r.portfolio_id, r.sharpe, r.promoted) for r in ranking] == [
        ("old", 0.0, True),
        ("new", None, False),
    ]


def test_equal_sharpes_rank_by_portfolio_id() -> None:
    flat = _series([100.0, 100.0, 100.0])
    ranking = rank_members({"z": flat, "m": flat, "a": flat}, T0, 8760.0, top_k=1)
    assert [r.portfolio_id for r in ranking] == ["a", "m", "z"]
    assert [r.promoted for r in ranking] == [True, False, False]
