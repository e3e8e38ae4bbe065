"""The execution rule (rebalance) on hand-computed cases and on random portfolios."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.env import rebalance

FEE = 0.0025
SLIP = 0.001  # 10 bps


def t64(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def run(cash: float, holdings: list[float], weights: list[float], price: list[float], minimum=1.0):
    return rebalance(
        torch.tensor([cash], dtype=torch.float64),
        t64(holdings),
        t64(weights),
        t64(price),
        FEE,
        SLIP,
        minimum,
    )


def test_buy_from_cash_pays_slippage_and_the_fee_in_the_asset() -> None:
    r = run(1000.0, [0.0, 0.0], [0.5, 0.0], [100.0, 50.0])
    # 500 of the 1000 go into asset 0 at 100 * 1.001; the fee is withheld from the units.
    assert r.buy_notional[0].tolist() == pytest.approx([500.0, 0.0], abs=1e-12)
    assert r.buy_units[0, 0].item() == pytest.approx(500.0 / 100.1 * 0.9975, rel=1e-15)
    assert r.holdings[0].tolist() == pytest.approx([500.0 / 100.1 * 0.9975, 0.0], rel=1e-15)
    assert r.cash.item() == pytest.approx(500.0, rel=1e-15)
    assert r.fees.item() == pytest.approx(500.0 * FEE, rel=1e-15)
    assert r.trades.item() == 1


def test_sell_everything_pays_slippage_and_the_fee_in_cash() -> None:
    r = run(0.0, [10.0, 0.0], [0.0, 0.0], [100.0, 50.0])
    gross = 10.0 * 100.0 * (1 - SLIP)  # 999
    assert r.sell_units[0, 0].item() == 10.0
    assert r.holdings[0].tolist() == [0.0, 0.0]
    assert r.sell_notional[0, 0].item() == pytest.approx(gross, rel=1e-15)
    assert r.cash.item() == pytest.approx(gross * (1 - FEE), rel=1e-15)  # 996.5025
    assert r.fees.item() == pytest.approx(gross * FEE, rel=1e-15)
    assert r.trades.item() == 1


def test_orders_below_the_minimum_notional_are_skipped() -> None:
    # Value 1000; target 0.4% of it in asset 0 = a 4.0 order, under a 5.0 minimum.
    r = run(1000.0, [0.0], [0.004], [100.0], minimum=5.0)
    assert r.trades.item() == 0
    assert r.cash.item() == 1000.0
    assert r.holdings[0].tolist() == [0.0]
    assert r.fees.item() == 0.0
    # The same order with a 4.0 minimum is filled (the minimum itself is allowed).
    filled = run(1000.0, [0.0], [0.004], [100.0], minimum=4.0)
    assert filled.trades.item() == 1
    assert filled.buy_notional[0, 0].item() == pytest.approx(4.0, rel=1e-15)


def test_small_sell_is_skipped_but_a_large_buy_still_fills() -> None:
    # Holds 1 unit of asset 0 at 100 (value 100) and 900 cash; targets 99.5% / 0% / rest:
    # asset 0 would sell 0.5 notional (skipped), asset 1 is not wanted, nothing trades.
    r = run(900.0, [1.0, 0.0], [0.0995, 0.9], [100.0, 10.0])
    assert r.sell_units[0].tolist() == [0.0, 0.0]
    assert r.holdings[0, 0].item() == 1.0
    assert r.buy_notional[0, 1].item() == pytest.approx(900.0, rel=1e-15)
    assert r.trades.item() == 1


def test_buys_are_scaled_to_the_available_cash() -> None:
    # Value 200 at mid (100 cash + 1 unit at 100); target all in asset 1. The sale of asset 0
    # raises only 100 * 0.999 * 0.9975, so the wanted 200 buy is cut to the cash there is.
    r = run(100.0, [1.0, 0.0], [0.0, 1.0], [100.0, 50.0])
    cash_after_sell = 100.0 + 100.0 * (1 - SLIP) * (1 - FEE)
    assert r.buy_notional[0, 1].item() == pytest.approx(cash_after_sell, rel=1e-14)
    assert r.cash.item() == pytest.approx(0.0, abs=1e-12)
    assert r.holdings[0, 1].item() == pytest.approx(
        cash_after_sell / (50.0 * (1 + SLIP)) * (1 - FEE), rel=1e-14
    )
    assert r.trades.item() == 2


def test_batch_rows_are_independent() -> None:
    rows = [
        (1000.0, [0.0, 0.0], [0.5, 0.0], [100.0, 50.0]),
        (0.0, [10.0, 0.0], [0.0, 0.0], [100.0, 50.0]),
        (100.0, [1.0, 0.0], [0.0, 1.0], [100.0, 50.0]),
    ]
    batched = rebalance(
        torch.tensor([r[0] for r in rows], dtype=torch.float64),
        t64(*[r[1] for r in rows]),
        t64(*[r[2] for r in rows]),
        t64(*[r[3] for r in rows]),
        FEE,
        SLIP,
        1.0,
    )
    for i, row in enumerate(rows):
        single = run(*row)
        for got, want in zip(batched, single, strict=True):
            torch.testing.assert_close(got[i], want[0], rtol=1e-15, atol=0.0)


@settings(max_examples=200, deadline=None)
@given(
    cash=st.floats(0.0, 1e5),
    holdings=st.lists(st.floats(0.0, 100.0), min_size=3, max_size=3),
    logits=st.lists(st.floats(-8.0, 8.0), min_size=4, max_size=4),
    price=st.lists(st.floats(0.01, 1e4), min_size=3, max_size=3),
    minimum=st.sampled_from([0.0, 1.0, 25.0]),
)
def test_value_lost_is_exactly_fees_plus_slippage(cash, holdings, logits, price, minimum) -> None:
    """Marked at the fill price, a rebalance loses exactly its fees and its slippage."""
    w = np.exp(logits) / np.exp(logits).sum()
    r = run(cash, holdings, list(w[:3]), price, minimum)
    p = np.array(price)
    before = cash + np.dot(holdings, p)
    after = r.cash.item() + float(np.dot(r.holdings[0].numpy(), p))
    sold_mid = float(np.dot(r.sell_units[0].numpy(), p))
    buy = r.buy_notional[0].numpy()
    cost_sells = sold_mid - r.sell_notional[0].sum().item() * (1 - FEE)
    cost_buys = buy.sum() - float(np.dot(r.buy_units[0].numpy(), p))
    scale = max(before, 1.0)  # float64 rounding of sums of this size
    assert before - after == pytest.approx(cost_sells + cost_buys, rel=1e-9, abs=1e-12 * scale)
    assert r.fees.item() == pytest.approx(
        FEE * (r.sell_notional.sum().item() + buy.sum()), rel=1e-12, abs=1e-12
    )
    assert (r.holdings >= 0).all()
    assert r.cash.item() >= -1e-9 * max(before, 1.0)
    traded = r.sell_notional[0].numpy() + buy
    assert r.trades.item() == int((traded > 0).sum())
    assert (traded[traded > 0] >= minimum * (1 - 1e-12)).all()
    if before > 0 and minimum == 0.0:
        # Without a minimum the book ends on target up to the costs: no asset over its weight.
        over = r.holdings[0].numpy() * p - w[:3] * before
        assert (over <= 1e-9 * before).all()
    assert math.isfinite(after)


def test_inputs_are_not_modified() -> None:
    cash = torch.tensor([100.0, 0.0], dtype=torch.float64)
    holdings = t64([1.0, 0.0], [3.0, 2.0])
    weights = t64([0.0, 0.9], [0.5, 0.1])
    price = t64([100.0, 50.0], [10.0, 20.0])
    before = [x.clone() for x in (cash, holdings, weights, price)]
    rebalance(cash, holdings, weights, price, FEE, SLIP, 1.0)
    for x, y in zip((cash, holdings, weights, price), before, strict=True):
        assert torch.equal(x, y)


def test_asset_major_inputs_give_the_same_result() -> None:
    """The env stores per-asset tensors transposed in memory; values must not depend on it."""
    gen = torch.Generator().manual_seed(0)
    cash = torch.rand(6, dtype=torch.float64, generator=gen) * 1000
    holdings = torch.rand(6, 3, dtype=torch.float64, generator=gen) * 5
    weights = torch.softmax(torch.randn(6, 4, dtype=torch.float64, generator=gen), 1)[:, :3]
    price = torch.rand(6, 3, dtype=torch.float64, generator=gen) * 100 + 1

    def asset_major(x: torch.Tensor) -> torch.Tensor:
        return x.T.contiguous().T

    a = rebalance(cash, holdings, weights, price, FEE, SLIP, 1.0)
    b = rebalance(cash, *(asset_major(x) for x in (holdings, weights, price)), FEE, SLIP, 1.0)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-15, atol=0.0)


def _book(cash: float, holdings: list[float], price: list[float]):
    return torch.tensor([cash], dtype=torch.float64), t64(holdings), t64(price)


def test_no_trade_band_leaves_small_moves_alone_and_trades_big_ones() -> None:
    # value 1000 = 500 cash + 5 x 100: asset 0 holds 0.5 of the book
    cash, holdings, price = _book(500.0, [5.0, 0.0], [100.0, 10.0])
    small = rebalance(cash, holdings, t64([0.53, 0.04]), price, FEE, SLIP, 1.0, no_trade_band=0.05)
    assert small.trades.item() == 0 and small.fees.item() == 0.0  # both moves within 5 %
    mixed = rebalance(cash, holdings, t64([0.53, 0.2]), price, FEE, SLIP, 1.0, no_trade_band=0.05)
    assert mixed.buy_notional[0].tolist() == pytest.approx([0.0, 200.0])  # only asset 1 trades
    assert mixed.holdings[0, 0].item() == 5.0


def test_partial_rebalance_moves_a_fraction_of_the_way() -> None:
    cash, holdings, price = _book(1000.0, [0.0], [100.0])
    half = rebalance(cash, holdings, t64([0.8]), price, 0.0, 0.0, 1.0, rebalance_fraction=0.5)
    assert half.buy_notional[0, 0].item() == pytest.approx(400.0)
    # the band is checked on the whole distance, the fraction applies to what trades
    both = rebalance(
        cash, holdings, t64([0.8]), price, 0.0, 0.0, 1.0, no_trade_band=0.5, rebalance_fraction=0.5
    )
    assert both.buy_notional[0, 0].item() == pytest.approx(400.0)


def test_untradable_bars_keep_their_position() -> None:
    """A bar forward-filled over an outage has no market: that asset neither buys nor sells."""
    cash, holdings, price = _book(100.0, [1.0, 1.0], [100.0, 100.0])
    r = rebalance(
        cash,
        holdings,
        t64([0.0, 0.9]),
        price,
        FEE,
        SLIP,
        1.0,
        tradable=torch.tensor([[True, False]]),
    )
    assert r.sell_units[0].tolist() == pytest.approx([1.0, 0.0])
    assert r.buy_notional[0, 1].item() == 0.0 and r.holdings[0, 1].item() == 1.0


def test_minimum_units_per_asset_skip_small_orders() -> None:
    cash, holdings, price = _book(1000.0, [0.0, 0.0], [100.0, 10.0])
    r = rebalance(
        cash, holdings, t64([0.3, 0.3]), price, 0.0, 0.0, 1.0, min_units=torch.tensor([5.0, 5.0])
    )
    # asset 0 would get 3 units (< 5): skipped; asset 1 gets 30 units
    assert r.buy_units[0].tolist() == pytest.approx([0.0, 30.0])
    assert r.cash.item() == pytest.approx(700.0)


def test_execute_reads_every_parameter_from_the_rule() -> None:
    from cappuccino_contracts.artifacts import ExecutionSpec

    from cappuccino_runtime.env import EnvConfig, execute

    cash, holdings, price = _book(1000.0, [2.0], [100.0])
    spec = ExecutionSpec(
        fee_rate=0.001, slippage_bps=20, min_order_notional=5, no_trade_band=0.1,
        rebalance_fraction=0.5,
    )  # fmt: skip
    env = EnvConfig(
        lookback=1, fee_rate=0.001, slippage_bps=20, min_order_notional=5, no_trade_band=0.1,
        rebalance_fraction=0.5,
    )  # fmt: skip
    direct = rebalance(
        cash, holdings, t64([0.9]), price, 0.001, 0.002, 5.0, no_trade_band=0.1,
        rebalance_fraction=0.5,
    )  # fmt: skip
    for rules in (spec, env):
        got = execute(rules, cash, holdings, t64([0.9]), price)
        assert torch.equal(got.holdings, direct.holdings) and torch.equal(got.cash, direct.cash)
    assert env.execution_spec(reward_normalization=True).model_dump(
        exclude={"reward_normalization", "min_qty"}
    ) == spec.model_dump(exclude={"reward_normalization", "min_qty"})
