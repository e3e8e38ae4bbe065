"""Arena ranking: PSR with the Sharpe's standard error, an evaluation period, hysteresis."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cappuccino_runtime.trading.arena import rank_members, sharpe_statistics

T0 = datetime(2024, 1, 8, tzinfo=UTC)


def _series(values: list[float], end: datetime = T0) -> list[tuple[datetime, float]]:
    n = len(values)
    return [(end - timedelta(hours=n - 1 - i), v) for i, v in enumerate(values)]


def _curve(returns: np.ndarray, end: datetime = T0) -> list[tuple[datetime, float]]:
    return _series(list(100.0 * np.cumprod(np.concatenate([[1.0], 1.0 + returns]))), end)


def test_sharpe_statistics_match_the_formulas_by_hand() -> None:
    r = [0.10, 0.05]
    sharpe, se, psr = sharpe_statistics(r, 8760.0)
    sr = 0.075 / (0.05 / math.sqrt(2))  # per bar
    assert sharpe == pytest.approx(sr * math.sqrt(8760))
    # two points: skew 0, raw kurtosis 1 -> variance term 1 + (1 - 1)/4 SR^2 = 1
    assert se == pytest.approx(math.sqrt(1.0 / 1) * math.sqrt(8760))
    assert psr == pytest.approx(0.5 * (1 + math.erf(sr / math.sqrt(2))))
    assert sharpe_statistics([0.01, 0.01, 0.01], 8760.0) == (0.0, 0.0, 0.5)


def test_ranked_by_psr_not_by_a_lucky_short_sharpe() -> None:
    rng = np.random.default_rng(0)
    steady = _curve(0.001 + 0.002 * rng.standard_normal(160))
    lucky = _curve(np.array([0.05, 0.04, 0.06]))  # a huge Sharpe on 3 returns
    ranking = rank_members({"steady": steady, "lucky": lucky}, T0, 8760.0, top_k=1, min_returns=100)
    by_id = {r.portfolio_id: r for r in ranking}
    assert by_id["lucky"].sharpe is not None and by_id["lucky"].sharpe > by_id["steady"].sharpe  # type: ignore[operator]
    assert by_id["lucky"].evaluating and not by_id["lucky"].promoted  # too short to promote
    assert by_id["steady"].promoted and by_id["steady"].psr is not None
    assert by_id["steady"].sharpe_se is not None and by_id["steady"].sharpe_se > 0
    assert by_id["steady"].n_returns == 160


def test_nobody_is_promoted_before_the_evaluation_period() -> None:
    good = _curve(np.full(50, 0.001) + np.linspace(-1e-4, 1e-4, 50))
    ranking = rank_members({"a": good}, T0, 8760.0, top_k=1, min_returns=167)
    assert ranking[0].evaluating and not ranking[0].promoted and ranking[0].psr is not None


def test_hysteresis_keeps_a_promoted_member_and_gates_new_ones() -> None:
    rng = np.random.default_rng(1)
    base = 0.002 * rng.standard_normal(160)
    a = _curve(base + 0.0004)
    b = _curve(base + 0.0006)  # slightly better than a
    first = rank_members({"a": a, "b": b}, T0, 8760.0, top_k=1, promoted_before={"a"})
    promoted = {r.portfolio_id for r in first if r.promoted}
    assert promoted == {"a"}  # b ranks first but a keeps its place (PSR above exit, rank <= 2)
    fresh = rank_members({"a": a, "b": b}, T0, 8760.0, top_k=1)
    assert {r.portfolio_id for r in fresh if r.promoted} == {"b"}
    weak = _curve(0.002 * rng.standard_normal(160))
    gated = rank_members({"w": weak}, T0, 8760.0, top_k=1, enter_psr=0.999)
    assert not gated[0].promoted  # a PSR below enter_psr is not promoted


def test_window_excludes_old_snapshots_and_equal_scores_rank_by_id() -> None:
    old = _series([100.0, 200.0, 400.0], end=T0 - timedelta(days=8)) + _series([400.0] * 3)
    ranking = rank_members({"new": _series([100.0, 120.0]), "old": old}, T0, 8760.0)
    assert [(r.portfolio_id, r.sharpe) for r in ranking] == [("old", 0.0), ("new", None)]
    flat = _series([100.0, 100.0, 100.0])
    ranking = rank_members({"z": flat, "m": flat, "a": flat}, T0, 8760.0, top_k=1)
    assert [r.portfolio_id for r in ranking] == ["a", "m", "z"]
