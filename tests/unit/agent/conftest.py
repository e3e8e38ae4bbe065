"""A tiny contextual-bandit env used only to exercise the PPO loop (not a trading env).

Each step the agent sees a random target in obs[:, 0] and is rewarded -(action - target)^2.
Episodes are cut by a time limit (truncated, never terminated) so the bootstrap path runs.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch


class ToyTargetEnv:
    num_envs: int
    obs_dim = 2
    action_dim = 1

    def __init__(self, num_envs: int, horizon: int = 8, seed: int = 0) -> None:
        self.num_envs = num_envs
        self.horizon = horizon
        self._gen = torch.Generator().manual_seed(seed)
        self._t = torch.zeros(num_envs, dtype=torch.long)
        self._obs = torch.zeros(num_envs, self.obs_dim)

    def _draw(self, n: int) -> torch.Tensor:
        target = torch.rand(n, generator=self._gen) * 2 - 1
        return torch.stack([target, torch.ones(n)], dim=-1)

    def reset(self) -> torch.Tensor:
        self._t.zero_()
        self._obs = self._draw(self.num_envs)
        return self._obs.clone()

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        reward = -((actions[:, 0] - self._obs[:, 0]) ** 2)
        self._t += 1
        truncated = self._t >= self.horizon
        terminated = torch.zeros_like(truncated)
        nxt = self._draw(self.num_envs)
        final_obs = nxt.clone()
        nxt[truncated] = self._draw(int(truncated.sum()))
        self._t[truncated] = 0
        self._obs = nxt
        return nxt.clone(), reward, terminated, truncated, {"final_obs": final_obs}


@pytest.fixture
def toy_env_cls() -> type[ToyTargetEnv]:
    """The toy env class, so tests build it with their own sizes."""
    return ToyTargetEnv
