"""`cappuccino study report`: PBO (CSCV), PSR/DSR and performance degradation of one study.

Reads every trial's stored out-of-sample returns (oos.py; checked against trial.json's
sha256), builds each COMPLETE trial's mean-of-paths series, aligns them on the same bars and
runs evaluation/. N for the deflated Sharpe counts every configuration tried: COMPLETE,
PRUNED and failed trials that evaluated a split, plus the trials of the study's phase-1 study.
The result is stored as the study user attr `report` (docs/CONTRACTS.md, contract 2); a number
that cannot be computed is null, never made up.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import optuna
from cappuccino_contracts.artifacts import RETURNS_FILE
from cappuccino_contracts.naming import PHASE1_SUFFIX
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.errors import ArtifactError, ConfigError
from cappuccino_runtime.evaluation import (
    deflated_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    sharpe_moments,
)
from cappuccino_runtime.evaluation.matrix import align_trials, mean_path_series
from cappuccino_runtime.evaluation.sharpe import per_bar_sharpe
from cappuccino_runtime.metrics import bars_per_year
from cappuccino_runtime.timeframes import timeframe_delta
from cappuccino_runtime.training.oos import decode_returns
from cappuccino_runtime.training.plan import EvaluationPlan
from cappuccino_runtime.training.worker import trial_value

__all__ = [
    "REPORT_ATTR",
    "ReportDetails",
    "StudyReport",
    "compute_report",
    "configurations_tried",
    "evaluated_count",
    "refresh_report",
    "require_plan",
    "store_report",
]

REPORT_ATTR = "report"


class StudyReport(BaseModel):
    """The study user attr `report` (contract 2); null = could not be computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pbo: float | None
    dsr: float | None
    psr: float | None
    n_trials: int
    sharpe_selected: float | None
    degradation_slope: float | None
    prob_oos_loss: float | None
    computed_at: datetime
    selected_trial_id: int | None


@dataclass(frozen=True)
class ReportDetails:
    """What the printed report adds: sizes, and what the refit's DSR needs."""

    n_in_matrix: int
    n_bars: int
    n_blocks: int | None
    bar_timeframe: str | None
    trial_sharpe_variance: float | None
    """cross-sectional variance of the trials' per-bar Sharpes at `bar_timeframe`"""
    notes: list[str]


def evaluated_count(study: optuna.Study) -> int:
    """Configurations this study tried: COMPLETE, PRUNED, and FAIL trials that scored a split."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and t.user_attrs.get("sharpe_list_bot")
        ):
            n += 1
    return n


def configurations_tried(study: optuna.Study) -> int:
    """N for the DSR: configurations tried in this study plus, for NAME, in NAME-phase1."""
    n = evaluated_count(study)
    if not study.study_name.endswith(PHASE1_SUFFIX):
        try:
            phase1 = optuna.load_study(
                study_name=f"{study.study_name}{PHASE1_SUFFIX}", storage=study._storage
            )
        except KeyError:
            return n
        n += evaluated_count(phase1)
    return n


def _series(
    store: ArtifactStore, trial: FrozenTrial, plan: EvaluationPlan
) -> tuple[np.ndarray, np.ndarray]:
    uri = trial.user_attrs.get("artifact_uri")
    if uri is None:
        raise ArtifactError(f"trial_id {trial._trial_id} records no artifact_uri.")
    record = store.read_record(str(uri))
    if RETURNS_FILE not in record.checksums:
        raise ArtifactError(f"{uri} holds no {RETURNS_FILE}; it predates stored returns.")
    parts = decode_returns(store.read_verified(str(uri), RETURNS_FILE, record), f"{uri}")
    excess = trial.user_attrs.get("objective", "sharpe") == "excess_sharpe"
    segments = {
        (p.split, p.group): (p.timestamp, p.agent - p.hodl if excess else p.agent) for p in parts
    }
    design = list(itertools.combinations(range(len(plan.groups)), plan.n_test_groups))
    return mean_path_series(segments, design, len(plan.groups))


def _blocks(n_bars: int, wanted: int) -> int | None:
    s = min(wanted, (n_bars // 4) // 2 * 2)
    return s if s >= 2 else None


def compute_report(
    study: optuna.Study, plan: EvaluationPlan, store: ArtifactStore, n_blocks: int = 16
) -> tuple[StudyReport, ReportDetails]:
    """PBO, DSR, PSR and degradation of `study` (nothing is stored; see store_report)."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    n_tried = configurations_tried(study)
    notes: list[str] = []
    now = datetime.now(UTC)
    if not complete:
        empty = StudyReport(
            pbo=None,
            dsr=None,
            psr=None,
            n_trials=n_tried,
            sharpe_selected=None,
            degradation_slope=None,
            prob_oos_loss=None,
            computed_at=now,
            selected_trial_id=None,
        )
        return empty, ReportDetails(0, 0, None, None, None, ["no COMPLETE trial yet"])
    selected = max(complete, key=trial_value)
    series, widths, kept = [], [], []
    for t in complete:
        if t.user_attrs.get("plan_digest") != plan.digest():
            notes.append(f"trial_id {t._trial_id} ran under another plan; left out")
            continue
        try:
            series.append(_series(store, t, plan))
        except (ArtifactError, ValueError, KeyError) as e:
            notes.append(f"trial_id {t._trial_id}: {e}; left out")
            continue
        widths.append(int(timeframe_delta(str(t.user_attrs["timeframe"])).value))
        kept.append(t)
    if selected not in kept:
        notes.append(f"the selected trial_id {selected._trial_id} has no usable returns")
        return (
            StudyReport(
                pbo=None,
                dsr=None,
                psr=None,
                n_trials=n_tried,
                sharpe_selected=None,
                degradation_slope=None,
                prob_oos_loss=None,
                computed_at=now,
                selected_trial_id=selected._trial_id,
            ),
            ReportDetails(len(kept), 0, None, None, None, notes),
        )
    stamps, matrix = align_trials(series, widths)
    coarse_ns = max(widths)
    coarse_tf = str(kept[widths.index(coarse_ns)].user_attrs["timeframe"])
    col = kept.index(selected)
    chosen = matrix[:, col]
    sharpes = [per_bar_sharpe(matrix[:, j]) for j in range(matrix.shape[1])]
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else None
    moments = sharpe_moments(chosen)
    psr = probabilistic_sharpe(moments.sharpe, 0.0, moments.n_obs, moments.skew, moments.kurtosis)
    dsr = deflated_sharpe(chosen, sharpes, n_trials=max(n_tried, len(sharpes)))
    pbo = slope = loss = None
    blocks = _blocks(matrix.shape[0], n_blocks)
    if len(kept) >= 2 and blocks is not None:
        result = pbo_cscv(matrix, n_trials=len(kept), n_blocks=blocks)
        pbo, loss = result.pbo, result.prob_oos_loss
        slope = None if math.isnan(result.degradation_slope) else result.degradation_slope
    else:
        notes.append("PBO needs at least 2 trials with returns on the same bars")
    report = StudyReport(
        pbo=pbo,
        dsr=dsr,
        psr=psr,
        n_trials=n_tried,
        sharpe_selected=moments.sharpe * math.sqrt(bars_per_year(coarse_tf)),
        degradation_slope=slope,
        prob_oos_loss=loss,
        computed_at=now,
        selected_trial_id=selected._trial_id,
    )
    details = ReportDetails(
        n_in_matrix=len(kept),
        n_bars=int(stamps.size),
        n_blocks=blocks,
        bar_timeframe=coarse_tf,
        trial_sharpe_variance=variance,
        notes=notes,
    )
    return report, details


def store_report(study: optuna.Study, report: StudyReport) -> None:
    """Stores the report as the study user attr `report` (JSON)."""
    study.set_user_attr(REPORT_ATTR, report.model_dump(mode="json"))


def refresh_report(
    study: optuna.Study, plan: EvaluationPlan, store: ArtifactStore
) -> StudyReport | None:
    """Recomputes and stores the report when a worker ends, so every study (refit or not, CLI
    or TrainingSweep) carries its PBO and DSR; the last worker of a sweep leaves the report of
    all its trials. A report that counts more configurations than this one (a worker that
    finished later and stored first) is kept. Returns what was stored, or None."""
    report, _ = compute_report(study, plan, store)
    if report.selected_trial_id is None:
        return None  # no COMPLETE trial yet: nothing to report
    stored = study.user_attrs.get(REPORT_ATTR)
    if isinstance(stored, dict) and int(stored.get("n_trials") or 0) > report.n_trials:
        return None
    store_report(study, report)
    return report


def require_plan(study: optuna.Study) -> EvaluationPlan:
    """The study's evaluation plan, or a ConfigError saying why there is none."""
    from cappuccino_runtime.training.runner import read_plan

    plan = read_plan(study)
    if plan is None:
        raise ConfigError(
            f"study {study.study_name!r} has no evaluation plan (it was trained before the "
            "hold-out and calendar CPCV existed, or has no trial yet); train it with this "
            "version of `cappuccino train`."
        )
    return plan
