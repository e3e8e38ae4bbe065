"""`cappuccino models refit`: retrain the chosen hyperparameters on all pre-hold-out bars, score once.

For each of the top-N COMPLETE trials of study S (by hyperparameter score) and each of K seeds:
train one agent on every bar before the hold-out embargo of S's evaluation plan (the same
config, timeframe, features and lookback the trial used), then score it ONCE on the hold-out,
which no trial, pruner or phase-1 selection has seen. Each refit agent is a COMPLETE trial of
Optuna study `S-refit` whose value is its own hold-out Sharpe (annualised); its artifacts sit
in `{root}/S-refit/trial_{n}_{tf}/`, so identity stays (study_name, trial_id). User attrs
(contract 1): source_study, source_trial_id, source_number, refit_seed, holdout_sharpe,
holdout_sharpe_hodl, holdout_bars, holdout_start, holdout_end, hyperparameter_score, dsr, psr,
plus the artifact attrs every trial carries. A (source trial, seed) already refit is skipped,
so a re-run (or a retried Job) finishes the set instead of duplicating it.

DSR deflates the hold-out (excess) Sharpe by the search that chose it: N = every
configuration tried in S (and its phase 1), V = the cross-sectional variance of the trials'
CPCV Sharpes (study report), rescaled to the trial's bar length.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import optuna
from cappuccino_contracts.artifacts import ACTOR_FILE, CRITIC_FILE, RETURNS_FILE, TrialRecord
from cappuccino_contracts.naming import refit_study_name
from optuna.trial import FrozenTrial, TrialState

from cappuccino_runtime.agent.networks import state_dict_bytes
from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.evaluation import (
    expected_max_sharpe,
    probabilistic_sharpe,
    sharpe_moments,
)
from cappuccino_runtime.settings import Settings, pick_device
from cappuccino_runtime.timeframes import timeframe_ratio
from cappuccino_runtime.training.config import TrainingConfig, parse_config, resolve_trial
from cappuccino_runtime.training.cpcv import CPCVSplit
from cappuccino_runtime.training.dataset import prepare
from cappuccino_runtime.training.objective import (
    _market_at,
    code_version,
    train_split,
    trial_seed,
)
from cappuccino_runtime.training.oos import encode_returns
from cappuccino_runtime.training.options import CommonOptions, load_selected_market
from cappuccino_runtime.training.report import compute_report, require_plan, store_report
from cappuccino_runtime.training.runner import CONFIG_ATTR, check_data
from cappuccino_runtime.training.two_phase import calendar_horizons
from cappuccino_runtime.training.worker import create_study, open_storage, trial_value

__all__ = ["RefitOptions", "RefitResult", "run_refit"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RefitOptions(CommonOptions):
    """The flags of `cappuccino models refit` (docs/CONTRACTS.md), after defaults."""

    study: str
    top_n: int = 3
    seeds: int = 3


@dataclass(frozen=True)
class RefitResult:
    """One refit agent: its identity and its own hold-out numbers."""

    study_name: str
    trial_id: int
    number: int
    source_trial_id: int
    refit_seed: int
    holdout_sharpe: float
    holdout_sharpe_hodl: float
    holdout_bars: int
    dsr: float | None
    psr: float | None
    skipped: bool = False


def _config(study: optuna.Study, path: str | None) -> TrainingConfig:
    if path is not None:
        from cappuccino_runtime.training.config import load_config

        return load_config(path)
    raw = study.user_attrs.get(CONFIG_ATTR)
    if raw is None:
        raise ConfigError(
            f"study {study.study_name!r} records no training config; pass the one it was "
            "trained with via --config."
        )
    return parse_config(raw, source=f"study {study.study_name!r} user attr {CONFIG_ATTR}")


def _done(refit: optuna.Study) -> dict[tuple[int, int], FrozenTrial]:
    return {
        (int(t.user_attrs["source_trial_id"]), int(t.user_attrs["refit_seed"])): t
        for t in refit.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if "source_trial_id" in t.user_attrs and "refit_seed" in t.user_attrs
    }


def run_refit(
    opts: RefitOptions,
    *,
    settings: Settings | None = None,
    market: MarketData | None = None,
) -> list[RefitResult]:
    """Refits the top-N trials of `opts.study` with `opts.seeds` seeds each (see module doc)."""
    if opts.top_n < 1 or opts.seeds < 1:
        raise ConfigError(
            f"--top-n and --seeds must be at least 1, got {opts.top_n} and {opts.seeds}."
        )
    settings = settings or Settings.from_env(
        storage=opts.storage, artifact_root=opts.artifact_root, device=opts.device
    )
    storage = open_storage(settings.storage, heartbeats=False)
    try:
        source = optuna.load_study(study_name=opts.study, storage=storage)
    except KeyError:
        raise ConfigError(
            f"study {opts.study!r} does not exist in {settings.storage!r}; check --study and "
            "--storage."
        ) from None
    plan = require_plan(source)
    if plan.holdout is None:
        raise ConfigError(
            f"study {opts.study!r} keeps no final hold-out (holdout.fraction 0), so a refit "
            "agent has nothing unseen to be scored on; train with a hold-out."
        )
    config = _config(source, opts.config)
    if market is None:
        market = load_selected_market(opts, settings.data_cache)
    check_data(plan, market, opts.study)
    store = ArtifactStore(settings.artifact_root)
    report, details = compute_report(source, plan, store)
    store_report(source, report)
    complete = [
        t
        for t in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    if not complete:
        raise ConfigError(f"study {opts.study!r} has no COMPLETE trial to refit; train first.")
    top = sorted(complete, key=lambda t: (-trial_value(t), t.number))[: opts.top_n]
    name = refit_study_name(opts.study)
    refit = create_study(name, storage)
    device = pick_device(settings.device)
    done = _done(refit)
    results: list[RefitResult] = []
    for src in top:
        for k in range(opts.seeds):
            prior = done.get((src._trial_id, k))
            if prior is not None:
                results.append(_result(prior, name, skipped=True))
                continue
            results.append(
                _refit_one(
                    refit,
                    src,
                    k,
                    opts,
                    config,
                    market,
                    plan,
                    store,
                    device,
                    report.n_trials,
                    details.trial_sharpe_variance,
                    details.bar_timeframe,
                )
            )
    return results


def _result(t: FrozenTrial, study_name: str, *, skipped: bool) -> RefitResult:
    a = t.user_attrs
    return RefitResult(
        study_name=study_name,
        trial_id=t._trial_id,
        number=t.number,
        source_trial_id=int(a["source_trial_id"]),
        refit_seed=int(a["refit_seed"]),
        holdout_sharpe=float(a["holdout_sharpe"]),
        holdout_sharpe_hodl=float(a["holdout_sharpe_hodl"]),
        holdout_bars=int(a["holdout_bars"]),
        dsr=a.get("dsr"),
        psr=a.get("psr"),
        skipped=skipped,
    )


def _deflation(variance: float | None, variance_tf: str | None, timeframe: str) -> float | None:
    """V rescaled from the report's bar length to this trial's (per-bar SR ~ sqrt(bar))."""
    if variance is None or variance_tf is None:
        return None
    return variance / timeframe_ratio(timeframe, variance_tf)


def _refit_one(
    refit: optuna.Study,
    src: FrozenTrial,
    k: int,
    opts: RefitOptions,
    config: TrainingConfig,
    market: MarketData,
    plan: Any,
    store: ArtifactStore,
    device: str,
    n_tried: int,
    variance: float | None,
    variance_tf: str | None,
) -> RefitResult:
    refit.enqueue_trial(dict(src.params), skip_if_exists=False)
    trial = refit.ask(fixed_distributions=dict(src.distributions))
    seed = trial_seed(opts.seed, trial.number)
    try:
        setup = resolve_trial(
            trial.params, config, timeframe=market.timeframe, seed=seed, device=device
        )
        setup = calendar_horizons(setup, market.timeframe)
        data = _market_at(market, setup.timeframe)
        prepared = prepare(
            data, setup.feature_set, setup.env.lookback, plan, embargo=config.cpcv.embargo_bars
        )
        assert prepared.holdout is not None
        split = CPCVSplit(
            index=0, test_groups=(), train=(prepared.refit_train,), test=(prepared.holdout,)
        )
        result = train_split(prepared, split, setup, seed, device, config.objective)
    except BaseException:
        refit.tell(trial, state=TrialState.FAIL)
        raise
    (part,) = result.returns
    excess = config.objective == "excess_sharpe"
    scored = part.agent - part.hodl if excess else part.agent
    moments = sharpe_moments(scored)
    psr = probabilistic_sharpe(moments.sharpe, 0.0, moments.n_obs, moments.skew, moments.kurtosis)
    v = _deflation(variance, variance_tf, setup.timeframe)
    dsr = None
    if v is not None:
        sr0 = expected_max_sharpe(v, max(n_tried, 1))
        dsr = probabilistic_sharpe(
            moments.sharpe, sr0, moments.n_obs, moments.skew, moments.kurtosis
        )
    h0, h1 = prepared.holdout
    bars = h1 - h0
    start = plan.holdout[0].isoformat()
    end = plan.holdout[1].isoformat()
    actor_bytes, critic_bytes = state_dict_bytes(result.actor), state_dict_bytes(result.critic)
    returns_bytes = encode_returns(result.returns)
    attrs: dict[str, Any] = {
        "source_study": opts.study,
        "source_trial_id": src._trial_id,
        "source_number": src.number,
        "refit_seed": k,
        "holdout_sharpe": result.sharpe_bot,
        "holdout_sharpe_hodl": result.sharpe_hodl,
        "holdout_sharpe_excess": result.sharpe_excess,
        "holdout_bars": bars,
        "holdout_start": start,
        "holdout_end": end,
        "hyperparameter_score": trial_value(src),
        "dsr": dsr,
        "psr": psr,
        "n_trials_tried": n_tried,
        "value_label": (
            f"hold-out Sharpe of this agent (annualised, {bars} {setup.timeframe} bars, "
            f"{start} .. {end})"
        ),
        "objective": config.objective,
        "mean_sharpe_bot": result.sharpe_bot,
        "mean_sharpe_hodl": result.sharpe_hodl,
        "sharpe_list_bot": [result.sharpe_bot],
        "sharpe_list_hodl": [result.sharpe_hodl],
        "std_sharpe_bot": 0.0,
        "timeframe": setup.timeframe,
        "artifact_uri": store.trial_uri(refit.study_name, trial.number, setup.timeframe),
        "sha256_actor": sha256_bytes(actor_bytes),
        "sha256_critic": sha256_bytes(critic_bytes),
        "oos_returns_sha256": sha256_bytes(returns_bytes),
        "data_hash": data.content_hash(),
        "code_version": code_version(),
        "seed": seed,
        "model_spec": result.spec.model_dump(mode="json"),
        "plan_digest": plan.digest(),
        # turnover per bar, fees, exposure, trades and PPO diagnostics on the hold-out
        "split_diagnostics": [result.diagnostics],
    }
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    record = TrialRecord(
        study_name=refit.study_name,
        trial_id=trial._trial_id,
        number=trial.number,
        value=result.sharpe_bot,
        params=dict(trial.params),
        user_attrs=attrs,
        timeframe=setup.timeframe,
        checksums={
            ACTOR_FILE: attrs["sha256_actor"],
            CRITIC_FILE: attrs["sha256_critic"],
            RETURNS_FILE: attrs["oos_returns_sha256"],
        },
        model=result.spec,
        code_version=attrs["code_version"],
    )
    store.write_trial(
        record, {ACTOR_FILE: actor_bytes, CRITIC_FILE: critic_bytes, RETURNS_FILE: returns_bytes}
    )
    refit.tell(trial, result.sharpe_bot)
    logger.info(
        "refit of %s trial_id %d seed %d: hold-out Sharpe %.3f (buy-and-hold %.3f) on %d bars",
        opts.study,
        src._trial_id,
        k,
        result.sharpe_bot,
        result.sharpe_hodl,
        bars,
    )
    return RefitResult(
        study_name=refit.study_name,
        trial_id=trial._trial_id,
        number=trial.number,
        source_trial_id=src._trial_id,
        refit_seed=k,
        holdout_sharpe=result.sharpe_bot,
        holdout_sharpe_hodl=result.sharpe_hodl,
        holdout_bars=bars,
        dsr=dsr,
        psr=psr,
    )
