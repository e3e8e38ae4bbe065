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
