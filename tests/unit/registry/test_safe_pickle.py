"""The best_trial reader: FrozenTrial pickles are read as data, hostile ones never run."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import optuna
import pytest

from cappuccino_runtime.validation.safe_pickle import UnverifiablePickle, read_trial_pickle


class _SystemCall:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class _EvalCall:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


class _PopenCall:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[list[str]]]:
        return (subprocess.Popen, (["touch", str(self.marker)],))


def _frozen_trial() -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(
        value=1.25,
        params={"lr": 0.01, "batch": 64},
        distributions={
            "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
            "batch": optuna.distributions.CategoricalDistribution([32, 64]),
        },
    )
    trial._trial_id = 17
    trial.number = 5
    return trial


@pytest.mark.parametrize("payload", [_SystemCall, _EvalCall, _PopenCall])
def test_a_malicious_pickle_is_never_executed(tmp_path: Path, payload: type) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps(payload(marker))
    with pytest.raises(UnverifiablePickle, match="not an Optuna FrozenTrial"):
        read_trial_pickle(data)
    assert not marker.exists()


def test_a_frozen_trial_wrapping_a_payload_is_read_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    trial = _frozen_trial()
    trial._user_attrs = {"x": _SystemCall(marker)}
    summary = read_trial_pickle(pickle.dumps(trial))
    assert summary.trial_id == 17
    assert "posix.system" in summary.globals_named or "nt.system" in summary.globals_named
    assert not marker.exists()


def test_a_frozen_trial_is_summarised_as_data() -> None:
    summary = read_trial_pickle(pickle.dumps(_frozen_trial(), protocol=2))
    assert (summary.number, summary.trial_id, summary.value) == (5, 17, 1.25)
    assert summary.state == "COMPLETE"
    assert summary.params == {"lr": 0.01, "batch": 64}


@pytest.mark.parametrize("data", [b"", b"not a pickle", pickle.dumps({"a": 1})[:-3]])
def test_garbage_is_unverifiable_not_an_exception_of_another_kind(data: bytes) -> None:
    with pytest.raises(UnverifiablePickle):
        read_trial_pickle(data)


def test_plain_objects_are_not_mistaken_for_trials() -> None:
    with pytest.raises(UnverifiablePickle, match="not an Optuna FrozenTrial"):
        read_trial_pickle(pickle.dumps({"_number": 1, "_trial_id": 2}))
