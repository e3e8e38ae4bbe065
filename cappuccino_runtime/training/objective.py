"""The Optuna objective: sample, train one agent per CPCV split, score, record, write artifacts.

One trial:
1. samples its parameters from the search space and routes each one to PPOArgs, EnvConfig or
   the data pipeline (`resolve_trial`; nothing is dropped);
2. builds features at the trial's timeframe and feature set and the CPCV splits;
3. for every split, fits the normaliser on the split's training bars, trains PPO on episodes
   that stay inside the training segments, and scores the agent and equal-weight buy-and-hold
   on the held-out episodes (annualised Sharpe of per-bar returns);
4. reports the running mean Sharpe after each split so the pruner can stop a bad trial;
5. sets the user attrs of docs/CONTRACTS.md and writes actor.pth, critic.pth and trial.json.

The saved model is the agent of split 0, which holds out the two oldest groups and so trains on
the most recent data; its ModelSpec carries that split's normaliser. The trial's value (the mean
over all splits) scores the hyperparameters, not only that one agent.

The seed of trial n is base_seed + n (split k trains with that seed + k), so a trial re-run
with the same parameters and number reproduces its value and weights on the same device.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import math
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import cappuccino_runtime
from cappuccino_runtime.agent.networks import Actor, Critic
from cappuccino_runtime.agent.ppo import train
from cappuccino_runtime.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    ArtifactStore,
    ModelSpec,
    TrialRecord,
    sha256_bytes,
)
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.env import VecTradingEnv, fit_price_scale
from cappuccino_runtime.training.config import TrainingConfig, TrialSetup, resolve_trial
from cappuccino_runtime.training.dataset import PreparedData, prepare, split_data
from cappuccino_runtime.training.scoring import (
    agent_run,
    hodl_curves,
    hodl_sharpe,
    pooled_sharpe,
    run_summary,
)
from cappuccino_runtime.training.search_space import SearchSpace, sample_params

__all__ = [
    "SPLIT_DIAGNOSTICS",
    "USER_ATTRS",
    "Objective",
    "TrialOutcome",
    "code_version",
    "run_trial",
    "trial_seed",
]

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: The user attrs every COMPLETE trial carries (docs/CONTRACTS.md).
USER_ATTRS = (
    "mean_sharpe_bot",
    "mean_sharpe_hodl",
    "sharpe_list_bot",
    "sharpe_list_hodl",
    "std_sharpe_bot",
    "timeframe",
    "artifact_uri",
    "sha256_actor",
    "sha256_critic",
    "data_hash",
    "code_version",
    "seed",
    "model_spec",
    "split_diagnostics",
)

#: Keys of each entry of the `split_diagnostics` user attr (one entry per CPCV split): PPO's
#: approx_kl (mean over iterations; ~0 means the policy never moved), the last iteration's
#: explained variance, the final policy std, and the held-out
#: episodes' turnover per bar, fees (fraction of the book), exposure, trades per bar and
#: tracking error against equal-weight buy-and-hold (per-bar std of the return difference).
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

#: Receives (split index, running mean Sharpe of the splits done); may raise to stop the trial.
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
    """The seed of trial `number`: base seed plus the trial number."""
    return base_seed + number


def _state_bytes(module: torch.nn.Module) -> bytes:
    """torch.save of the module's plain state dict (CPU tensors), as bytes."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
    return buf.getvalue()


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial produced before it is recorded."""

    setup: TrialSetup
    sharpe_bot: list[float]
    sharpe_hodl: list[float]
    actor: Actor
    critic: Critic
    spec: ModelSpec
    data_hash: str
    diagnostics: list[dict[str, float | None]] = dataclasses.field(default_factory=list)
    """one dict per split, keys SPLIT_DIAGNOSTICS"""

    @property
    def mean_sharpe_bot(self) -> float:
        return float(np.mean(self.sharpe_bot))

    @property
    def mean_sharpe_hodl(self) -> float:
        return float(np.mean(self.sharpe_hodl))

    @property
    def std_sharpe_bot(self) -> float:
        return float(np.std(self.sharpe_bot))


def _market_at(market: MarketData, timeframe: str) -> MarketData:
    return market if market.timeframe == timeframe else market.resample(timeframe)


def run_trial(
    params: Mapping[str, Any],
    market: MarketData,
    config: TrainingConfig,
    *,
    seed: int,
    device: str,
    report: SplitReport | None = None,
    on_split: Callable[[int], None] | None = None,
) -> TrialOutcome:
    """Trains and scores one parameter set over every CPCV split (no Optuna needed).

    Args:
        params: sampled parameters (names of search_space.DESTINATIONS).
        market: the data at its base timeframe; resampled if params pick a coarser one.
        config: the training config.
        seed: the trial's seed.
        device: torch device for training and evaluation.
        report: called after each split with (split index, running mean Sharpe).
        on_split: called when a split finishes (progress display).
    """
    setup = resolve_trial(params, config, timeframe=market.timeframe, seed=seed, device=device)
    if config.cpu_threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(config.cpu_threads)
    data = _market_at(market, setup.timeframe)
    embargo = config.cpcv.embargo_bars
    prepared = prepare(
        data,
        setup.feature_set,
        setup.env.lookback,
        n_groups=config.cpcv.n_groups,
        n_test_groups=config.cpcv.n_test_groups,
        embargo=setup.env.lookback + 1 if embargo is None else embargo,
    )
    sharpe_bot: list[float] = []
    sharpe_hodl: list[float] = []
    diagnostics: list[dict[str, float | None]] = []
    saved: tuple[Actor, Critic, ModelSpec] | None = None
    for split in prepared.splits:

        def on_final(metric: float, index: int = split.index) -> None:
            # PPO's last evaluation of this split: report the running mean so the pruner can
            # stop the trial here (report may raise optuna.TrialPruned out of train()).
            if report is not None:
                report(index, float(np.mean([*sharpe_bot, metric])))

        actor, critic, spec, bot, hodl, diag = _train_split(
            prepared, split.index, setup, seed, device, on_final
        )
        diagnostics.append(diag)
        sharpe_bot.append(bot)
        sharpe_hodl.append(hodl)
        if saved is None:
            saved = (actor, critic, spec)
        logger.info(
            "split %d (held out %s): sharpe bot %.3f, hodl %.3f",
            split.index,
            split.test_groups,
            bot,
            hodl,
        )
        if on_split is not None:
            on_split(split.index)
    assert saved is not None
    actor, critic, spec = saved
    return TrialOutcome(
        setup=setup,
        sharpe_bot=sharpe_bot,
        sharpe_hodl=sharpe_hodl,
        actor=actor,
        critic=critic,
        spec=spec,
        data_hash=data.content_hash(),
        diagnostics=diagnostics,
    )


def _train_split(
    prepared: PreparedData,
    index: int,
    setup: TrialSetup,
    seed: int,
    device: str,
    on_final: Callable[[float], None],
) -> tuple[Actor, Critic, ModelSpec, float, float, dict[str, float | None]]:
    split = prepared.splits[index]
    sd = split_data(prepared, split, setup.env)
    market = prepared.market
    args = dataclasses.replace(setup.ppo, seed=seed + index)
    # Every state column is train-scaled: features by the normaliser, price ratios by the std
    # of one-bar log returns over the training bars. Zero-volume bars (forward-filled over an
    # outage) cannot be filled.
    price_scale = fit_price_scale(
        market.close, np.concatenate([np.arange(a, b) for a, b in split.train])
    )
    tradable = market.volume > 0
    env = VecTradingEnv(
        market.open,
        market.close,
        sd.features,
        setup.env,
        num_envs=setup.num_envs,
        device=device,
        seed=seed + index,
        valid_starts=sd.valid_starts,
        price_scale=price_scale,
        tradable=tradable,
    )
    runs: list[Any] = []

    def evaluate(actor: torch.nn.Module) -> float:
        run = agent_run(
            actor,
            market.open,
            market.close,
            sd.features,
            setup.env,
            split.test,
            device,
            price_scale=price_scale,
            tradable=tradable,
        )
        runs.append(run)
        return pooled_sharpe(run.curves, market.timeframe)

    def log(diag: dict[str, float]) -> None:
        logger.debug("split %d %s", index, " ".join(f"{k}={v:.4g}" for k, v in diag.items()))

    rollout = setup.num_envs * args.num_steps
    final_step = args.total_timesteps // rollout * rollout

    def report(global_step: int, metric: float) -> None:
        if global_step == final_step:
            on_final(metric)
        else:
            logger.info("split %d step %d: validation Sharpe %.3f", index, global_step, metric)

    # train() always evaluates after its last iteration: that evaluation is the split's score.
    result = train(args, env, evaluate=evaluate, report=report, log=log)
    bot = result.evaluations[-1][1]
    hodl = hodl_sharpe(market.open, market.close, setup.env, split.test, market.timeframe)
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
    last = result.diagnostics[-1]
    raw = {
        "approx_kl": float(np.mean([d["approx_kl"] for d in result.diagnostics])),
        "explained_variance": last["explained_variance"],
        "policy_std": last["policy_std"],
        **run_summary(
            runs[-1],
            setup.env.initial_cash,
            hodl_curves(market.open, market.close, setup.env, split.test),
        ),
    }
    diag: dict[str, float | None] = {k: (v if math.isfinite(v) else None) for k, v in raw.items()}
    return result.actor, result.critic, spec, bot, hodl, diag


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
        on_split: Callable[[int, int], None] | None = None,
    ) -> None:
        self.study_name = study_name
        self.market = market
        self.config = config
        self.space = space
        self.store = ArtifactStore(artifact_root)
        self.base_seed = base_seed
        self.device = device
        self.on_split = on_split

    def __call__(self, trial: optuna.Trial) -> float:
        """Runs one trial; returns mean_sharpe_bot."""
        import optuna

        params = sample_params(trial, self.space)
        seed = trial_seed(self.base_seed, trial.number)

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"trial {trial.number} pruned after split {step}: running mean Sharpe {value:.3f}"
                )

        def on_split(index: int) -> None:
            if self.on_split is not None:
                self.on_split(trial.number, index)

        outcome = run_trial(
            params,
            self.market,
            self.config,
            seed=seed,
            device=self.device,
            report=report,
            on_split=on_split,
        )
        value = outcome.mean_sharpe_bot
        if not math.isfinite(value):
            raise ValueError(f"trial {trial.number} scored a non-finite Sharpe ({value}).")

        actor_bytes, critic_bytes = _state_bytes(outcome.actor), _state_bytes(outcome.critic)
        timeframe = outcome.setup.timeframe
        attrs: dict[str, Any] = {
            "mean_sharpe_bot": value,
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
            "split_diagnostics": outcome.diagnostics,
        }
        for key in USER_ATTRS:
            trial.set_user_attr(key, attrs[key])
        record = TrialRecord(
            study_name=self.study_name,
            trial_id=trial._trial_id,
            number=trial.number,
            value=value,
            params=dict(trial.params),
            user_attrs=attrs,
            timeframe=timeframe,
            checksums={ACTOR_FILE: attrs["sha256_actor"], CRITIC_FILE: attrs["sha256_critic"]},
            model=outcome.spec,
            code_version=attrs["code_version"],
        )
        self.store.write_trial(record, {ACTOR_FILE: actor_bytes, CRITIC_FILE: critic_bytes})
        return value
