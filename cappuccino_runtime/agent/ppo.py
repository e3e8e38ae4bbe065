"""PPO with a Gaussian actor and a separate critic, in the shape of CleanRL's ppo_continuous_action.

Read top to bottom: `PPOArgs` (every knob, each read below), the vectorised-env protocol, then
`train`: rollout -> bootstrap at truncation -> GAE -> flatten into `b_` tensors -> update epochs
over `mb_` minibatches -> fixed diagnostics. `train` is a plain function so Optuna trials, the
demo and tests all call the same loop.

The environment maps the actor's raw Gaussian sample to portfolio weights itself (see
cappuccino_runtime.env), so PPO stays unaware of trading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from cappuccino_runtime.agent.gae import gae
from cappuccino_runtime.agent.networks import Actor, Critic
from cappuccino_runtime.errors import ConfigError

__all__ = [
    "DIAGNOSTIC_NAMES",
    "PPOArgs",
    "PPOResult",
    "VecEnv",
    "args_field_names",
    "bootstrap_truncated",
    "explained_variance",
    "train",
]

#: The diagnostics logged every iteration, always under these names.
DIAGNOSTIC_NAMES = (
    "iteration",
    "global_step",
    "learning_rate",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clipfrac",
    "explained_variance",
    "policy_std",
    "steps_per_second",
)


@dataclass
class PPOArgs:
    """Every PPO knob. Each field is read by `train` (a unit test fails otherwise)."""

    seed: int = 1
    """seed of torch's RNG (network init, action sampling, minibatch order); the env seeds its
    own episode starts when it is built"""
    total_timesteps: int = 200_000
    """environment steps over all parallel envs (per CPCV split in training); the run stops
    after the last whole rollout that fits"""
    learning_rate: float = 3e-4
    """Adam learning rate of both the actor and the critic"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to zero over the iterations"""
    num_steps: int = 256
    """steps each parallel env takes per rollout (rollout batch = num_envs * num_steps)"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    minibatch_size: int = 2048
    """transitions per gradient step (the search space's `batch_size`); must divide the rollout
    batch num_envs * num_steps evenly, so every transition is used once per epoch"""
    update_epochs: int = 10
    """passes over the rollout batch per iteration"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    norm_reward: bool = True
    """divide rewards by a running std of the discounted return (CleanRL's NormalizeReward,
    gymnasium semantics); per-bar log returns (~1e-3) otherwise leave the critic's targets tiny"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient (the search space's `clip_range`)"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's value estimates, as in the PPO paper's code"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    target_kl: float | None = 0.05
    """stop the epochs of an iteration early once the approximate KL exceeds this (None: never)"""
    net_dimension: int = 256
    """hidden width of the actor and critic MLPs"""
    init_log_std: float = -0.5
    """initial log-std of the Gaussian policy (std 0.61); exploration noise on the raw actions"""
    eval_interval: int = 5
    """iterations between calls of `evaluate` (the metric reported for pruning); also at the end"""
    device: str = "cpu"
    """torch device the networks and rollout buffers live on (the env's device must match)"""


class VecEnv(Protocol):
    """What `train` needs from a batched environment (cappuccino_runtime.env.VecTradingEnv).

    `step` returns (next_obs, reward, terminated, truncated, info); episodes that end are reset
    automatically, and for truncated ones `info["final_obs"]` holds the observation the episode
    ended on (rows of non-truncated envs are ignored), so their value can be bootstrapped.
    """

    num_envs: int

    @property
    def obs_dim(self) -> int: ...

    @property
    def action_dim(self) -> int: ...

    def reset(self) -> torch.Tensor: ...

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]: ...


@dataclass
class PPOResult:
    """What a run produced: trained networks, step counts, diagnostics and evaluation metrics."""

    actor: Actor
    critic: Critic
    global_step: int
    iterations: int
    diagnostics: list[dict[str, float]] = field(default_factory=list)
    """one dict per iteration, keys DIAGNOSTIC_NAMES"""
    evaluations: list[tuple[int, float]] = field(default_factory=list)
    """(global_step, metric) for each call of `evaluate`"""


def bootstrap_truncated(
    reward: torch.Tensor, truncated: torch.Tensor, final_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """reward + gamma * V(final_obs) where the episode was cut by a time limit, else reward.

    A time limit is not a terminal state: the return after it is not zero, so its value is
    folded into the last reward and the step can then be treated as done by GAE.
    """
    return reward + gamma * final_value * truncated.to(reward.dtype)


def explained_variance(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    """1 - Var[y_true - y_pred] / Var[y_true]; NaN when the targets have no variance."""
    var_y = torch.var(y_true)
    if float(var_y) == 0.0:
        return float("nan")
    return float(1.0 - torch.var(y_true - y_pred) / var_y)


class RunningMeanStd:
    """Running mean and variance (parallel Welford), as in CleanRL / gymnasium."""

    def __init__(self, device: torch.device) -> None:
        self.mean = torch.zeros((), dtype=torch.float64, device=device)
        self.var = torch.ones((), dtype=torch.float64, device=device)
        self.count = 1e-4

    def update(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        batch_mean, batch_var, n = x.mean(), x.var(unbiased=False), x.numel()
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total


class RewardNormalizer:
    """Scales rewards by the running std of each env's discounted return (no centring)."""

    def __init__(self, num_envs: int, gamma: float, device: torch.device) -> None:
        self.gamma = gamma
        self.returns = torch.zeros(num_envs, dtype=torch.float64, device=device)
        self.stats = RunningMeanStd(device)

    def __call__(self, reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        self.returns = self.returns * self.gamma + reward.to(torch.float64)
        self.stats.update(self.returns)
        self.returns = torch.where(done, torch.zeros_like(self.returns), self.returns)
        return (reward / torch.sqrt(self.stats.var + 1e-8)).to(reward.dtype)


def _check(args: PPOArgs, env: VecEnv) -> None:
    batch = env.num_envs * args.num_steps
    if args.minibatch_size > batch or batch % args.minibatch_size:
        raise ConfigError(
            f"minibatch_size (batch_size) {args.minibatch_size} does not divide the rollout "
            f"batch num_envs * num_steps = {env.num_envs} * {args.num_steps} = {batch} evenly; "
            "pick a batch_size that divides it (e.g. a power of two) or change num_steps/num_envs "
            "in the training config."
        )
    if args.total_timesteps < batch:
        raise ConfigError(
            f"total_timesteps {args.total_timesteps} is smaller than one rollout batch ({batch}); "
            "raise total_timesteps or lower num_steps."
        )


def learning_rate_at(args: PPOArgs, iteration: int, num_iterations: int) -> float:
    """The learning rate of iteration `iteration` (1-based): annealed linearly towards zero
    with `args.anneal_lr`, else `args.learning_rate` throughout."""
    if not args.anneal_lr:
        return args.learning_rate
    frac = 1.0 - (iteration - 1.0) / num_iterations
    return frac * args.learning_rate


def normalized_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-std advantages of one minibatch (unchanged when it holds one sample)."""
    if advantages.numel() <= 1:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def policy_loss(advantages: torch.Tensor, ratio: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """PPO's clipped surrogate objective, as a loss (CleanRL's pg_loss)."""
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def value_loss(
    newvalue: torch.Tensor,
    returns: torch.Tensor,
    values: torch.Tensor,
    clip_coef: float,
    *,
    clipped: bool,
) -> torch.Tensor:
    """Half the squared error of the new values against the returns; with `clipped`, the
    larger of the unclipped and the clipped (around the rollout's values) error (CleanRL)."""
    if not clipped:
        return 0.5 * ((newvalue - returns) ** 2).mean()
    v_loss_unclipped = (newvalue - returns) ** 2
    v_clipped = values + torch.clamp(newvalue - values, -clip_coef, clip_coef)
    v_loss_clipped = (v_clipped - returns) ** 2
    return 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()


def train(
    args: PPOArgs,
    env: VecEnv,
    *,
    evaluate: Callable[[Actor], float] | None = None,
    report: Callable[[int, float], None] | None = None,
    log: Callable[[dict[str, float]], None] | None = None,
) -> PPOResult:
    """Trains a Gaussian actor and a critic with PPO on `env`.

    Args:
        args: all hyperparameters.
        env: batched environment on `args.device`.
        evaluate: scores the current (deterministic) actor, e.g. Sharpe on validation episodes;
            called every `args.eval_interval` iterations and after the last one.
        report: receives (global_step, metric) after each evaluation; the Optuna objective
            reports to the trial here and raises `optuna.TrialPruned` to stop a bad run.
        log: receives the fixed diagnostics (DIAGNOSTIC_NAMES) after every iteration.

    Returns:
        The trained networks (in eval mode), step counts, diagnostics and evaluations.
    """
    _check(args, env)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)

    actor = Actor(env.obs_dim, env.action_dim, args.net_dimension, args.init_log_std).to(device)
    critic = Critic(env.obs_dim, args.net_dimension).to(device)
    params = [*actor.parameters(), *critic.parameters()]
    # foreach: one multi-tensor kernel per Adam op instead of one per parameter (bitwise the
    # same update, fewer dispatches; the CPU default is the per-parameter loop).
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, eps=1e-5, foreach=True)

    num_envs = env.num_envs
    batch_size = num_envs * args.num_steps
    num_iterations = args.total_timesteps // batch_size

    obs = torch.zeros((args.num_steps, num_envs, env.obs_dim), device=device)
    actions = torch.zeros((args.num_steps, num_envs, env.action_dim), device=device)
    logprobs = torch.zeros((args.num_steps, num_envs), device=device)
    rewards = torch.zeros((args.num_steps, num_envs), device=device)
    dones = torch.zeros((args.num_steps, num_envs), device=device)
    values = torch.zeros((args.num_steps, num_envs), device=device)

    result = PPOResult(actor=actor, critic=critic, global_step=0, iterations=0)
    normalize = RewardNormalizer(num_envs, args.gamma, device) if args.norm_reward else None
    next_obs = env.reset().to(device)
    start_time = time.perf_counter()

    for iteration in range(1, num_iterations + 1):
        optimizer.param_groups[0]["lr"] = learning_rate_at(args, iteration, num_iterations)

        # Rollout.
        with torch.no_grad():
            for step in range(args.num_steps):
                obs[step] = next_obs
                dist = actor.distribution(next_obs)
                action = dist.sample()
                actions[step] = action
                logprobs[step] = dist.log_prob(action).sum(-1)
                values[step] = critic(next_obs)
                next_obs, reward, terminated, truncated, info = env.step(action)
                reward = reward.to(device=device, dtype=torch.float32)
                truncated = truncated.to(device)
                if normalize is not None:
                    reward = normalize(reward, terminated.to(device) | truncated)
                if bool(truncated.any()):
                    final_value = critic(info["final_obs"].to(device))
                    reward = bootstrap_truncated(reward, truncated, final_value, args.gamma)
                rewards[step] = reward
                dones[step] = (terminated.to(device) | truncated).float()
                result.global_step += num_envs

            next_value = critic(next_obs)
            advantages, returns = gae(
                rewards, values, dones, next_value, args.gamma, args.gae_lambda
            )

        # Flatten the rollout.
        b_obs = obs.reshape(-1, env.obs_dim)
        b_actions = actions.reshape(-1, env.action_dim)
        b_logprobs = logprobs.reshape(-1)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)

        # Optimise the policy and value networks.
        clipfracs: list[torch.Tensor] = []  # read back once per iteration (no sync per minibatch)
        approx_kl = torch.zeros((), device=device)
        pg_loss = v_loss = entropy_loss = torch.zeros((), device=device)
        for _epoch in range(args.update_epochs):
            b_inds = torch.randperm(batch_size, device=device)
            for start in range(0, batch_size, args.minibatch_size):
                mb_inds = b_inds[start : start + args.minibatch_size]
                mb_obs = b_obs[mb_inds]  # gathered once for both networks
                mb_returns, mb_values = b_returns[mb_inds], b_values[mb_inds]
                dist = actor.distribution(mb_obs)
                newlogprob = dist.log_prob(b_actions[mb_inds]).sum(-1)
                entropy = dist.entropy().sum(-1)
                newvalue = critic(mb_obs)
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()  # k3 estimator (Schulman)
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean())

                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv:
                    mb_advantages = normalized_advantages(mb_advantages)
                pg_loss = policy_loss(mb_advantages, ratio, args.clip_coef)
                v_loss = value_loss(
                    newvalue, mb_returns, mb_values, args.clip_coef, clipped=args.clip_vloss
                )

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()

            if args.target_kl is not None and float(approx_kl) > args.target_kl:
                break

        elapsed = max(time.perf_counter() - start_time, 1e-9)
        diagnostics = {
            "iteration": float(iteration),
            "global_step": float(result.global_step),
            "learning_rate": float(optimizer.param_groups[0]["lr"]),
            "policy_loss": float(pg_loss.detach()),
            "value_loss": float(v_loss.detach()),
            "entropy": float(entropy_loss.detach()),
            "approx_kl": float(approx_kl),
            "clipfrac": float(np.mean([float(c) for c in clipfracs])) if clipfracs else 0.0,
            "explained_variance": explained_variance(b_values, b_returns),
            "policy_std": float(actor.log_std.detach().exp().mean()),
            "steps_per_second": result.global_step / elapsed,
        }
        result.diagnostics.append(diagnostics)
        result.iterations = iteration
        if log is not None:
            log(diagnostics)

        if evaluate is not None and (
            iteration % args.eval_interval == 0 or iteration == num_iterations
        ):
            actor.eval()
            with torch.no_grad():
                metric = float(evaluate(actor))
            actor.train()
            result.evaluations.append((result.global_step, metric))
            if report is not None:
                report(result.global_step, metric)

    actor.eval()
    critic.eval()
    return result


def args_field_names() -> tuple[str, ...]:
    """Names of every PPOArgs field (used by the config layer and the all-fields-read test)."""
    return tuple(f.name for f in fields(PPOArgs))
