"""Generalised Advantage Estimation (Schulman et al., 2016), plain and vectorised.

Convention: `dones[t]` is 1 when the episode ended *after* step t (terminated or truncated), so
the value of the next observation must not leak into step t's target. Truncated steps are not
special here: the PPO loop has already added `gamma * V(final_obs)` to their reward (bootstrap at
truncation), which makes "done" correct for both kinds of episode end.

`gae_reference` is the plain backwards loop; it is the test oracle for `gae`, which computes the
same sums with one batched matrix product over time (a handful of kernels instead of T).
"""

from __future__ import annotations

import torch

__all__ = ["gae", "gae_reference"]

# Above this many weight entries (T * T * envs) the envs are processed in chunks.
_MAX_WEIGHT_ELEMENTS = 1 << 24


def gae_reference(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain GAE loop over time. Shapes: [T, B] except next_value [B].

    Returns (advantages, returns) with returns = advantages + values (the value targets).
    """
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        nextnonterminal = 1.0 - dones[t]
        nextvalues = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised GAE: A_t = sum_{s>=t} (gamma*lambda)^(s-t) * delta_s while no episode ended in [t, s).

    Same inputs and outputs as `gae_reference`. The weight of delta_s in A_t is non-zero exactly
    when the count of dones strictly before s equals the count strictly before t.
    """
    steps = rewards.shape[0]
    nonterminal = 1.0 - dones
    next_values = torch.cat([values[1:], next_value.unsqueeze(0)], dim=0)
    deltas = rewards + gamma * next_values * nonterminal - values

    idx = torch.arange(steps, device=rewards.device)
    power = idx.unsqueeze(0) - idx.unsqueeze(1)  # [t, s] = s - t
    decay = torch.where(
        power >= 0,
        torch.tensor(gamma * gae_lambda, dtype=torch.float64, device=rewards.device)
        ** power.clamp(min=0).double(),
        torch.zeros((), dtype=torch.float64, device=rewards.device),
    ).to(rewards.dtype)
    dones_before = torch.cumsum(dones, dim=0) - dones  # dones strictly before each step

    num_envs = rewards.shape[1]
    chunk = max(1, _MAX_WEIGHT_ELEMENTS // max(1, steps * steps))
    advantages = torch.empty_like(rewards)
    for start in range(0, num_envs, chunk):
        cols = slice(start, start + chunk)
        counts = dones_before[:, cols]
        same_episode = counts.unsqueeze(0) == counts.unsqueeze(1)  # [t, s, b]
        weights = decay.unsqueeze(-1) * same_episode
        advantages[:, cols] = torch.einsum("tsb,sb->tb", weights, deltas[:, cols])
    return advantages, advantages + values
