"""The execution convention, as one pure batched function: rebalance to target weights at a fill bar.

Convention (the same in the env, evaluation, buy-and-hold and the NumPy oracle):
- A decision made on bar t's close is filled at bar t+1's open, `price` below.
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

from typing import NamedTuple

import torch

__all__ = ["RebalanceResult", "rebalance"]


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
    """
    position = holdings * price
    value = cash + position.sum(dim=1)
    delta = weights * value.unsqueeze(1) - position

    sell_units = torch.minimum((-delta).clamp_min(0.0) / price, holdings)
    sell_notional = sell_units * (price * (1.0 - slippage))
    sold = (sell_notional >= min_order_notional) & (sell_notional > 0.0)
    sell_units = torch.where(sold, sell_units, 0.0)
    sell_notional = torch.where(sold, sell_notional, 0.0)
    sell_fees = sell_notional * fee_rate
    cash = cash + (sell_notional - sell_fees).sum(dim=1)

    wanted = delta.clamp_min(0.0)
    wanted = torch.where(wanted >= min_order_notional, wanted, 0.0)
    total = wanted.sum(dim=1)
    available = cash.clamp_min(0.0)
    scale = torch.where(total > available, available / total.clamp_min(1e-300), 1.0)
    buy_notional = wanted * scale.unsqueeze(1)
    bought = (buy_notional >= min_order_notional) & (buy_notional > 0.0)
    buy_notional = torch.where(bought, buy_notional, 0.0)
    buy_fees = buy_notional * fee_rate
    buy_units = (buy_notional - buy_fees) / (price * (1.0 + slippage))

    return RebalanceResult(
        cash=cash - buy_notional.sum(dim=1),
        holdings=holdings - sell_units + buy_units,
        sell_units=sell_units,
        sell_notional=sell_notional,
        buy_notional=buy_notional,
        buy_units=buy_units,
        fees=sell_fees.sum(dim=1) + buy_fees.sum(dim=1),
        trades=sold.sum(dim=1) + bought.sum(dim=1),
    )
