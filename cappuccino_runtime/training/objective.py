"""The Optuna objective: sample, train one agent per CPCV split, score, record, write artifacts.

One trial:
1. samples its parameters from the search space and routes each one to PPOArgs, EnvConfig or
   the data pipeline (`resolve_trial`; nothing is dropped);
2. builds features at the trial's timeframe and feature set and the CPCV splits of the
   study's evaluation plan (plan.py: the same test instants for every trial; the final
   hold-out is in no split);
3. for every split, fits the normaliser on the split's training bars, trains PPO on episodes
   that stay inside the training segments, and scores the agent and equal-weight buy-and-hold
   on the held-out episodes: by default the annualised Sharpe of the agent's per-bar returns
   in excess of buy-and-hold's on the same bars (`objective: sharpe` scores raw returns);
4. reports the running mean after each split so the pruner can stop a bad trial;
5. sets the user attrs of docs/CONTRACTS.md and writes actor.pth, critic.pth, the per-bar
   out-of-sample returns of every evaluated split (oos.py) and trial.json. A pruned trial
   still writes the returns of the splits it evaluated (and trial.json, state PRUNED).

The trial's value is a HYPERPARAMETER SCORE: the mean CPCV (excess) Sharpe of its split
agents. The saved model is the agent of split 0; its own out-of-sample number comes from a
refit (refit.py), never from this mean.

Seeds never collide: split k of trial n trains with base_seed + n * SEED_STRIDE + k.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    RETURNS_FILE,
    TRIAL_USER_ATTRS,
    ModelSpec,
    TrialRecord,
)

import cappuccino_runtime
from cappuccino_runtime.agent.networks import Actor, Critic, state_dict_bytes
from cappuccino_runtime.agent.ppo import train
from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.env import VecTradingEnv, buy_and_hold_equity, fit_price_scale, run_policy
from cappuccino_runtime.training.config import TrainingConfig, TrialSetup, resolve_trial
from cappuccino_runtime.training.cpcv import CPCVSplit
from cappuccino_runtime.training.dataset import PreparedData, prepare, split_data
from cappuccino_runtime.training.oos import Objective as ObjectiveName
from cappuccino_runtime.training.oos import (
    SegmentReturns,
    encode_returns,
    segment_returns,
    split_metric,
)
from cappuccino_runtime.training.plan import EvaluationPlan
from cappuccino_runtime.training.scoring import run_summary
from cappuccino_runtime.training.search_space import CategoricalParam, SearchSpace, sample_params
from cappuccino_runtime.training.two_phase import calendar_horizons, plan_for_space

__all__ = [
    "HYPERPARAMETER_SCORE",
    "SEED_STRIDE",
    "SPLIT_DIAGNOSTICS",
    "Objective",
    "SplitResult",
    "TrialOutcome",
    "code_version",
    "run_trial",
    "split_seed",
    "train_split",
    "trial_seed",
]

#: What a trial's value is, wherever it is shown.
HYPERPARAMETER_SCORE = "hyperparameter score: mean CPCV {metric} of {n} split agents"

#: Seeds of trial n's splits are base + n * SEED_STRIDE + k; a CPCV design has fewer splits.
SEED_STRIDE = 1000

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


#: Keys of each entry of the `split_diagnostics` user attr (one entry per CPCV split): PPO's
#: approx_kl (mean over iterations; ~0 means the policy never moved), the last iteration's
#: explained variance, the final policy std, and the held-out episodes' turnover per bar, fees
#: (fraction of the book), exposure, trades per bar and tracking error against equal-weight
#: buy-and-hold (per-bar std of the return difference). Non-finite values are None.
SPLIT_DIAGNOSTICS = (
    "approx_kl",
    "explained_variance",
    "policy_std",
    "turnover_per_bar",
    "fees_fraction",
    "exposure",
    "trades_per_bar",
    "tracking_error",
)

#: Receives (split index, running mean score of the splits done); may raise to stop the trial.
SplitReport = Callable[[int, float], None]


@functools.cache
def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    root = Path(cappuccino_runtime.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return cappuccino_runtime.__version__
    return f"{cappuccino_runtime.__version__}+g{sha}" if sha else cappuccino_runtime.__version__


def trial_seed(base_seed: int, number: int) -> int:
    """The seed of trial `number`: base_seed + number * SEED_STRIDE (its split 0's seed)."""
    return base_seed + number * SEED_STRIDE


def split_seed(seed: int, split: int) -> int:
    """The seed split `split` trains with, from its trial's seed; distinct for every pair."""
    if not 0 <= split < SEED_STRIDE:
        raise ValueError(f"split index {split} is outside 0..{SEED_STRIDE - 1}.")
    return seed + split


@dataclass(frozen=True)
class SplitResult:
    """One trained split agent and what it scored on its held-out segments."""

    actor: Actor
    critic: Critic
    spec: ModelSpec
    sharpe_bot: float
    """annualised Sharpe of the agent's raw per-bar returns"""
    sharpe_hodl: float
    """annualised Sharpe of buy-and-hold on the same bars"""
    sharpe_excess: float
    """annualised Sharpe of the agent's returns minus buy-and-hold's"""
    score: float
    """the split's score under the config's objective"""
    returns: list[SegmentReturns]
    seed: int
    diagnostics: dict[str, float | None] = dataclasses.field(default_factory=dict)
    """keys SPLIT_DIAGNOSTICS: did the agent learn, and how it traded the held-out bars"""


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial produced before it is recorded."""

    setup: TrialSetup
    splits: list[SplitResult]
    data_hash: str
    objective: str
    plan: EvaluationPlan

    @property
    def actor(self) -> Actor:
        return self.splits[0].actor

    @property
    def critic(self) -> Critic:
        return self.splits[0].critic

    @property
    def spec(self) -> ModelSpec:
        return self.splits[0].spec

    @property
    def sharpe_bot(self) -> list[float]:
        return [s.sharpe_bot for s in self.splits]

    @property
    def sharpe_hodl(self) -> list[float]:
        return [s.sharpe_hodl for s in self.splits]

    @property
    def sharpe_excess(self) -> list[float]:
        return [s.sharpe_excess for s in self.splits]

    @property
    def value(self) -> float:
        """The hyperparameter score: mean split score under the objective."""
        return float(np.mean([s.score for s in self.splits]))

    @property
    def mean_sharpe_bot(self) -> float:
        return float(np.mean(self.sharpe_bot))

    @property
    def mean_sharpe_hodl(self) -> float:
        return float(np.mean(self.sharpe_hodl))

    @property
    def std_sharpe_bot(self) -> float:
        """Sample standard deviation (ddof 1) of the split Sharpes; 0 for a single split."""
        return float(np.std(self.sharpe_bot, ddof=1)) if len(self.splits) > 1 else 0.0

    @property
    def returns(self) -> list[SegmentReturns]:
        return [r for s in self.splits for r in s.returns]

    @property
    def diagnostics(self) -> list[dict[str, float | None]]:
        """One dict per split, keys SPLIT_DIAGNOSTICS."""
        return [s.diagnostics for s in self.splits]


class SplitsEvaluated(Exception):
    """Raised out of run_trial when its report callback stops it, or a later split fails;
    carries the splits finished before (`cause` is what stopped the trial)."""

    def __init__(self, cause: BaseException, outcome: TrialOutcome | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.outcome = outcome


def _market_at(market: MarketData, timeframe: str) -> MarketData:
    return market if market.timeframe == timeframe else market.resample(timeframe)


def run_trial(
    params: Mapping[str, Any],
    market: MarketData,
    config: TrainingConfig,
    *,
    seed: int,
    device: str,
    plan: EvaluationPlan | None = None,
    report: SplitReport | None = None,
    on_split: Callable[[int], None] | None = None,
) -> TrialOutcome:
    """Trains and scores one parameter set over every CPCV split (no Optuna needed).

    Args:
        params: sampled parameters (names of search_space.DESTINATIONS).
        market: the data at its base timeframe; resampled if params pick a coarser one.
        config: the training config.
        seed: the trial's seed (split k trains with split_seed(seed, k)).
        device: torch device for training and evaluation.
        plan: the study's evaluation plan; None plans for this one parameter set.
        report: called after each split with (split index, running mean score); when it
            raises, or a split after the first fails, run_trial raises SplitsEvaluated
            carrying the splits finished so far.
        on_split: called when a split finishes (progress display).
    """
    setup = resolve_trial(params, config, timeframe=market.timeframe, seed=seed, device=device)
    setup = calendar_horizons(setup, market.timeframe)
    if config.cpu_threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(config.cpu_threads)
    if plan is None:
        plan = plan_for_space(
            market,
            config,
            {
                "timeframe": CategoricalParam(choices=[setup.timeframe]),
                "feature_set": CategoricalParam(choices=[setup.feature_set]),
                "lookback": CategoricalParam(choices=[setup.env.lookback]),
            },
        )
    data = _market_at(market, setup.timeframe)
    prepared = prepare(
        data, setup.feature_set, setup.env.lookback, plan, embargo=config.cpcv.embargo_bars
    )
    done: list[SplitResult] = []

    def outcome() -> TrialOutcome:
        return TrialOutcome(
            setup=setup,
            splits=list(done),
            data_hash=data.content_hash(),
            objective=config.objective,
            plan=plan,
        )

    for split in prepared.splits:
        try:
            result = train_split(
                prepared, split, setup, split_seed(seed, split.index), device, config.objective
            )
        except Exception as e:
            if not done:
                raise
            raise SplitsEvaluated(e, outcome()) from e
        done.append(result)
        logger.info(
            "split %d (held out %s): sharpe bot %.3f, hodl %.3f, excess %.3f",
            split.index,
            split.test_groups,
            result.sharpe_bot,
            result.sharpe_hodl,
            result.sharpe_excess,
        )
        if report is not None:
            try:
                report(split.index, float(np.mean([r.score for r in done])))
            except BaseException as e:
                raise SplitsEvaluated(e, outcome()) from e
        if on_split is not None:
            on_split(split.index)
    return outcome()


def train_split(
    prepared: PreparedData,
    split: CPCVSplit,
    setup: TrialSetup,
    seed: int,
    device: str,
    objective: ObjectiveName,
) -> SplitResult:
    """Trains one agent on `split.train` and scores it on `split.test` (each its own episode).

    Also what a refit runs: a one-split "split" training on every pre-hold-out bar and tested
    on the hold-out.
    """
    sd = split_data(prepared, split, setup.env)
    market = prepared.market
    args = dataclasses.replace(setup.ppo, seed=seed)
    # Every state column is train-scaled: features by the normaliser, price ratios by the std
    # of one-bar log returns over the training bars. Zero-volume bars (forward-filled over an
    # outage) cannot be filled.
    train_rows = np.concatenate([np.arange(a, b) for a, b in split.train])
    price_scale = fit_price_scale(market.close, train_rows)
    tradable = market.volume > 0
    env = VecTradingEnv(
        market.open,
        market.close,
        sd.features,
        setup.env,
        num_envs=setup.num_envs,
        device=device,
        seed=seed,
        valid_starts=sd.valid_starts,
        price_scale=price_scale,
        tradable=tradable,
    )
    hodl_curves = [
        buy_and_hold_equity(market.open, market.close, start, stop, setup.env)
        for start, stop in split.test
    ]
    groups = split.test_groups or tuple(range(len(split.test)))
    last: list[list[SegmentReturns]] = []
    last_run: list[Any] = []

    def evaluate(actor: torch.nn.Module) -> float:
        run = run_policy(
            actor,
            market.open,
            market.close,
            sd.features,
            setup.env,
            list(split.test),
            device,
            price_scale=price_scale,
            tradable=tradable,
        )
        parts = segment_returns(
            split.index, groups, split.test, market.index, run.curves, hodl_curves
        )
        last[:] = [parts]
        last_run[:] = [run]
        return split_metric(parts, market.timeframe, objective)

    def log(diag: dict[str, float]) -> None:
        logger.debug("split %d %s", split.index, " ".join(f"{k}={v:.4g}" for k, v in diag.items()))

    def report(global_step: int, metric: float) -> None:
        logger.info("split %d step %d: validation score %.3f", split.index, global_step, metric)

    # train() always evaluates after its last iteration: that evaluation is the split's score.
    result = train(args, env, evaluate=evaluate, report=report, log=log)
    parts = last[0]
    spec = ModelSpec(
        symbols=list(market.symbols),
        timeframe=market.timeframe,
        lookback=setup.env.lookback,
        feature_set=setup.feature_set,
        obs_dim=env.obs_dim,
        action_dim=env.action_dim,
        net_dimension=args.net_dimension,
        normalizer=sd.normalizer.to_stats(),
        initial_cash=setup.env.initial_cash,
        fee_rate=setup.env.fee_rate,
        execution=setup.env.execution_spec(reward_normalization=args.norm_reward),
        price_scale=price_scale,
    )
    raw = {
        "approx_kl": float(np.mean([d["approx_kl"] for d in result.diagnostics])),
        "explained_variance": result.diagnostics[-1]["explained_variance"],
        "policy_std": result.diagnostics[-1]["policy_std"],
        **run_summary(last_run[0], setup.env.initial_cash, hodl_curves),
    }
    diagnostics = {k: (v if math.isfinite(v) else None) for k, v in raw.items()}
    return SplitResult(
        actor=result.actor,
        critic=result.critic,
        spec=spec,
        sharpe_bot=split_metric(parts, market.timeframe, "sharpe"),
        sharpe_hodl=split_metric(
            [dataclasses.replace(p, agent=p.hodl) for p in parts], market.timeframe, "sharpe"
        ),
        sharpe_excess=split_metric(parts, market.timeframe, "excess_sharpe"),
        score=float(result.evaluations[-1][1]),
        returns=parts,
        seed=seed,
        diagnostics=diagnostics,
    )


class Objective:
    """Callable Optuna objective for one study; holds the data and config for all its trials."""

    def __init__(
        self,
        *,
        study_name: str,
        market: MarketData,
        config: TrainingConfig,
        space: SearchSpace,
        artifact_root: str,
        base_seed: int,
        device: str,
        plan: EvaluationPlan,
        on_split: Callable[[int, int], None] | None = None,
    ) -> None:
        self.study_name = study_name
        self.market = market
        self.config = config
        self.space = space
        self.store = ArtifactStore(artifact_root)
        self.base_seed = base_seed
        self.device = device
        self.plan = plan
        self.on_split = on_split

    def __call__(self, trial: optuna.Trial) -> float:
        """Runs one trial; returns its hyperparameter score (mean split score)."""
        import optuna

        params = sample_params(trial, self.space)
        seed = trial_seed(self.base_seed, trial.number)

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"trial {trial.number} pruned after split {step}: running mean score "
                    f"{value:.3f}"
                )

        def on_split(index: int) -> None:
            if self.on_split is not None:
                self.on_split(trial.number, index)

        try:
            outcome = run_trial(
                params,
                self.market,
                self.config,
                seed=seed,
                device=self.device,
                plan=self.plan,
                report=report,
                on_split=on_split,
            )
        except SplitsEvaluated as stopped:
            if stopped.outcome is not None and stopped.outcome.splits:
                # keep what it evaluated: N for the DSR counts pruned (and evaluated-then-
                # failed) trials too
                pruned = isinstance(stopped.cause, optuna.TrialPruned)
                self._record(trial, stopped.outcome, seed, state="PRUNED" if pruned else "FAIL")
            raise stopped.cause from None
        value = outcome.value
        if not math.isfinite(value):
            raise ValueError(f"trial {trial.number} scored a non-finite value ({value}).")
        self._record(trial, outcome, seed, state="COMPLETE")
        return value

    def _record(self, trial: optuna.Trial, outcome: TrialOutcome, seed: int, *, state: str) -> None:
        """Sets the user attrs and writes the artifacts (weights only for COMPLETE trials)."""
        returns_bytes = encode_returns(outcome.returns)
        actor_bytes, critic_bytes = (
            state_dict_bytes(outcome.actor),
            state_dict_bytes(outcome.critic),
        )
        timeframe = outcome.setup.timeframe
        metric = "excess Sharpe" if outcome.objective == "excess_sharpe" else "Sharpe"
        attrs: dict[str, Any] = {
            "mean_sharpe_bot": outcome.mean_sharpe_bot,
            "mean_sharpe_hodl": outcome.mean_sharpe_hodl,
            "sharpe_list_bot": outcome.sharpe_bot,
            "sharpe_list_hodl": outcome.sharpe_hodl,
            "std_sharpe_bot": outcome.std_sharpe_bot,
            "timeframe": timeframe,
            "artifact_uri": self.store.trial_uri(self.study_name, trial.number, timeframe),
            "sha256_actor": sha256_bytes(actor_bytes),
            "sha256_critic": sha256_bytes(critic_bytes),
            "data_hash": outcome.data_hash,
            "code_version": code_version(),
            "seed": seed,
            "model_spec": outcome.spec.model_dump(mode="json"),
            "objective": outcome.objective,
            "value_label": HYPERPARAMETER_SCORE.format(metric=metric, n=len(outcome.splits)),
            "sharpe_list_excess": outcome.sharpe_excess,
            "split_seeds": [s.seed for s in outcome.splits],
            "plan_digest": outcome.plan.digest(),
            "oos_returns_sha256": sha256_bytes(returns_bytes),
            "split_diagnostics": outcome.diagnostics,
        }
        files = {RETURNS_FILE: returns_bytes}
        checksums = {RETURNS_FILE: attrs["oos_returns_sha256"]}
        if state == "COMPLETE":
            files.update({ACTOR_FILE: actor_bytes, CRITIC_FILE: critic_bytes})
            checksums.update(
                {ACTOR_FILE: attrs["sha256_actor"], CRITIC_FILE: attrs["sha256_critic"]}
            )
        for key in TRIAL_USER_ATTRS:
            trial.set_user_attr(key, attrs[key])
        record = TrialRecord(
            study_name=self.study_name,
            trial_id=trial._trial_id,
            number=trial.number,
            value=outcome.value if state == "COMPLETE" else None,
            state=state,
            params=dict(trial.params),
            user_attrs=attrs,
            timeframe=timeframe,
            checksums=checksums,
            model=outcome.spec,
            code_version=attrs["code_version"],
        )
        self.store.write_trial(record, files)
