"""The one state builder: what the policy sees, for training, evaluation and live trading.

The vectorized env and the live trader call these same functions (train/serve parity). They are
pure, batched over B portfolios (B = 1 for a single live step) and read only the bars they are
given, so a caller that passes windows ending at bar t cannot leak bars after t.

Layout of one state row (float32), for A assets, F features and lookback L:

    [0]                       cash / value                    (cash weight, 0..1)
    [1]                       log(value / initial_cash)       (wealth since the episode began)
    [2 : 2+A]                 holdings * price / value        (asset weights)
    [2+A : 2+A+(L-1)*A]       log(close[t-k] / close[t])      k = L-1..1, bar-major, then asset
    [2+A+(L-1)*A : ]          features[t-L+1 .. t]            bar-major, then asset, then feature

Prices enter only as log ratios to the current close, so the state is scale-free: the same
model reads BTC at 4k and at 60k alike. Features are expected to be normalised already.
"""

from __future__ import annotations

import torch

__all__ = [
    "build_state",
    "market_state",
    "portfolio_columns",
    "portfolio_state",
    "state_dim",
]


def state_dim(n_assets: int, n_features: int, lookback: int) -> int:
    """Length of one state row: 2 + A (portfolio) + (L-1)*A (prices) + L*A*F (features)."""
    if n_assets < 1 or n_features < 0 or lookback < 1:
        raise ValueError(
            f"state_dim needs n_assets >= 1, n_features >= 0 and lookback >= 1, got "
            f"n_assets={n_assets}, n_features={n_features}, lookback={lookback}."
        )
    return 2 + n_assets + (lookback - 1) * n_assets + lookback * n_assets * n_features


def portfolio_state(
    cash: torch.Tensor, holdings: torch.Tensor, prices: torch.Tensor, initial_cash: float
) -> torch.Tensor:
    """The portfolio part of the state [B, 2 + A] (float64): cash weight, log wealth, weights.

    Args:
        cash: quote cash per portfolio [B].
        holdings: units held per asset [B, A].
        prices: the prices the portfolio is marked at (the close of the decision bar) [B, A].
        initial_cash: cash at the start of the episode (or of the live portfolio).
    """
    position = holdings * prices
    return portfolio_columns(cash, position, cash + position.sum(dim=1), initial_cash)


def portfolio_columns(
    cash: torch.Tensor, position: torch.Tensor, value: torch.Tensor, initial_cash: float
) -> torch.Tensor:
    """portfolio_state from a marked book: position = holdings * prices [B, A] and
    value = cash + position.sum(dim=1) [B], for callers (the env) that computed them already."""
    value = value.clamp_min(1e-12)
    return torch.cat(
        [
            (cash / value).unsqueeze(1),
            torch.log(value / initial_cash).unsqueeze(1),
            position / value.unsqueeze(1),
        ],
        dim=1,
    )


def market_state(features_window: torch.Tensor, price_window: torch.Tensor) -> torch.Tensor:
    """The market part of the state [B, (L-1)*A + L*A*F] from windows ending at the decision bar.

    Args:
        features_window: normalised features of bars t-L+1..t [B, L, A, F].
        price_window: closes of bars t-L+1..t [B, L, A]; the last row is the current close.
    """
    if features_window.ndim != 4 or price_window.ndim != 3:
        raise ValueError(
            "features_window must be [B, L, A, F] and price_window [B, L, A]; got shapes "
            f"{tuple(features_window.shape)} and {tuple(price_window.shape)}."
        )
    if features_window.shape[:3] != price_window.shape:
        raise ValueError(
            f"features_window {tuple(features_window.shape)} and price_window "
            f"{tuple(price_window.shape)} disagree on batch, lookback or assets."
        )
    relative = torch.log(price_window[:, :-1] / price_window[:, -1:])
    return torch.cat([relative.flatten(1).float(), features_window.flatten(1).float()], dim=1)


def build_state(
    features_window: torch.Tensor,
    price_window: torch.Tensor,
    cash: torch.Tensor,
    holdings: torch.Tensor,
    initial_cash: float,
) -> torch.Tensor:
    """The full state [B, state_dim] at decision bar t; see the module docstring for the layout.

    Args:
        features_window: normalised features of bars t-L+1..t [B, L, A, F].
        price_window: closes of bars t-L+1..t [B, L, A]; holdings are marked at its last row.
        cash: quote cash [B].
        holdings: units held [B, A].
        initial_cash: the portfolio's starting cash (log wealth is measured against it).
    """
    return torch.cat(
        [
            portfolio_state(cash, holdings, price_window[:, -1], initial_cash).float(),
            market_state(features_window, price_window),
        ],
        dim=1,
    )
