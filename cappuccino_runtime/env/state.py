"""The one state builder: what the policy sees, for training, evaluation and live trading.

The vectorized env and the live trader call these same functions (train/serve parity). They are
pure, batched over B portfolios (B = 1 for a single live step) and read only the bars they are
given, so a caller that passes windows ending at bar t cannot leak bars after t.

Layout of one state row (float32), for A assets, F features and lookback L:

    [0]                       cash / value                    (cash weight, 0..1)
    [1 : 1+A]                 holdings * price / value        (asset weights, 0..1)
    [1+A : 1+A+(L-1)*A]       log(close[t-k] / close[t]) / (price_scale * sqrt(k)), clipped
                              to +-PRICE_CLIP; k = L-1..1, bar-major, then asset
    [1+A+(L-1)*A : ]          features[t-L+1 .. t]            bar-major, then asset, then feature

Prices enter only as log ratios to the current close, so the state is scale-free: the same
model reads BTC at 4k and at 60k alike. `price_scale` is the std of one-bar log returns fitted
on the training bars (stored in ModelSpec.price_scale), so the ratios are on the z-scored
features' scale. Features are expected to be normalised already (features/normalizer.py).
Every column is bounded or train-scaled: no quantity grows with the age of the book (the
state once held log wealth since inception, unbounded for a book that lives for months).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "PRICE_CLIP",
    "build_state",
    "fit_price_scale",
    "market_state",
    "portfolio_columns",
    "portfolio_state",
    "state_dim",
]


PRICE_CLIP = 10.0
"""Scaled price ratios are clipped to +-PRICE_CLIP (ten of their training stds)."""


def state_dim(n_assets: int, n_features: int, lookback: int) -> int:
    """Length of one state row: 1 + A (portfolio) + (L-1)*A (prices) + L*A*F (features)."""
    if n_assets < 1 or n_features < 0 or lookback < 1:
        raise ValueError(
            f"state_dim needs n_assets >= 1, n_features >= 0 and lookback >= 1, got "
            f"n_assets={n_assets}, n_features={n_features}, lookback={lookback}."
        )
    return 1 + n_assets + (lookback - 1) * n_assets + lookback * n_assets * n_features


def portfolio_state(
    cash: torch.Tensor, holdings: torch.Tensor, prices: torch.Tensor
) -> torch.Tensor:
    """The portfolio part of the state [B, 1 + A] (float64): cash weight, asset weights.

    Args:
        cash: quote cash per portfolio [B].
        holdings: units held per asset [B, A].
        prices: the prices the portfolio is marked at (the close of the decision bar) [B, A].
    """
    position = holdings * prices
    return portfolio_columns(cash, position, cash + position.sum(dim=1))


def portfolio_columns(
    cash: torch.Tensor, position: torch.Tensor, value: torch.Tensor
) -> torch.Tensor:
    """portfolio_state from a marked book: position = holdings * prices [B, A] and
    value = cash + position.sum(dim=1) [B], for callers (the env) that computed them already."""
    value = value.clamp_min(1e-12)
    return torch.cat([(cash / value).unsqueeze(1), position / value.unsqueeze(1)], dim=1)


def market_state(
    features_window: torch.Tensor, price_window: torch.Tensor, price_scale: float = 1.0
) -> torch.Tensor:
    """The market part of the state [B, (L-1)*A + L*A*F] from windows ending at the decision bar.

    Args:
        features_window: normalised features of bars t-L+1..t [B, L, A, F].
        price_window: closes of bars t-L+1..t [B, L, A]; the last row is the current close.
        price_scale: train-fitted std of one-bar log returns (ModelSpec.price_scale).
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
    if not price_scale > 0.0:
        raise ValueError(f"price_scale must be positive, got {price_scale}.")
    lookback = price_window.shape[1]
    lags = torch.arange(lookback - 1, 0, -1, dtype=price_window.dtype, device=price_window.device)
    scale = (lags.sqrt() * price_scale).view(1, -1, 1)
    relative = (torch.log(price_window[:, :-1] / price_window[:, -1:]) / scale).clamp(
        -PRICE_CLIP, PRICE_CLIP
    )
    return torch.cat([relative.flatten(1).float(), features_window.flatten(1).float()], dim=1)


def build_state(
    features_window: torch.Tensor,
    price_window: torch.Tensor,
    cash: torch.Tensor,
    holdings: torch.Tensor,
    price_scale: float = 1.0,
) -> torch.Tensor:
    """The full state [B, state_dim] at decision bar t; see the module docstring for the layout.

    Args:
        features_window: normalised features of bars t-L+1..t [B, L, A, F].
        price_window: closes of bars t-L+1..t [B, L, A]; holdings are marked at its last row.
        cash: quote cash [B].
        holdings: units held [B, A].
        price_scale: train-fitted std of one-bar log returns (ModelSpec.price_scale).
    """
    return torch.cat(
        [
            portfolio_state(cash, holdings, price_window[:, -1]).float(),
            market_state(features_window, price_window, price_scale),
        ],
        dim=1,
    )


def fit_price_scale(close: np.ndarray, rows: np.ndarray | None = None) -> float:
    """Std of one-bar log returns of `close` [T, A], pooled over assets (rows: bar indices to
    use, e.g. the training bars; all when None). 1.0 if the prices never move."""
    c = np.asarray(close, dtype=np.float64)
    r = np.log(c[1:] / c[:-1])
    if rows is not None:
        idx = np.asarray(rows, dtype=np.int64)
        idx = idx[(idx >= 1) & (idx < len(c))] - 1
        r = r[idx]
    std = float(np.std(r)) if r.size else 0.0
    return std if std > 1e-12 else 1.0
