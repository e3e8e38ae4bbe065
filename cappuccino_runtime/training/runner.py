"""`cappuccino train` as a function: options in, a worker's summary out.

Wires the pieces in order: settings -> config file -> market data -> phase (search space and
study name) -> storage with heartbeats -> sampler/pruner -> the study's evaluation plan (the
final hold-out and CPCV groups, fixed by the first worker) -> objective -> worker loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from cappuccino_contracts.naming import phase1_study_name
from optuna.study import Study
from optuna.trial import FrozenTrial

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import CappuccinoError, ConfigError
from cappuccino_runtime.settings import Settings, pick_device
from cappuccino_runtime.timeframes import timeframe_delta
from cappuccino_runtime.training.config import TrainingConfig, load_config
from cappuccino_runtime.training.objective import Objective
from cappuccino_runtime.training.options import CommonOptions, load_selected_market
from cappuccino_runtime.training.plan import PLAN_ATTR, EvaluationPlan
from cappuccino_runtime.training.report import refresh_report
from cappuccino_runtime.training.search_space import SearchSpace
from cappuccino_runtime.training.two_phase import (
    Phase,
    load_winner,
    phase1_space,
    phase2_space,
    plan_for_space,
    space_extent,
    study_name_for,
    winner_callback,
)
from cappuccino_runtime.training.worker import (
    HeartbeatSettings,
    WorkerSummary,
    check_limits,
    load_study,
    open_storage,
    run_worker,
    worker_index,
)

__all__ = [
    "CONFIG_ATTR",
    "TrainOptions",
    "check_data",
    "make_pruner",
    "make_sampler",
    "phase_space",
    "read_plan",
    "run_training",
    "study_plan",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainOptions(CommonOptions):
    """The flags of `cappuccino train` (docs/CONTRACTS.md), after defaults."""

    study: str
    n_trials: int | None = None
    study_budget: int | None = None
    study_budget_file: str | None = None
    phase: Phase = "full"


def make_sampler(config: TrainingConfig, seed: int) -> optuna.samplers.BaseSampler:
    """TPE (or random search) seeded by the base seed and this worker's index (parallel
    workers differ)."""
    worker_seed = seed + 7919 * worker_index()
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=worker_seed)
    return optuna.samplers.TPESampler(seed=worker_seed, n_startup_trials=config.n_startup_trials)


def make_pruner(config: TrainingConfig) -> optuna.pruners.BasePruner:
    """Median pruning on the running mean Sharpe after each CPCV split (from the 2nd split on);
    pruner "none" never prunes."""
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=config.pruner_startup_trials, n_warmup_steps=1
    )


def phase_space(
    phase: Phase,
    name: str,
    market: MarketData,
    config: TrainingConfig,
    storage: optuna.storages.BaseStorage,
) -> tuple[SearchSpace, list[str]]:
    """The search space of a phase and notes to show the user."""
    if phase == "phase1":
        return phase1_space(market, config)
    if phase == "phase2":
        winner = load_winner(storage, name)
        note = (
            f"phase 2 fixes {winner.params} from study {winner.study_name!r} trial_id "
            f"{winner.trial_id} (value {winner.value:.3f})."
        )
        return phase2_space(config, winner), [note]
    return config.space(), []


#: Study user attr holding the training config the study ran with (read by `models refit`).
CONFIG_ATTR = "training_config"


def read_plan(study: Study) -> EvaluationPlan | None:
    """The evaluation plan stored on a study, or None when it has none yet."""
    raw = study.user_attrs.get(PLAN_ATTR)
    if raw is None:
        return None
    try:
        return EvaluationPlan.model_validate(raw)
    except ValueError as e:
        raise CappuccinoError(
            f"the evaluation plan stored on study {study.study_name!r} is invalid: {e}"
        ) from e


def check_data(plan: EvaluationPlan, market: MarketData, study_name: str) -> None:
    start = market.index[0]
    end = market.index[-1] + timeframe_delta(market.timeframe)
    if start != plan.data_start or end != plan.data_end:
        raise ConfigError(
            f"study {study_name!r} was planned on data from {plan.data_start.isoformat()} to "
            f"{plan.data_end.isoformat()}, but this worker loaded {start.isoformat()} to "
            f"{end.isoformat()}; pass the same --data/--start/--end (and symbols) as the "
            "study's first worker, or use a new study."
        )


def study_plan(
    study: Study, market: MarketData, config: TrainingConfig, space: SearchSpace, phase: Phase
) -> EvaluationPlan:
    """The study's evaluation plan: stored by its first worker, read by every later one.

    Phase 2 inherits the plan of its phase-1 study, so both share one hold-out.
    """
    plan = read_plan(study)
    if plan is None and phase == "phase2":
        name = study.study_name
        try:
            phase1 = optuna.load_study(study_name=phase1_study_name(name), storage=study._storage)
        except KeyError:
            phase1 = None
        plan = read_plan(phase1) if phase1 is not None else None
    if plan is None:
        plan = plan_for_space(market, config, space)
    check_data(plan, market, study.study_name)
    preflight(market, plan, config, space)  # before the plan is stored: fix the data, rerun
    if study.user_attrs.get(PLAN_ATTR) is None:
        study.set_user_attr(PLAN_ATTR, plan.model_dump(mode="json"))
    return plan


def preflight(
    market: MarketData, plan: EvaluationPlan, config: TrainingConfig, space: SearchSpace
) -> None:
    """Checks once, before the first trial, that every configuration the space can sample
    (each timeframe and feature set at the largest lookback, whose warm-up and embargo are
    the widest) leaves training bars in every CPCV split of the plan: a data set too short
    fails here with one clear message, not inside every trial."""
    from cappuccino_runtime.training.dataset import prepare

    timeframes, feature_sets, lookback = space_extent(space, config, market.timeframe)
    for timeframe in timeframes:
        data = market if timeframe == market.timeframe else market.resample(timeframe)
        for feature_set in feature_sets:
            try:
                prepare(data, feature_set, lookback, plan, embargo=config.cpcv.embargo_bars)
            except ConfigError as e:
                raise ConfigError(
                    f"the data cannot hold every trial this search may sample ({timeframe}, "
                    f"feature_set {feature_set!r}, lookback {lookback}): {e}"
                ) from None


def run_training(
    opts: TrainOptions,
    *,
    settings: Settings | None = None,
    config: TrainingConfig | None = None,
    market: MarketData | None = None,
    on_split: Callable[[int, int], None] | None = None,
    callbacks: list[Callable[[Study, FrozenTrial], None]] | None = None,
    notify: Callable[[str], None] = logger.info,
) -> WorkerSummary:
    """Runs one worker for `opts`; `config`/`market` skip loading when the caller has them."""
    budget_file = Path(opts.study_budget_file) if opts.study_budget_file else None
    check_limits(opts.n_trials, opts.study_budget, budget_file)
    settings = settings or Settings.from_env(
        storage=opts.storage, artifact_root=opts.artifact_root, device=opts.device
    )
    settings.ensure_dirs()
    config = config or load_config(opts.config)
    device = pick_device(settings.device)
    if market is None:
        market = load_selected_market(opts, settings.data_cache)
    storage = open_storage(settings.storage, HeartbeatSettings.from_env())
    space, notes = phase_space(opts.phase, opts.study, market, config, storage)
    for note in notes:
        notify(note)
    study_name = study_name_for(opts.study, opts.phase)
    study = load_study(
        study_name, storage, sampler=make_sampler(config, opts.seed), pruner=make_pruner(config)
    )
    plan = study_plan(study, market, config, space, opts.phase)
    if study.user_attrs.get(CONFIG_ATTR) is None:
        # a refit retrains with the study's own config, not whatever file is at hand then
        study.set_user_attr(CONFIG_ATTR, config.model_dump(mode="json"))
    if plan.holdout is not None:
        notify(
            f"study {study_name}: final hold-out {plan.holdout[0].isoformat()} .. "
            f"{plan.holdout[1].isoformat()} is never seen by CPCV, Optuna, pruning or phase 1."
        )
    objective = Objective(
        plan=plan,
        study_name=study_name,
        market=market,
        config=config,
        space=space,
        artifact_root=settings.artifact_root,
        base_seed=opts.seed,
        device=device,
        on_split=on_split,
    )
    all_callbacks = list(callbacks or [])
    if opts.phase == "phase1":
        all_callbacks.append(winner_callback(settings.artifact_root))
    summary = run_worker(
        study,
        objective,
        n_trials=opts.n_trials,
        study_budget=opts.study_budget,
        callbacks=all_callbacks,
        budget_file=budget_file,
    )
    report_when_done(study, plan, ArtifactStore(settings.artifact_root), notify)
    return summary


def report_when_done(
    study: Study, plan: EvaluationPlan, store: ArtifactStore, notify: Callable[[str], None]
) -> None:
    """The worker's last step: the study's PBO and DSR over every trial so far (study user
    attr `report`, as `cappuccino study report` stores it). A report that cannot be computed
    never fails the worker's trials: it says why, and `cappuccino study report` retries."""
    try:
        report = refresh_report(study, plan, store)
    except (CappuccinoError, ValueError, OSError) as e:
        notify(
            f"study {study.study_name}: PBO/DSR not computed ({e}); run `cappuccino study report`."
        )
        return
    if report is not None:
        pbo, dsr = (("n/a" if x is None else f"{x:.3f}") for x in (report.pbo, report.dsr))
        notify(
            f"study {study.study_name}: PBO {pbo}, DSR {dsr} over {report.n_trials} "
            "configuration(s) tried (`cappuccino study report` for details)"
        )
