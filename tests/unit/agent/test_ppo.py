"""PPO loop: every knob is read, truncation bootstraps, it learns a toy task, weights are plain."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
import torch

from cappuccino_runtime.agent.ppo import (
    DIAGNOSTIC_NAMES,
    PPOArgs,
    args_field_names,
    bootstrap_truncated,
    explained_variance,
    train,
)
from cappuccino_runtime.errors import ConfigError


def _tiny(**overrides: Any) -> PPOArgs:
    base = dict(
        seed=3,
        total_timesteps=512,
        num_steps=16,
        minibatch_size=32,
        update_epochs=2,
        net_dimension=16,
        eval_interval=1,
    )
    base.update(overrides)
    return PPOArgs(**base)


class _RecordingArgs(PPOArgs):
    """PPOArgs that remembers which fields were read."""

    def __getattribute__(self, name: str) -> Any:
        if name in PPOArgs.__dataclass_fields__:
            object.__getattribute__(self, "__dict__").setdefault("_read", set()).add(name)
        return object.__getattribute__(self, name)


def test_every_ppo_args_field_is_read_by_train(toy_env_cls: type) -> None:
    args = _RecordingArgs(**dataclasses.asdict(_tiny(target_kl=0.5)))
    args.__dict__["_read"] = set()
    train(args, toy_env_cls(num_envs=4), evaluate=lambda actor: 0.0, report=lambda s, m: None)
    unread = set(args_field_names()) - args.__dict__["_read"]
    assert not unread, f"PPOArgs fields never read by train(): {sorted(unread)}"


def test_every_field_has_a_docstring() -> None:
    import ast
    import inspect

    import cappuccino_runtime.agent.ppo as mod

    tree = ast.parse(inspect.getsource(mod))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PPOArgs")
    documented = set()
    for prev, node in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
        ):
            documented.add(prev.target.id)  # type: ignore[union-attr]
    assert set(args_field_names()) == documented


def test_bootstrap_only_on_truncated_rows() -> None:
    reward = torch.tensor([1.0, 1.0, 1.0])
    truncated = torch.tensor([True, False, True])
    final_value = torch.tensor([10.0, 10.0, -2.0])
    out = bootstrap_truncated(reward, truncated, final_value, gamma=0.5)
    assert out.tolist() == [6.0, 1.0, 0.0]


def test_explained_variance_perfect_and_constant() -> None:
    y = torch.tensor([1.0, 2.0, 3.0])
    assert explained_variance(y, y) == pytest.approx(1.0)
    assert explained_variance(torch.full((3,), y.mean()), y) == pytest.approx(0.0)


def test_diagnostics_reports_and_evaluations(toy_env_cls: type) -> None:
    logged: list[dict[str, float]] = []
    reported: list[tuple[int, float]] = []
    args = _tiny(eval_interval=3)
    result = train(
        args,
        toy_env_cls(num_envs=4),
        evaluate=lambda actor: 1.5,
        report=lambda step, metric: reported.append((step, metric)),
        log=logged.append,
    )
    iterations = 512 // (4 * 16)
    assert result.iterations == iterations == len(logged)
    assert all(tuple(d) == DIAGNOSTIC_NAMES for d in logged)
    # every 3rd iteration plus the last one
    assert [s for s, _ in reported] == [3 * 64, 6 * 64, 8 * 64]
    assert result.evaluations == reported
    assert result.global_step == 512


def test_report_can_stop_training(toy_env_cls: type) -> None:
    class Pruned(Exception):
        pass

    def report(step: int, metric: float) -> None:
        raise Pruned

    with pytest.raises(Pruned):
        train(_tiny(), toy_env_cls(num_envs=4), evaluate=lambda a: 0.0, report=report)


def test_target_kl_stops_epochs_early(toy_env_cls: type) -> None:
    # With a tiny target_kl the first epoch always exceeds it, so later epochs never run:
    # the learning curves of update_epochs=1 and update_epochs=5 must then be identical.
    one = train(_tiny(update_epochs=1, target_kl=1e-12), toy_env_cls(num_envs=4))
    many = train(_tiny(update_epochs=5, target_kl=1e-12), toy_env_cls(num_envs=4))
    for a, b in zip(one.actor.state_dict().values(), many.actor.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    without = train(_tiny(update_epochs=5, target_kl=None), toy_env_cls(num_envs=4))
    diffs = [
        not torch.equal(a, b)
        for a, b in zip(
            one.actor.state_dict().values(), without.actor.state_dict().values(), strict=True
        )
    ]
    assert any(diffs)


def test_same_seed_same_weights_other_seed_differs(toy_env_cls: type) -> None:
    a = train(_tiny(seed=7), toy_env_cls(num_envs=4)).actor.state_dict()
    b = train(_tiny(seed=7), toy_env_cls(num_envs=4)).actor.state_dict()
    c = train(_tiny(seed=8), toy_env_cls(num_envs=4)).actor.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_learns_the_toy_task(toy_env_cls: type) -> None:
    env = toy_env_cls(num_envs=8)
    args = _tiny(
        total_timesteps=6144,
        num_steps=32,
        minibatch_size=64,
        update_epochs=4,
        learning_rate=3e-3,
        net_dimension=32,
    )
    targets = torch.linspace(-0.9, 0.9, 19)
    probe = torch.stack([targets, torch.ones_like(targets)], dim=-1)
    result = train(args, env)
    error = (result.actor(probe)[:, 0] - targets).abs().mean().item()
    # A policy that ignores the target errs by mean |t| ~ 0.5 on this grid.
    assert error < 0.25, f"mean abs error {error:.3f} after training"


def test_weights_are_plain_state_dicts(toy_env_cls: type) -> None:
    result = train(_tiny(), toy_env_cls(num_envs=4))
    buf = io.BytesIO()
    torch.save(result.actor.state_dict(), buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    assert set(loaded) == set(result.actor.state_dict())


def test_minibatch_larger_than_rollout_is_a_clear_error(toy_env_cls: type) -> None:
    with pytest.raises(ConfigError, match="minibatch_size"):
        train(_tiny(minibatch_size=4096), toy_env_cls(num_envs=4))


def test_truncation_reaches_the_reward_buffer(toy_env_cls: type) -> None:
    # horizon 1: every step is truncated, so value targets include gamma * V(final_obs);
    # with gamma = 0 they do not. Different targets -> different critics.
    def critic_after(gamma: float) -> dict[str, torch.Tensor]:
        return train(_tiny(gamma=gamma), toy_env_cls(num_envs=4, horizon=1)).critic.state_dict()

    a, b = critic_after(0.0), critic_after(0.9)
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_minibatch_that_does_not_divide_the_rollout_is_a_clear_error(toy_env_cls: type) -> None:
    # rollout 4 envs x 16 steps = 64; 48 would leave a 16-transition minibatch every epoch
    with pytest.raises(ConfigError, match="evenly"):
        train(_tiny(minibatch_size=48), toy_env_cls(num_envs=4))


def test_cleanrl_initialisation_and_configurable_log_std() -> None:
    """Orthogonal init: hidden gain sqrt(2), actor head 0.01, critic head 1.0, zero biases; a
    fresh actor's mean action is about 0 (the env maps that to 'keep the book')."""
    from cappuccino_runtime.agent.networks import Actor, Critic

    torch.manual_seed(0)
    actor, critic = Actor(40, 3, 64, init_log_std=-1.25), Critic(40, 64)
    head = actor.net[-1].weight
    # rows of an orthogonal [3, 64] matrix scaled by the gain have norm == gain
    torch.testing.assert_close(head.norm(dim=1), torch.full((3,), 0.01), rtol=1e-4, atol=0)
    torch.testing.assert_close(critic.net[-1].weight.norm(), torch.tensor(1.0), rtol=1e-4, atol=0)
    hidden = actor.net[0].weight  # [64, 40]: orthonormal columns scaled by sqrt(2)
    gram = hidden.T @ hidden
    torch.testing.assert_close(gram, 2.0 * torch.eye(40), rtol=0, atol=1e-4)
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in actor.net if hasattr(m, "bias"))
    assert actor.log_std.tolist() == [-1.25] * 3
    obs = torch.randn(256, 40)
    assert actor(obs).abs().max().item() < 0.1


def test_reward_normalisation_scales_rewards_to_unit_return_std(toy_env_cls: type) -> None:
    """With norm_reward the value targets are O(1) even for rewards of ~1e-3 (log returns)."""
    from cappuccino_runtime.agent.ppo import RewardNormalizer

    norm = RewardNormalizer(num_envs=64, gamma=0.9, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    done = torch.zeros(64, dtype=torch.bool)
    out = [norm(torch.randn(64, generator=gen) * 1e-3, done) for _ in range(400)]
    returns = torch.zeros(64)
    for r in out:
        returns = returns * 0.9 + r
    assert 0.5 < float(returns.std()) < 2.0  # discounted returns of the scaled rewards ~ 1

    class TinyRewards(toy_env_cls):  # type: ignore[misc, valid-type]
        def step(self, actions: torch.Tensor):  # type: ignore[no-untyped-def]
            obs, reward, term, trunc, info = super().step(actions)
            return obs, reward * 1e-3, term, trunc, info

    plain = train(_tiny(norm_reward=False), TinyRewards(num_envs=4)).diagnostics[-1]
    scaled = train(_tiny(norm_reward=True), TinyRewards(num_envs=4)).diagnostics[-1]
    assert scaled["value_loss"] > 100 * plain["value_loss"]


def test_ppo_args_are_the_one_source_of_defaults() -> None:
    """A training config that names no PPO knob runs PPOArgs' defaults (PPOSettings has none)."""
    from cappuccino_runtime.training.config import PPOSettings, parse_config, resolve_trial

    assert all(v is None for v in PPOSettings().model_dump().values())
    setup = resolve_trial({"lookback": 3}, parse_config({}), timeframe="1h", seed=5, device="cpu")
    defaults = PPOArgs()
    for name in args_field_names():
        if name not in ("seed", "device"):
            assert getattr(setup.ppo, name) == getattr(defaults, name), name
    custom = parse_config({"ppo": {"init_log_std": -1.0, "norm_reward": False}})
    ppo = resolve_trial({"lookback": 3}, custom, timeframe="1h", seed=5, device="cpu").ppo
    assert (ppo.init_log_std, ppo.norm_reward) == (-1.0, False)
