"""Prometheus metrics of one training worker (`cappuccino train --metrics-port P`).

- `cappuccino_worker_trials_total{study,state}`: trials this worker finished, by state
  (complete | pruned | failed);
- `cappuccino_worker_env_steps_per_second{study}`: environment steps of the worker's last
  finished trial divided by its wall time (training and evaluation of all its CPCV splits);
- `cappuccino_worker_env_steps_total{study}`: environment steps this worker has trained.

Counters update when a trial ends (an Optuna callback) and when the objective raises (the
trial is failed and the worker stops: `track()`); the HTTP server runs in a daemon thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Thread
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from cappuccino_runtime.training.config import TrainingConfig

__all__ = ["WorkerMetrics", "trial_env_steps"]


def trial_env_steps(trial: FrozenTrial, config: TrainingConfig) -> int:
    """Env steps a trial trained: per CPCV split it reported, PPO's whole rollouts.

    Each split trains `total_timesteps // (num_envs * num_steps)` rollouts of
    `num_envs * num_steps` steps; the objective reports once per finished split.
    """
    from cappuccino_runtime.training.config import resolve_trial

    setup = resolve_trial(trial.params, config, timeframe="1h", seed=0, device="cpu")
    rollout = setup.num_envs * setup.ppo.num_steps
    per_split = setup.ppo.total_timesteps // rollout * rollout
    return per_split * len(trial.intermediate_values)


@dataclass
class WorkerMetrics:
    """The worker's collectors on their own registry."""

    study: str
    config: TrainingConfig
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.trials = Counter(
            "cappuccino_worker_trials",
            "Trials this worker finished, by state.",
            ["study", "state"],
            registry=self.registry,
        )
        self.steps_per_second = Gauge(
            "cappuccino_worker_env_steps_per_second",
            "Env steps of the last finished trial per second of its wall time.",
            ["study"],
            registry=self.registry,
        )
        self.steps = Counter(
            "cappuccino_worker_env_steps",
            "Env steps this worker trained.",
            ["study"],
            registry=self.registry,
        )
        for state in ("complete", "pruned", "failed"):
            self.trials.labels(self.study, state)
        self.steps_per_second.labels(self.study).set(0.0)

    def serve(self, port: int, host: str = "0.0.0.0") -> Thread:
        """Starts the /metrics HTTP server (a daemon thread) and returns it."""
        _server, thread = start_http_server(port, addr=host, registry=self.registry)
        return thread

    def on_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback: counts the finished trial and its env steps."""
        from optuna.trial import TrialState

        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(
            trial.state, "failed"
        )
        self.trials.labels(self.study, state).inc()
        steps = trial_env_steps(trial, self.config)
        self.steps.labels(self.study).inc(steps)
        if trial.duration is not None and trial.duration.total_seconds() > 0:
            self.steps_per_second.labels(self.study).set(steps / trial.duration.total_seconds())

    @contextmanager
    def track(self) -> Iterator[None]:
        """Counts a failed trial when the objective's exception stops the worker.

        A ConfigError is bad input found before any trial ran (flags, config, data): not a trial.
        """
        from cappuccino_runtime.errors import ConfigError

        try:
            yield
        except ConfigError:
            raise
        except Exception:
            self.trials.labels(self.study, "failed").inc()
            raise
