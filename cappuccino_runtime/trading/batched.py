"""N actors of one architecture evaluated in one batched forward pass (no Python loop over models).

The ensemble and the arena ask every model for an action on every poll. Looping over N small
MLPs costs N x (3 matmuls + dispatch overhead); at the demo width the overhead dominates. Here
the weights of all models are stacked once along a leading model axis and each layer becomes a
single batched matmul (`torch.baddbmm`), so a decision costs 3 kernel launches whatever N is,
and at large widths it reads every weight exactly once (the memory-bandwidth bound).

Layout: `w[i]` is `[N, in, out]` (the transpose of `nn.Linear.weight`, made contiguous so the
batched GEMV streams rows), `b[i]` is `[N, 1, out]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cappuccino_runtime.agent.networks import Actor

__all__ = ["StackedActors"]


class StackedActors:
    """Deterministic actions (the Gaussian mean) of N same-shape actors, computed together.

    Args:
        actors: at least one `Actor`; all must share obs_dim, action_dim and net_dimension.
        dtype: dtype of the stacked copy (float32 by default, the dtype actors train in).
    """

    def __init__(self, actors: Sequence[Actor], dtype: torch.dtype = torch.float32) -> None:
        if not actors:
            raise ValueError("StackedActors needs at least one actor; got an empty list.")
        shapes = {_shape(a) for a in actors}
        if len(shapes) != 1:
            raise ValueError(
                f"StackedActors needs actors of one architecture (obs_dim, net_dimension, "
                f"action_dim); got {sorted(shapes)}. Group models by ModelSpec before stacking."
            )
        self.obs_dim, self.net_dimension, self.action_dim = shapes.pop()
        self.n_models = len(actors)
        linears = [[m for m in a.net if isinstance(m, torch.nn.Linear)] for a in actors]
        with torch.no_grad():
            self.weights = [
                torch.stack([ls[i].weight.detach().t() for ls in linears]).to(dtype).contiguous()
                for i in range(3)
            ]
            self.biases = [
                torch.stack([ls[i].bias.detach() for ls in linears]).to(dtype)[:, None, :]
                for i in range(3)
            ]
            # Shared-observation first layer: one GEMM against all models' weights side by side.
            self._w1_cat = self.weights[0].permute(1, 0, 2).reshape(self.obs_dim, -1).contiguous()
        self.dtype = dtype

    def weight_bytes(self) -> int:
        """Bytes of parameters one decision reads (the physical lower bound's numerator)."""
        tensors = [*self.weights, *self.biases]
        return sum(t.numel() * t.element_size() for t in tensors)

    @torch.inference_mode()
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """Actions `[N, action_dim]` for one shared observation or one observation per model.

        Args:
            obs: `[obs_dim]` or `[1, obs_dim]` (every model sees the same state: the ensemble)
                or `[N, obs_dim]` (model i sees its own book: the arena).
        """
        x = obs.to(self.dtype)
        if x.dim() == 1:
            x = x[None, :]
        if x.dim() != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(
                f"observation must be [obs_dim] or [n, obs_dim] with obs_dim={self.obs_dim}; "
                f"got shape {tuple(obs.shape)}."
            )
        n, h = self.n_models, self.net_dimension
        if x.shape[0] == 1:
            h1 = torch.addmm(self.biases[0].reshape(1, n * h), x, self._w1_cat).reshape(n, 1, h)
        elif x.shape[0] == n:
            h1 = torch.baddbmm(self.biases[0], x[:, None, :], self.weights[0])
        else:
            raise ValueError(
                f"got {x.shape[0]} observations for {n} models; pass one shared observation "
                "or exactly one per model."
            )
        h1 = torch.tanh(h1)
        h2 = torch.tanh(torch.baddbmm(self.biases[1], h1, self.weights[1]))
        out = torch.baddbmm(self.biases[2], h2, self.weights[2])
        return out[:, 0, :]


def _shape(actor: Actor) -> tuple[int, int, int]:
    first, _, mid, _, last = actor.net
    assert isinstance(first, torch.nn.Linear) and isinstance(last, torch.nn.Linear)
    assert isinstance(mid, torch.nn.Linear)
    return first.in_features, first.out_features, last.out_features
