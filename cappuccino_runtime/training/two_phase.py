"""Two-phase training: phase 1 picks the market view, phase 2 tunes PPO with it fixed.

Study names (`--study NAME`):
- `--phase phase1` runs study `NAME-phase1`. It searches timeframe, lookback and feature set;
  every PPO hyperparameter is held at a fixed "centre" of its range (`centre_value`, or the
  config's `phase1.fixed`). After every finished trial the best one is stored as the study's
  user attr `phase1_winner` and as `{artifact_root}/NAME-phase1/phase1_winner.json`.
- `--phase phase2` runs study `NAME`, its own study: it reads the winner of `NAME-phase1`,
  fixes timeframe, lookback and feature set to it, and searches the PPO hyperparameters.
- `--phase full` runs study `NAME` and searches everything at the given timeframe at once.
So the models to deploy are always in study `NAME`.

Phase 1 may only try timeframes that can be built from the loaded data: bars are aggregated
(1h -> 4h), never split, and each timeframe must leave enough bars for CPCV episodes under
the study's evaluation plan (plan.py), whose warm-up is sized for the coarsest timeframe kept.

Horizons are calendar time: `env.episode_length` and `gamma` are stated at the data's base
timeframe, and a trial at a coarser timeframe (ratio r) runs episodes of episode_length / r
bars discounted by gamma ** r per bar, so every timeframe looks as far ahead in hours. The
step budget (`ppo.total_timesteps`) stays in env steps: it is compute, not a horizon.
Phase 2 and a refit use the phase-1 study's plan, so all three share one hold-out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
from collections.abc import Callable
from typing import Any, Literal

import optuna
from cappuccino_contracts.naming import phase1_study_name
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.atomic import write_atomic
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import CappuccinoError, ConfigError
from cappuccino_runtime.features import FEATURE_SETS, warmup_bars
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_ratio
from cappuccino_runtime.training.config import TrainingConfig, TrialSetup
from cappuccino_runtime.training.dataset import capacity_problem
from cappuccino_runtime.training.plan import EvaluationPlan, build_plan
from cappuccino_runtime.training.search_space import (
    DESTINATIONS,
    PHASE1_PARAMS,
    CategoricalParam,
    FloatParam,
    IntParam,
    SearchSpace,
    build_space,
)

__all__ = [
    "WINNER_ATTR",
    "WINNER_FILE",
    "Phase",
    "Phase1Winner",
    "calendar_horizons",
    "centre_value",
    "load_winner",
    "phase1_space",
    "phase2_space",
    "plan_for_space",
    "space_extent",
    "study_name_for",
    "usable_timeframes",
    "winner_callback",
]

Phase = Literal["full", "phase1", "phase2"]
WINNER_ATTR = "phase1_winner"
WINNER_FILE = "phase1_winner.json"


def study_name_for(name: str, phase: Phase) -> str:
    """The study a phase runs in: NAME-phase1 for phase 1, NAME otherwise."""
    if phase not in ("full", "phase1", "phase2"):
        raise ConfigError(f"--phase must be full, phase1 or phase2, got {phase!r}.")
    return phase1_study_name(name) if phase == "phase1" else name


class Phase1Winner(BaseModel):
    """The best phase-1 trial: what phase 2 fixes."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    trial_id: int
    number: int
    value: float
    params: dict[str, Any]


def centre_value(spec: FloatParam | IntParam | CategoricalParam) -> int | float | str:
    """A fixed representative of a range: geometric mean on log scales, else the midpoint
    (snapped to the step grid); the first choice of a categorical."""
    if isinstance(spec, CategoricalParam):
        return spec.choices[0]
    mid = math.sqrt(spec.low * spec.high) if spec.log else (spec.low + spec.high) / 2
    if isinstance(spec, IntParam):
        return int(spec.low + round((mid - spec.low) / spec.step) * spec.step)
    if spec.step:
        return spec.low + round((mid - spec.low) / spec.step) * spec.step
    return mid


def _max_lookback(space: SearchSpace) -> int:
    spec = space["lookback"]
    if isinstance(spec, CategoricalParam):
        return max(int(c) for c in spec.choices)
    return int(spec.high)


def space_extent(
    space: SearchSpace, config: TrainingConfig, base_timeframe: str
) -> tuple[list[str], list[str], int]:
    """Every timeframe and feature set a space can sample, and its largest lookback."""
    tf = space.get("timeframe")
    fs = space.get("feature_set")
    timeframes = (
        [str(c) for c in tf.choices] if isinstance(tf, CategoricalParam) else [base_timeframe]
    )
    sets = (
        [str(c) for c in fs.choices] if isinstance(fs, CategoricalParam) else [config.feature_set]
    )
    if "lookback" not in space:
        raise ConfigError(
            "the search space has no 'lookback'; fix it to a value in the config, e.g. "
            "search_space: {lookback: 5}."
        )
    return timeframes, sets, _max_lookback(space)


def _plan(
    market: MarketData,
    config: TrainingConfig,
    timeframes: list[str],
    sets: list[str],
    lookback: int,
) -> EvaluationPlan:
    return build_plan(
        market,
        timeframes=timeframes,
        feature_sets=sets,
        max_lookback=lookback,
        n_groups=config.cpcv.n_groups,
        n_test_groups=config.cpcv.n_test_groups,
        holdout_fraction=config.holdout.fraction,
        holdout_embargo_bars=config.holdout.embargo_bars,
    )


def plan_for_space(
    market: MarketData, config: TrainingConfig, space: SearchSpace
) -> EvaluationPlan:
    """The evaluation plan of a study searching `space` on `market` (plan.build_plan)."""
    timeframes, sets, lookback = space_extent(space, config, market.timeframe)
    return _plan(market, config, timeframes, sets, lookback)


def calendar_horizons(setup: TrialSetup, base_timeframe: str) -> TrialSetup:
    """The setup with episode length and gamma rescaled from the base timeframe's bars."""
    ratio = timeframe_ratio(base_timeframe, setup.timeframe)
    if ratio == 1:
        return setup
    env = setup.env.model_copy(
        update={"episode_length": max(2, round(setup.env.episode_length / ratio))}
    )
    ppo = dataclasses.replace(setup.ppo, gamma=float(setup.ppo.gamma**ratio))
    return dataclasses.replace(setup, env=env, ppo=ppo)


def usable_timeframes(
    market: MarketData, config: TrainingConfig
) -> tuple[list[str], dict[str, str]]:
    """Phase-1 timeframes buildable from `market`, and why each other one was dropped.

    The plan's warm-up depends on the coarsest timeframe kept, so the coarsest timeframe that
    does not fit is dropped and the rest re-checked under the smaller plan.
    """
    space = config.space()
    max_lookback = _max_lookback(space)
    sets = config.phase1.feature_sets or sorted(FEATURE_SETS)
    slowest = max(sets, key=warmup_bars)
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for raw in config.phase1.timeframes:
        tf = canonical_timeframe(raw)
        try:
            timeframe_ratio(market.timeframe, tf)
        except ConfigError:
            dropped[tf] = (
                f"the data's base timeframe is {market.timeframe} and bars can only be "
                f"aggregated, so {tf} cannot be built (load {tf} or finer data to search it)"
            )
            continue
        kept.append(tf)
    kept.sort(key=lambda t: timeframe_ratio(market.timeframe, t))
    while kept:
        try:
            plan = _plan(market, config, kept, sets, max_lookback)
        except ConfigError as e:
            dropped[kept[-1]] = f"its warm-up leaves no room for CPCV ({e})"
            kept.pop()
            continue
        problems: dict[str, str] = {}
        for tf in kept:
            ratio = timeframe_ratio(market.timeframe, tf)
            at_tf = market if ratio == 1 else market.resample(tf)
            problem = capacity_problem(
                at_tf,
                slowest,
                max_lookback,
                max(2, round(config.env.episode_length / ratio)),
                plan,
            )
            if problem is not None:
                problems[tf] = problem
        if not problems:
            break
        worst = max(problems, key=lambda t: timeframe_ratio(market.timeframe, t))
        dropped[worst] = f"{problems[worst]} at {worst}"
        kept.remove(worst)
    return kept, dropped


def phase1_space(market: MarketData, config: TrainingConfig) -> tuple[SearchSpace, list[str]]:
    """Phase 1's space and notes for the user (dropped timeframes).

    Raises ConfigError when no timeframe is usable, naming each reason.
    """
    kept, dropped = usable_timeframes(market, config)
    notes = [f"phase 1 skips timeframe {tf}: {why}." for tf, why in dropped.items()]
    if not kept:
        raise ConfigError(
            "phase 1 has no usable timeframe: " + " ".join(notes) + " Load more or finer data."
        )
    base = config.space()
    sets = config.phase1.feature_sets or sorted(FEATURE_SETS)
    unknown = [s for s in sets if s not in FEATURE_SETS]
    if unknown:
        raise ConfigError(
            f"phase1.feature_sets names {unknown}, which do not exist; choose from "
            f"{sorted(FEATURE_SETS)}."
        )
    space: SearchSpace = {
        "timeframe": CategoricalParam(choices=list(kept)),
        "feature_set": CategoricalParam(choices=list(sets)),
        "lookback": base["lookback"],
    }
    fixed = dict(config.phase1.fixed)
    for name, spec in base.items():
        if name in PHASE1_PARAMS:
            continue
        value = fixed.pop(name, centre_value(spec))
        space[name] = CategoricalParam(choices=[value])
    if fixed:
        raise ConfigError(
            f"phase1.fixed names {sorted(fixed)}, which are not PPO parameters of the search "
            f"space; known: {sorted(set(DESTINATIONS) - set(PHASE1_PARAMS))}."
        )
    return space, notes


def phase2_space(config: TrainingConfig, winner: Phase1Winner) -> SearchSpace:
    """The config's space with timeframe, lookback and feature set fixed to phase 1's winner."""
    missing = [p for p in PHASE1_PARAMS if p not in winner.params]
    if missing:
        raise ConfigError(
            f"the phase-1 winner (study {winner.study_name!r}, trial_id {winner.trial_id}) has no "
            f"{missing}; re-run phase 1."
        )
    return build_space({p: winner.params[p] for p in PHASE1_PARAMS}, base=config.space())


def _best(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value if t.value is not None else -math.inf, default=None)


def _write_json(store: ArtifactStore, path: str, payload: bytes) -> None:
    """Atomically (cappuccino_runtime.atomic), so readers never see half a file."""
    write_atomic(path, payload, store.fs)


def winner_callback(artifact_root: str) -> Callable[[optuna.Study, FrozenTrial], None]:
    """A study callback that stores the current best phase-1 trial after every trial."""
    store = ArtifactStore(artifact_root)

    def callback(study: optuna.Study, _trial: FrozenTrial) -> None:
        best = _best(study)
        if best is None or best.value is None:
            return
        winner = Phase1Winner(
            study_name=study.study_name,
            trial_id=best._trial_id,
            number=best.number,
            value=best.value,
            params={p: best.params[p] for p in PHASE1_PARAMS if p in best.params},
        )
        if study.user_attrs.get(WINNER_ATTR) == winner.model_dump(mode="json"):
            return
        study.set_user_attr(WINNER_ATTR, winner.model_dump(mode="json"))
        study_dir = posixpath.dirname(store.trial_path(study.study_name, 0, "1h"))
        _write_json(
            store,
            posixpath.join(study_dir, WINNER_FILE),
            json.dumps(winner.model_dump(mode="json"), indent=2).encode(),
        )

    return callback


def load_winner(storage: optuna.storages.BaseStorage, name: str) -> Phase1Winner:
    """Reads the phase-1 winner stored on study NAME-phase1."""
    phase1 = phase1_study_name(name)
    try:
        study = optuna.load_study(study_name=phase1, storage=storage)
    except KeyError:
        raise ConfigError(
            f"phase 2 of study {name!r} needs the winner of study {phase1!r}, which does not "
            f"exist; run `cappuccino train --study {name} --phase phase1` first."
        ) from None
    raw = study.user_attrs.get(WINNER_ATTR)
    if raw is None:
        raise ConfigError(
            f"study {phase1!r} has no completed trial yet, so it has no winner for phase 2; let "
            "phase 1 finish at least one trial."
        )
    try:
        return Phase1Winner.model_validate(raw)
    except ValueError as e:
        raise CappuccinoError(
            f"the phase-1 winner stored on study {phase1!r} is invalid: {e}"
        ) from e
