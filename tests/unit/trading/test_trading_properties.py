"""Properties of the pure decisions over many generated cases (hypothesis)."""

from __future__ import annotations

import numpy as np
from cappuccino_contracts.artifacts import ExecutionSpec
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.persistence.ledger import OrderSide
from cappuccino_runtime.trading.ensemble import Side, vote_targets
from cappuccino_runtime.trading.orders import plan_orders

weights = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    targets=st.lists(st.lists(weights, min_size=3, max_size=3), min_size=1, max_size=9),
    current=st.lists(st.floats(0.0, 0.33), min_size=3, max_size=3),
    band=st.floats(0.0, 0.2),
)
def test_vote_targets_are_valid_weights_from_the_winning_side(
    targets: list[list[float]], current: list[float], band: float
) -> None:
    result = vote_targets(targets, current, band)
    t = np.asarray(targets)
    assert sum(result.target) <= 1.0 + 1e-9
    for a, side in enumerate(result.sides):
        counts = result.votes[a]
        assert sum(counts.values()) == len(targets)
        if side is Side.HOLD:
            assert result.target[a] <= current[a] + 1e-12  # kept (or scaled down with the rest)
        else:
            assert counts[side] > max(c for s, c in counts.items() if s is not side)
            lo, hi = t[:, a].min(), t[:, a].max()
            assert result.target[a] <= hi + 1e-12
            if side is Side.SELL:
                assert result.target[a] < current[a]
            if sum(result.target) < 1.0 - 1e-9:  # no rescaling happened
                assert lo - 1e-12 <= result.target[a]


@settings(max_examples=200, deadline=None)
@given(
    cash=st.floats(0.0, 1e5),
    holdings=st.lists(st.floats(0.0, 50.0), min_size=2, max_size=2),
    prices=st.lists(st.floats(0.5, 5e4), min_size=2, max_size=2),
    raw=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2),
)
def test_plans_never_oversell_or_overspend(
    cash: float, holdings: list[float], prices: list[float], raw: list[float]
) -> None:
    total = sum(raw) or 1.0
    target = [w / max(total, 1.0) for w in raw]
    orders = plan_orders(
        symbols=["A/USD", "B/USD"], cash=cash, holdings=holdings, prices=prices, target=target,
        execution=ExecutionSpec(fee_rate=0.0025, slippage_bps=5.0, min_order_notional=1.0),
    )  # fmt: skip
    sells = [o for o in orders if o.side is OrderSide.SELL]
    buys = [o for o in orders if o.side is OrderSide.BUY]
    assert orders == sells + buys  # sells first: they raise the cash buys spend
    by_symbol = {"A/USD": 0, "B/USD": 1}
    proceeds = 0.0
    for o in sells:
        assert o.qty is not None and 0 < o.qty <= holdings[by_symbol[o.symbol]] * (1 + 1e-12)
        gross = o.qty * prices[by_symbol[o.symbol]] * (1 - 0.0005)
        assert gross >= 1.0
        proceeds += gross * (1 - 0.0025)
    spent = sum(o.notional or 0.0 for o in buys)
    assert all((o.notional or 0.0) >= 1.0 for o in buys)
    assert spent <= cash + proceeds + 1e-6
