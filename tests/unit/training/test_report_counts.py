"""N for the deflated Sharpe counts every configuration tried, phase 1 included."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from cappuccino_runtime.training.report import configurations_tried, evaluated_count

DIST = {"x": FloatDistribution(0.0, 1.0)}


def _add(study: optuna.Study, state: TrialState, **attrs: object) -> None:
    study.add_trial(
        create_trial(
            state=state,
            value=0.5 if state == TrialState.COMPLETE else None,
            params={"x": 0.5},
            distributions=DIST,
            user_attrs=attrs,
        )
    )


def test_complete_pruned_and_evaluated_failures_count_with_phase1() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for _ in range(3):
        _add(study, TrialState.COMPLETE, sharpe_list_bot=[0.1] * 6)
    _add(study, TrialState.PRUNED, sharpe_list_bot=[0.1])
    _add(study, TrialState.FAIL, sharpe_list_bot=[0.2, 0.1])  # evaluated, then failed
    _add(study, TrialState.FAIL)  # failed before scoring anything: not a configuration tried
    assert evaluated_count(study) == 5
    assert configurations_tried(study) == 5
    phase1 = optuna.create_study(study_name="s-phase1", storage=storage, direction="maximize")
    for _ in range(4):
        _add(phase1, TrialState.COMPLETE)
    _add(phase1, TrialState.PRUNED)
    assert configurations_tried(study) == 10
    assert configurations_tried(phase1) == 5  # a phase-1 study counts itself only
