"""A training worker: runs trials of one shared study until its own limit or the study's budget.

Any number of workers (processes, pods, machines) may run against one study:
- the study is created on first use (`load_if_exists`), so workers start in any order;
- storage is an `RDBStorage` with heartbeats: a worker killed mid-trial stops beating, and the
  next worker to start a trial marks it FAIL once `grace_period` has passed, and re-queues its
  parameters as a new trial (`RetryHeartbeatStaleTrialCallback`, the successor of
  RetryFailedTrialCallback);
- `study_budget` counts finished trials, COMPLETE and PRUNED. FAIL trials do not count: a
  heartbeat failure is retried. A trial that raises is a FAIL trial and the worker goes on with
  the next one (its user attr `fail_reason` says why); a ConfigError (bad config, the same for
  every trial) or CAPPUCCINO_MAX_CONSECUTIVE_FAILURES failures in a row (default 5) stop the
  worker, so a broken setup never loops. With CAPPUCCINO_SWEEP_ID set (the operator sets it),
  each trial carries user attr `sweep`, so a TrainingSweep counts only its own failures. A worker starts a trial only while COMPLETE + PRUNED + RUNNING is
  below the budget; when the budget is only reachable through trials other workers are running,
  it waits for them (and fails them if their heartbeat stops) instead of exiting. Workers that
  check at the same moment can each start one trial, so the study may end with up to
  (workers - 1) trials over the budget, never under it.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import OperationalError

from cappuccino_runtime.errors import CappuccinoError, ConfigError, StorageUnavailable

__all__ = [
    "BUDGET_STATES",
    "HeartbeatSettings",
    "TrialTracker",
    "TrialsFailing",
    "WorkerSummary",
    "check_limits",
    "create_study",
    "finished_count",
    "load_study",
    "open_storage",
    "read_budget_file",
    "run_worker",
    "trial_value",
    "worker_index",
]

logger = logging.getLogger(__name__)

#: Trial states that count towards --study-budget.
BUDGET_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def trial_value(trial: FrozenTrial) -> float:
    """The value of a COMPLETE single-objective trial (Optuna types it optional: trials in other
    states have none)."""
    if trial.value is None:
        raise ValueError(f"trial {trial.number} ({trial.state.name}) has no value")
    return float(trial.value)


@dataclass(frozen=True)
class HeartbeatSettings:
    """How often a running trial beats, and how long silence means its worker is dead.

    From CAPPUCCINO_HEARTBEAT_INTERVAL / CAPPUCCINO_HEARTBEAT_GRACE (seconds); tests shorten them.
    """

    interval: int = 30
    grace_period: int = 120
    max_retry: int = 3

    @classmethod
    def from_env(cls) -> HeartbeatSettings:
        env = os.environ
        try:
            interval = int(env.get("CAPPUCCINO_HEARTBEAT_INTERVAL", cls.interval))
            grace = int(env.get("CAPPUCCINO_HEARTBEAT_GRACE", cls.grace_period))
            retry = int(env.get("CAPPUCCINO_TRIAL_MAX_RETRY", cls.max_retry))
        except ValueError as e:
            raise ConfigError(
                "CAPPUCCINO_HEARTBEAT_INTERVAL, CAPPUCCINO_HEARTBEAT_GRACE and "
                f"CAPPUCCINO_TRIAL_MAX_RETRY must be whole seconds/counts: {e}."
            ) from e
        if interval < 1 or grace <= interval:
            raise ConfigError(
                f"heartbeat interval {interval}s and grace period {grace}s are invalid: the "
                "interval must be at least 1 s and the grace period longer than the interval."
            )
        return cls(interval=interval, grace_period=grace, max_retry=retry)


def open_storage(
    url: str, heartbeat: HeartbeatSettings | None = None, *, heartbeats: bool = True
) -> RDBStorage:
    """An RDBStorage for `url` (SQLite or PostgreSQL via psycopg 3), by default with heartbeats.

    `heartbeats=False` is for ask/tell callers (refit), which Optuna cannot heartbeat.
    """
    hb = heartbeat or HeartbeatSettings.from_env()
    engine_kwargs: dict[str, object] = {}
    if url.startswith("postgresql"):
        engine_kwargs = {"pool_pre_ping": True}
    elif url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():
            # heartbeats are "experimental" in Optuna since v2.8 but are what kills stale trials
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if not heartbeats:
                return RDBStorage(url, engine_kwargs=engine_kwargs)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=hb.interval,
                grace_period=hb.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=hb.max_retry
                ),
            )
    except OperationalError as e:
        raise StorageUnavailable(
            f"the Optuna storage {_redact(url)} cannot be reached ({e.orig}); check the URL, "
            "the database server and its credentials."
        ) from e


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable storage URL>"


def create_study(study_name: str, storage: RDBStorage, direction: str = "maximize") -> optuna.Study:
    """Creates the study, or loads it when it exists with the same direction (idempotent)."""
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"--direction must be maximize or minimize, got {direction!r}.")
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction=StudyDirection[direction.upper()],
        load_if_exists=True,
    )
    actual = study.direction.name.lower()
    if actual != direction:
        raise ConfigError(
            f"study {study_name!r} already exists with direction {actual}, not {direction}; use "
            "another study name."
        )
    return study


def load_study(
    study_name: str,
    storage: RDBStorage,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Loads (or creates, maximising) a study with this worker's sampler and pruner."""
    return optuna.create_study(
        study_name=study_name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )


def worker_index() -> int:
    """This worker's index in its group: JOB_COMPLETION_INDEX (indexed Jobs) or CAPPUCCINO_WORKER_INDEX.

    It offsets the sampler seed so parallel workers do not all propose the same first trials.
    """
    raw = os.environ.get("JOB_COMPLETION_INDEX") or os.environ.get("CAPPUCCINO_WORKER_INDEX", "0")
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"JOB_COMPLETION_INDEX/CAPPUCCINO_WORKER_INDEX must be an integer, got {raw!r}."
        ) from None


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards the study budget (COMPLETE + PRUNED)."""
    return len(study.get_trials(deepcopy=False, states=BUDGET_STATES))


def check_limits(
    n_trials: int | None, study_budget: int | None, budget_file: Path | None = None
) -> None:
    """A worker needs a limit: its own trial count, the study's budget (a number, or a file
    re-read between trials), or both."""
    if n_trials is None and study_budget is None and budget_file is None:
        raise ConfigError(
            "give --n-trials, --study-budget (or --study-budget-file) or both; otherwise a "
            "worker never stops."
        )
    for name, value in (("--n-trials", n_trials), ("--study-budget", study_budget)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}.")


def read_budget_file(path: Path) -> int:
    """The study budget written in `path` (the TrainingSweep's ConfigMap key `study_budget`,
    which the operator updates when spec.trials changes: the worker re-reads it between
    trials, so a raised budget reaches running workers without a new Job)."""
    try:
        text = path.read_text().strip()
    except OSError as e:
        raise ConfigError(
            f"--study-budget-file {path}: cannot read it ({e.strerror}); mount the sweep's "
            "ConfigMap there or give --study-budget N."
        ) from None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"--study-budget-file {path} must hold a whole number >= 1, got {text[:40]!r}."
        )
    return value


class TrialsFailing(CappuccinoError):
    """Too many trials in a row failed: the worker exits 1 instead of failing forever."""


def _max_consecutive_failures() -> int:
    raw = os.environ.get("CAPPUCCINO_MAX_CONSECUTIVE_FAILURES", "5")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"CAPPUCCINO_MAX_CONSECUTIVE_FAILURES must be a whole number >= 1, got {raw!r}."
        )
    return value


class TrialTracker:
    """Wraps the objective: tags each trial with its sweep, records why a trial failed (user
    attr `fail_reason`, set while the trial is still RUNNING), counts consecutive failures and
    keeps a ConfigError aside so the worker re-raises it (a bad config fails every trial)."""

    def __init__(self, objective: Callable[[optuna.Trial], float], sweep: str | None) -> None:
        self.objective = objective
        self.sweep = sweep
        self.consecutive_failures = 0
        self.fatal: ConfigError | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        if self.sweep:
            trial.set_user_attr("sweep", self.sweep)
        try:
            value = self.objective(trial)
        except optuna.TrialPruned:
            self.consecutive_failures = 0
            raise
        except Exception as e:
            self.consecutive_failures += 1
            trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}"[:1000])
            if isinstance(e, ConfigError):
                self.fatal = e
            raise
        self.consecutive_failures = 0
        return value


@dataclass(frozen=True)
class WorkerSummary:
    """What one worker did."""

    trials_run: int
    study_finished: int
    stopped_because: str


def run_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    n_trials: int | None,
    study_budget: int | None,
    poll_interval: float | None = None,
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] | None = None,
    budget_file: Path | None = None,
) -> WorkerSummary:
    """Runs trials one at a time until this worker ran `n_trials` or the study met its budget.

    With `budget_file` the budget is re-read from it before every trial (it overrides
    `study_budget`), so a raised budget is honoured by a worker that started with the old one.
    An objective exception fails the trial and the worker goes on (see the module docstring
    for what stops it). Pruned trials count as run.
    """
    check_limits(n_trials, study_budget, budget_file)
    storage = study._storage
    interval = storage.get_heartbeat_interval() if isinstance(storage, RDBStorage) else None
    poll = poll_interval if poll_interval is not None else float(min(interval or 5, 5))
    max_failures = _max_consecutive_failures()
    tracked = TrialTracker(objective, os.environ.get("CAPPUCCINO_SWEEP_ID"))
    ran = 0
    while n_trials is None or ran < n_trials:
        if budget_file is not None:
            study_budget = read_budget_file(budget_file)
        all_callbacks = list(callbacks or [])
        if study_budget is not None:
            all_callbacks.append(MaxTrialsCallback(study_budget, states=BUDGET_STATES))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            done = finished_count(study)
            if done >= study_budget:
                return WorkerSummary(ran, done, "study budget reached")
            running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
            if done + running >= study_budget:
                logger.info(
                    "study %s: %d finished + %d running meet the budget of %d; waiting",
                    study.study_name,
                    done,
                    running,
                    study_budget,
                )
                time.sleep(poll)
                continue
        study.optimize(tracked, n_trials=1, callbacks=all_callbacks, catch=(Exception,))
        ran += 1
        if tracked.fatal is not None:
            raise tracked.fatal
        if tracked.consecutive_failures >= max_failures:
            raise TrialsFailing(
                f"{tracked.consecutive_failures} trials in a row failed in study {study.study_name!r}; the "
                "worker stops (see the FAIL trials' user attr fail_reason)."
            )
    return WorkerSummary(ran, finished_count(study), "worker trial limit reached")
