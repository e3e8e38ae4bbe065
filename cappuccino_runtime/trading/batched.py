"""N actors of one architecture evaluated in one batched forward pass (no Python loop over models).

The ensemble and the arena ask every model for an action on every poll. Looping over N small
MLPs costs N x (one matmul per layer + dispatch overhead); at the demo width the overhead dominates. Here
the weights of all models are stacked once along a leading model axis and each layer becomes a
single batched matmul (`torch.baddbmm`), so a decision costs one kernel launch per layer
whatever N is, and at large widths it reads every weight exactly once (the memory-bandwidth
bound). The layers are read from `agent.networks.Actor.net`, never restated here.

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

    The layers are the ones `agent.networks.Actor.net` defines, walked in order: every
    `nn.Linear` becomes one batched matmul over the stacked weights, every parameter-free module
    between them (the activations) is applied as it is. Nothing here restates the architecture.

    Args:
        actors: at least one `Actor`; all must share one architecture (layers and sizes).
        dtype: dtype of the stacked copy (float32 by default, the dtype actors train in).
    """

    def __init__(self, actors: Sequence[Actor], dtype: torch.dtype = torch.float32) -> None:
        if not actors:
            raise ValueError("StackedActors needs at least one actor; got an empty list.")
        shapes = {_shape(a) for a in actors}
        if len(shapes) != 1:
            raise ValueError(
                f"StackedActors needs actors of one architecture (layers and their sizes); got "
                f"{sorted(shapes)}. Group models by ModelSpec before stacking."
            )
        linears = [[m for m in a.net if isinstance(m, torch.nn.Linear)] for a in actors]
        first, last = linears[0][0], linears[0][-1]
        self.obs_dim, self.net_dimension = first.in_features, first.out_features
        self.action_dim = last.out_features
        self.n_models = len(actors)
        # after the first Linear: an int is the index of a stacked Linear, a module is applied
        self._ops: list[int | torch.nn.Module] = []
        n_linear = 1
        for module in list(actors[0].net)[1:]:
            if isinstance(module, torch.nn.Linear):
                self._ops.append(n_linear)
                n_linear += 1
            else:
                self._ops.append(module)
        with torch.no_grad():
            self.weights = [
                torch.stack([ls[i].weight.detach().t() for ls in linears]).to(dtype).contiguous()
                for i in range(len(linears[0]))
            ]
            self.biases = [
                torch.stack([ls[i].bias.detach() for ls in linears]).to(dtype)[:, None, :]
                for i in range(len(linears[0]))
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
            out = torch.addmm(self.biases[0].reshape(1, n * h), x, self._w1_cat).reshape(n, 1, h)
        elif x.shape[0] == n:
            out = torch.baddbmm(self.biases[0], x[:, None, :], self.weights[0])
        else:
            raise ValueError(
                f"got {x.shape[0]} observations for {n} models; pass one shared observation "
                "or exactly one per model."
            )
        for op in self._ops:
            out = (
                torch.baddbmm(self.biases[op], out, self.weights[op])
                if isinstance(op, int)
                else op(out)
            )
        return out[:, 0, :]


def _shape(actor: Actor) -> tuple[tuple[str, int, int], ...]:
    """The actor's layers as (kind, in, out); activations must be parameter-free."""
    layers: list[tuple[str, int, int]] = []
    for module in actor.net:
        if isinstance(module, torch.nn.Linear):
            layers.append(("Linear", module.in_features, module.out_features))
        elif any(True for _ in module.parameters()):
            raise ValueError(
                f"StackedActors can only stack Linear layers and parameter-free modules; the "
                f"actor has a {type(module).__name__} with parameters."
            )
        else:
            layers.append((type(module).__name__, 0, 0))
    if not layers or layers[0][0] != "Linear" or layers[-1][0] != "Linear":
        raise ValueError("StackedActors needs an actor whose network starts and ends with Linear.")
    return tuple(layers)
