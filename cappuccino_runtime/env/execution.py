"""The execution convention, as one pure batched function: rebalance to target weights at a fill bar.

Convention (the same in the env, evaluation, buy-and-hold, the NumPy oracle and the trader):
- A decision made on bar t's close is filled at bar t+1's open, `price` below.
- Cost-aware rule first: asset i trades only when |target_i - w_i| > no_trade_band (w marked at
  `price`), it trades only `rebalance_fraction` of the way to its target, and not at all where
  `tradable` is False (a bar forward-filled over an outage has no market to fill in).
- Orders are sized against the portfolio marked at that open: target value of asset i is
  weights[i] * (cash + sum(holdings * price)); the difference to the current position is traded.
- Sells go first (they raise cash). A sell of u units fills at price * (1 - slippage); its gross
  proceeds u * price * (1 - slippage) pay the fee in cash: cash += gross * (1 - fee_rate).
- Buys then spend notional n (quote) at price * (1 + slippage); the fee is taken in the received
  asset, as Alpaca crypto does: units += n / (price * (1 + slippage)) * (1 - fee_rate);
  cash -= n. If the wanted buys exceed the cash, all buys are scaled down by the same factor.
- An order whose notional (gross proceeds for a sell, cash spent for a buy) is below
  min_order_notional is skipped; the position stays as it was.
- Fees are reported in quote: fee_rate * notional for both sides (for buys, the withheld units
  valued at the fill price).

Accounting runs in float64.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F

__all__ = ["ExecutionRules", "RebalanceResult", "execute", "rebalance"]


class ExecutionRules(Protocol):
    """The fields of the rule: EnvConfig (training) and ExecutionSpec (a model's frozen copy)."""

    @property
    def fee_rate(self) -> float: ...
    @property
    def slippage(self) -> float: ...
    @property
    def min_order_notional(self) -> float: ...
    @property
    def no_trade_band(self) -> float: ...
    @property
    def rebalance_fraction(self) -> float: ...


_TINY = float(torch.finfo(torch.float64).tiny)


class RebalanceResult(NamedTuple):
    """State after one rebalance and what was traded, all batched over B portfolios."""

    cash: torch.Tensor
    """Quote cash after the trades [B]."""
    holdings: torch.Tensor
    """Units held after the trades [B, A]."""
    sell_units: torch.Tensor
    """Units sold per asset [B, A] (0 where no sell was filled)."""
    sell_notional: torch.Tensor
    """Gross proceeds of each sell before its fee [B, A]."""
    buy_notional: torch.Tensor
    """Quote spent on each buy, fee included [B, A]."""
    buy_units: torch.Tensor
    """Units received per asset, net of the fee [B, A]."""
    fees: torch.Tensor
    """Fees of this rebalance in quote [B]."""
    trades: torch.Tensor
    """Number of filled orders [B] (int64)."""


def rebalance(
    cash: torch.Tensor,
    holdings: torch.Tensor,
    weights: torch.Tensor,
    price: torch.Tensor,
    fee_rate: float,
    slippage: float,
    min_order_notional: float,
    *,
    no_trade_band: float = 0.0,
    rebalance_fraction: float = 1.0,
    tradable: torch.Tensor | None = None,
    min_units: torch.Tensor | None = None,
) -> RebalanceResult:
    """Trades each portfolio toward its target weights at `price` (the fill bar's open).

    Args:
        cash: quote cash [B].
        holdings: units per asset [B, A], >= 0.
        weights: target weights [B, A], >= 0, rows summing to <= 1 (see action_to_weights).
        price: the fill bar's open [B, A], > 0; slippage is applied on top of it.
        fee_rate: fee as a fraction of notional.
        slippage: fraction (slippage_bps * 1e-4).
        min_order_notional: orders below this notional are skipped.
        no_trade_band: an asset trades only when |weights - current weight| exceeds this.
        rebalance_fraction: an asset that trades moves this fraction of the way to its target.
        tradable: bool [B, A] (or [A]); False keeps that position as it is.
        min_units: per-asset minimum order size in units [A] (0 = none); smaller orders skip.
    """
    # threshold(x, floor, 0) keeps x where x > floor and zeroes the rest, in one op; with floor
    # just below the minimum that is "keep orders whose notional is >= min_order_notional", and
    # with no minimum (floor 0) it keeps every positive order.
    floor = math.nextafter(min_order_notional, -math.inf) if min_order_notional > 0.0 else 0.0
    # Trailing-underscore (in-place) ops only ever write temporaries made in this function.
    position = holdings * price
    value = position.sum(dim=1).add_(cash)
    delta = (weights * value.unsqueeze(1)).sub_(position)
    if no_trade_band > 0.0:
        # |target - w| * value = |delta|: compare in quote, no division by the value needed.
        delta = torch.where(delta.abs() > value.unsqueeze(1) * no_trade_band, delta, 0.0)
    if rebalance_fraction != 1.0:
        delta = delta * rebalance_fraction
    if tradable is not None:
        delta = torch.where(tradable, delta, 0.0)

    # Sells first (they raise cash); never more than is held, whatever the rounding.
    sell_units = torch.minimum(delta.neg().clamp_min_(0.0).div_(price), holdings)
    sell_notional = F.threshold(sell_units * (price * (1.0 - slippage)), floor, 0.0, inplace=True)
    sold = sell_notional > 0.0
    if min_units is not None:
        sold = sold & (sell_units >= min_units)
        sell_notional.mul_(sold)
    sell_units.mul_(sold)
    sell_total = sell_notional.sum(dim=1)
    cash = (sell_total * (1.0 - fee_rate)).add_(cash)

    # Buys, scaled together to the cash when they want more than there is.
    wanted = F.threshold(delta, floor, 0.0, inplace=True)
    scale = cash.clamp_min(0.0).div_(wanted.sum(dim=1).clamp_min_(_TINY)).clamp_max_(1.0)
    buy_notional = F.threshold(wanted.mul_(scale.unsqueeze(1)), floor, 0.0, inplace=True)
    buy_units = (buy_notional * (1.0 - fee_rate)).div_(price * (1.0 + slippage))
    if min_units is not None:
        big_enough = buy_units >= min_units
        buy_notional.mul_(big_enough)
        buy_units.mul_(big_enough)
    buy_total = buy_notional.sum(dim=1)

    return RebalanceResult(
        cash=cash - buy_total,
        holdings=(holdings - sell_units).add_(buy_units),
        sell_units=sell_units,
        sell_notional=sell_notional,
        buy_notional=buy_notional,
        buy_units=buy_units,
        fees=(sell_total + buy_total).mul_(fee_rate),
        trades=(sold | (buy_notional > 0.0)).sum(dim=1),
    )


def execute(
    rules: ExecutionRules,
    cash: torch.Tensor,
    holdings: torch.Tensor,
    weights: torch.Tensor,
    price: torch.Tensor,
    *,
    tradable: torch.Tensor | None = None,
    min_units: torch.Tensor | None = None,
) -> RebalanceResult:
    """`rebalance` with every parameter of the rule read from `rules` (EnvConfig or a model's
    ExecutionSpec): the one call the env, evaluation, buy-and-hold and the trader make."""
    return rebalance(
        cash,
        holdings,
        weights,
        price,
        rules.fee_rate,
        rules.slippage,
        rules.min_order_notional,
        no_trade_band=rules.no_trade_band,
        rebalance_fraction=rules.rebalance_fraction,
        tradable=tradable,
        min_units=min_units,
    )
