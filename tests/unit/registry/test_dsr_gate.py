"""The DSR gate and each model's own numbers, on plain registry rows."""

from __future__ import annotations

from typing import Any

import pytest

from cappuccino_runtime.deploy.build import LowDsrRefused, check_dsr
from cappuccino_runtime.registry import RegistryTrial


def _trial(trial_id: int, value: float, **attrs: Any) -> RegistryTrial:
    return RegistryTrial(
        study_name="s-refit",
        trial_id=trial_id,
        number=trial_id,
        state="COMPLETE",
        value=value,
        direction="MAXIMIZE",
        params={},
        user_attrs=attrs,
    )


def test_gate_passes_models_at_or_above_the_threshold() -> None:
    gate = check_dsr([_trial(1, 1.0, dsr=0.97), _trial(2, 0.8, dsr=0.95)], 0.95, False)
    assert (gate.threshold, gate.overridden) == (0.95, False)


def test_gate_refuses_low_and_unknown_dsr_naming_them() -> None:
    trials = [_trial(1, 1.0, dsr=0.97), _trial(2, 0.8, dsr=0.4), _trial(3, 0.7)]
    with pytest.raises(LowDsrRefused) as info:
        check_dsr(trials, 0.95, False)
    message = str(info.value)
    assert "trial_id 2 (DSR 0.400)" in message and "trial_id 3 (DSR unknown)" in message
    assert "trial_id 1 " not in message and "--allow-low-dsr" in message
    gate = check_dsr(trials, 0.95, True)
    assert gate.overridden


def test_own_numbers_of_a_refit_agent_and_of_a_cpcv_trial() -> None:
    refit = _trial(
        1,
        1.5,
        holdout_sharpe=1.5,
        holdout_bars=330,
        holdout_start="2019-05-01T00:00:00+00:00",
        holdout_end="2019-05-15T00:00:00+00:00",
        dsr=0.6,
        hyperparameter_score=0.2,
    ).numbers()
    assert (refit.sharpe, refit.sharpe_kind, refit.holdout_bars) == (1.5, "holdout", 330)
    assert refit.hyperparameter_score == 0.2
    cpcv = _trial(2, 0.3, sharpe_list_bot=[-1.29, 1.8, 0.1]).numbers()
    # the saved split-0 agent's own number, not the mean the trial value reports
    assert (cpcv.sharpe, cpcv.sharpe_kind, cpcv.hyperparameter_score) == (-1.29, "cpcv_split0", 0.3)
    assert cpcv.holdout_sharpe is None and cpcv.dsr is None
