"""Actor and critic MLPs, and the only sanctioned way to load their weights.

Initialisation follows CleanRL's ppo_continuous_action: orthogonal weights with gain sqrt(2)
on the hidden layers, 0.01 on the actor's output layer (so a fresh policy's mean action is
about 0, which env/actions.py maps to "keep the book": an untrained agent holds the
benchmark), 1.0 on the critic's output layer, zero biases; the actor's state-free log-std
starts at `init_log_std`.

Weights are plain state dicts. Loading verifies the sha256 recorded in trial.json first and
uses `torch.load(weights_only=True)`, so a tampered or foreign file is an error, never run.
"""

from __future__ import annotations

import io
import math
from typing import TypeVar

import torch
from cappuccino_contracts.artifacts import ModelSpec, checksum_mismatch
from torch import nn

from cappuccino_runtime.artifacts import sha256_bytes
from cappuccino_runtime.errors import ArtifactError, IdentityError

__all__ = [
    "Actor",
    "Critic",
    "load_actor",
    "load_critic",
    "load_state_dict_bytes",
    "state_dict_bytes",
]


#: CleanRL's gains: hidden layers sqrt(2), actor head 0.01, critic head 1.0.
HIDDEN_GAIN = math.sqrt(2.0)
ACTOR_HEAD_GAIN = 0.01
CRITIC_HEAD_GAIN = 1.0
DEFAULT_INIT_LOG_STD = -0.5


def _layer(in_dim: int, out_dim: int, gain: float) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(in_dim: int, hidden: int, out_dim: int, head_gain: float) -> nn.Sequential:
    return nn.Sequential(
        _layer(in_dim, hidden, HIDDEN_GAIN),
        nn.Tanh(),
        _layer(hidden, hidden, HIDDEN_GAIN),
        nn.Tanh(),
        _layer(hidden, out_dim, head_gain),
    )


class Actor(nn.Module):
    """Gaussian policy: an MLP gives the action mean; log-std is a learned, state-free vector."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        net_dimension: int,
        init_log_std: float = DEFAULT_INIT_LOG_STD,
    ) -> None:
        super().__init__()
        self.net = _mlp(obs_dim, net_dimension, action_dim, ACTOR_HEAD_GAIN)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean), used for evaluation and trading."""
        return self.net(obs)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        """Action distribution, used while training."""
        mean = self.net(obs)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Actor:
        return cls(spec.obs_dim, spec.action_dim, spec.net_dimension)


class Critic(nn.Module):
    """State-value MLP."""

    def __init__(self, obs_dim: int, net_dimension: int) -> None:
        super().__init__()
        self.net = _mlp(obs_dim, net_dimension, 1, CRITIC_HEAD_GAIN)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Critic:
        return cls(spec.obs_dim, spec.net_dimension)


def state_dict_bytes(module: nn.Module) -> bytes:
    """torch.save of the module's plain state dict (CPU tensors), as bytes: the format of
    actor.pth / critic.pth, read back by `load_state_dict_bytes`."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
    return buf.getvalue()


def load_state_dict_bytes(data: bytes, *, what: str) -> dict[str, torch.Tensor]:
    """Deserialises a state dict with weights_only=True; anything else is an ArtifactError."""
    if not data:
        raise ArtifactError(f"{what} is empty (0 bytes); the file was truncated or never written.")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or unsafe payloads
        raise ArtifactError(
            f"{what} cannot be read as a plain tensor state dict ({type(e).__name__}: {e}); it is "
            "corrupted, truncated or not a weights file."
        ) from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{what} does not hold a state dict of tensors.")
    return state


_Net = TypeVar("_Net", Actor, Critic)


def _load(
    net: type[_Net], data: bytes, spec: ModelSpec, expected_sha256: str | None, what: str
) -> _Net:
    """Builds the `net` the spec describes and loads verified weights into it (eval mode)."""
    if mismatch := checksum_mismatch(what, sha256_bytes(data), expected_sha256, "the caller"):
        raise IdentityError(
            f"{mismatch}; refusing to load weights that are not the recorded model."
        )
    module = net.from_spec(spec)
    state = load_state_dict_bytes(data, what=what)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ArtifactError(
            f"{what} does not fit the network its trial describes: {e}".splitlines()[0]
        ) from e
    module.eval()
    return module


def load_actor(
    data: bytes, spec: ModelSpec, expected_sha256: str | None, what: str = "actor.pth"
) -> Actor:
    """Builds the Actor the spec describes and loads verified weights into it."""
    return _load(Actor, data, spec, expected_sha256, what)


def load_critic(
    data: bytes, spec: ModelSpec, expected_sha256: str | None, what: str = "critic.pth"
) -> Critic:
    """Builds the Critic the spec describes and loads verified weights into it."""
    return _load(Critic, data, spec, expected_sha256, what)
