"""Market tensors on one device, with the market part of every state precomputed once.

The market part of the state at bar t depends only on bars t-L+1..t, not on the portfolio, so
it is computed for every bar up front with `market_state` (the same function the live trader
calls) and an env step only gathers rows. Used by VecTradingEnv and run_policy.
"""

from __future__ import annotations

import numpy as np
import torch

from cappuccino_runtime.env.state import market_state

__all__ = ["MarketTensors", "TensorLike"]

TensorLike = torch.Tensor | np.ndarray

_CHUNK = 4096


def _to_tensor(x: TensorLike, dtype: torch.dtype, device: torch.device, name: str) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=dtype, device=device).detach()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite values; clean the data before the env.")
    return t


class MarketTensors:
    """open/close float64 [T, A], features float32 [T, A, F] and states' market rows [T, D].

    `tradable` [T, A] (bool, optional) says where a bar's open can be filled at: False on bars
    forward-filled over an outage (zero volume), e.g. `market.volume > 0`.
    """

    def __init__(
        self,
        open: TensorLike,
        close: TensorLike,
        features: TensorLike,
        lookback: int,
        device: torch.device,
        *,
        price_scale: float = 1.0,
        tradable: TensorLike | None = None,
    ) -> None:
        self.device = device
        self.price_scale = float(price_scale)
        self.open = _to_tensor(open, torch.float64, device, "open")
        self.close = _to_tensor(close, torch.float64, device, "close")
        self.features = _to_tensor(features, torch.float32, device, "features")
        if self.open.ndim != 2 or self.open.shape != self.close.shape:
            raise ValueError(
                f"open and close must both be [T, A]; got shapes {tuple(self.open.shape)} and "
                f"{tuple(self.close.shape)}."
            )
        if self.features.ndim != 3 or self.features.shape[:2] != self.close.shape:
            raise ValueError(
                f"features must be [T, A, F] with the same T and A as close "
                f"{tuple(self.close.shape)}; got shape {tuple(self.features.shape)}."
            )
        if not bool((self.open > 0).all()) or not bool((self.close > 0).all()):
            raise ValueError("open and close must be strictly positive at every bar and asset.")
        self.n_bars, self.n_assets = self.close.shape
        self.n_features = self.features.shape[2]
        self.lookback = lookback
        if self.n_bars < lookback + 1:
            raise ValueError(
                f"the data has {self.n_bars} bars but lookback={lookback} needs at least "
                f"{lookback + 1} (a full window and one bar to fill at)."
            )
        self.tradable: torch.Tensor | None = None
        if tradable is not None:
            mask = torch.as_tensor(tradable, device=device).to(torch.bool)
            if tuple(mask.shape) != tuple(self.close.shape):
                raise ValueError(
                    f"tradable must be [T, A] like close {tuple(self.close.shape)}; got "
                    f"{tuple(mask.shape)}."
                )
            self.tradable = None if bool(mask.all()) else mask
        self.portfolio_width = 1 + self.n_assets
        self.prices = torch.stack([self.open, self.close], dim=1)  # [T, 2, A]: one gather a step
        self.rows = self._precompute()

    def _precompute(self) -> torch.Tensor:
        """Row t holds a state with zero portfolio columns and market_state of the window ending
        at bar t, for t >= L-1 (rows before that are zero and never read)."""
        L, P = self.lookback, self.portfolio_width
        price_windows = self.close.unfold(0, L, 1).permute(0, 2, 1)  # [T-L+1, L, A]
        feature_windows = self.features.unfold(0, L, 1).permute(0, 3, 1, 2)  # [T-L+1, L, A, F]
        width = P + (L - 1) * self.n_assets + L * self.n_assets * self.n_features
        rows = torch.zeros((self.n_bars, width), dtype=torch.float32, device=self.device)
        for i in range(0, price_windows.shape[0], _CHUNK):
            rows[L - 1 + i : L - 1 + i + _CHUNK, P:] = market_state(
                feature_windows[i : i + _CHUNK], price_windows[i : i + _CHUNK], self.price_scale
            )
        return rows

    def observe(self, t: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """States [B, state_dim] at decision bars t [B] (int64, >= lookback - 1).

        `portfolio` is portfolio_state of the books at close[t] [B, 1 + A]. The result equals
        build_state on the windows ending at t: one gather of the precomputed market rows, then
        the portfolio columns written in (cast to float32 there).
        """
        obs = self.rows.index_select(0, t)
        obs[:, : self.portfolio_width] = portfolio
        return obs

    def tradable_at(self, t: torch.Tensor) -> torch.Tensor | None:
        """Where bars t [B] can be filled [B, A]; None when every bar is tradable."""
        return None if self.tradable is None else self.tradable.index_select(0, t)
