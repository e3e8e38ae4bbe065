"""Pure checkpoint decisions (1, 3, 4, 5-with-database) on hand-built inputs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from cappuccino_contracts.artifacts import ModelSpec, TrialRecord

from cappuccino_runtime.registry.models import RegistryTrial, TrialRef
from cappuccino_runtime.validation.checks import (
    check_completion,
    check_db_identity,
    check_metadata,
    check_uniqueness,
    same_value,
)
from cappuccino_runtime.validation.report import Checkpoint, ValidationReport
from cappuccino_runtime.validation.safe_pickle import PickleSummary

SPEC = ModelSpec(
    symbols=["BTC/USD"],
    timeframe="1h",
    lookback=1,
    feature_set="f",
    obs_dim=4,
    action_dim=1,
    net_dimension=8,
)
ACTOR_SHA = "a" * 64
CRITIC_SHA = "c" * 64


def trial(**overrides: Any) -> RegistryTrial:
    base: dict[str, Any] = {
        "study_name": "alpha",
        "trial_id": 42,
        "number": 3,
        "state": "COMPLETE",
        "value": 1.5,
        "direction": "MAXIMIZE",
        "params": {"lr": 0.001, "net_dimension": 8, "batch": 64},
        "user_attrs": {"sha256_actor": ACTOR_SHA, "sha256_critic": CRITIC_SHA},
    }
    base.update(overrides)
    return RegistryTrial(**base)


def record(**overrides: Any) -> TrialRecord:
    base: dict[str, Any] = {
        "study_name": "alpha",
        "trial_id": 42,
        "number": 3,
        "value": 1.5,
        "params": {"lr": 0.001, "net_dimension": 8, "batch": 64},
        "timeframe": "1h",
        "checksums": {"actor.pth": ACTOR_SHA, "critic.pth": CRITIC_SHA},
        "model": SPEC,
    }
    base.update(overrides)
    return TrialRecord(**base)


FILES = {"actor.pth": ACTOR_SHA, "critic.pth": CRITIC_SHA}


def test_completion_passes_a_complete_trial_over_the_threshold() -> None:
    assert check_completion(trial(), min_value=1.0).passed
    assert check_completion(trial(), min_value=None).passed


@pytest.mark.parametrize(
    ("overrides", "threshold", "needle"),
    [
        ({"state": "PRUNED", "value": None}, None, "PRUNED"),
        ({"state": "FAIL", "value": None}, None, "not COMPLETE"),
        ({"value": None}, None, "no value"),
        ({"value": 0.5}, 1.0, "below the threshold"),
        ({"value": 0.5, "direction": "MINIMIZE"}, 0.4, "above the threshold"),
    ],
)
def test_completion_fails_with_a_reason_and_a_fix(
    overrides: dict[str, Any], threshold: float | None, needle: str
) -> None:
    result = check_completion(trial(**overrides), min_value=threshold)
    assert not result.passed
    assert needle in result.message
    assert result.fix
    assert result.checkpoint is Checkpoint.COMPLETION


def test_completion_threshold_is_an_upper_bound_for_minimize_studies() -> None:
    assert check_completion(trial(value=0.3, direction="MINIMIZE"), min_value=0.4).passed


def test_uniqueness_requires_exactly_one_trial_id_for_the_pair() -> None:
    ref = TrialRef(study_name="alpha", trial_id=42, number=3)
    other_study = TrialRef(study_name="beta", trial_id=7, number=3)
    assert check_uniqueness(ref, [ref, other_study]).passed
    duplicate = TrialRef(study_name="alpha", trial_id=43, number=3)
    result = check_uniqueness(ref, [ref, duplicate])
    assert not result.passed
    assert "[42, 43]" in result.message
    assert not check_uniqueness(ref, []).passed


def test_metadata_passes_when_everything_agrees() -> None:
    result = check_metadata(trial(), record(), None, FILES, None, None)
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("rec", "needle"),
    [
        (record(study_name="beta"), "study_name 'beta'"),
        (record(trial_id=41), "trial_id 41"),
        (record(number=4), "number 4"),
        (record(value=1.25), "value 1.25"),
        (record(params={"lr": 0.002, "net_dimension": 8, "batch": 64}), "params ['lr']"),
        (record(params={"lr": 0.001, "net_dimension": 8}), "params ['batch']"),
    ],
)
def test_metadata_names_each_disagreement_with_the_database(rec: TrialRecord, needle: str) -> None:
    result = check_metadata(trial(), rec, None, FILES, None, None)
    assert not result.passed
    assert needle in result.message
    assert result.fix


def test_metadata_reports_checksum_mismatches_against_trial_json_and_database() -> None:
    changed = {"actor.pth": "b" * 64, "critic.pth": CRITIC_SHA}
    result = check_metadata(trial(), record(), None, changed, None, None)
    assert not result.passed and "trial.json records" in result.message
    db_other = trial(user_attrs={"sha256_actor": "d" * 64, "sha256_critic": CRITIC_SHA})
    result = check_metadata(db_other, record(), None, FILES, None, None)
    assert not result.passed and "the database (sha256_actor)" in result.message


def test_metadata_without_trial_json_points_at_fix() -> None:
    result = check_metadata(trial(), None, "trial.json is missing.", FILES, None, None)
    assert not result.passed
    assert "--fix" in result.fix


def test_metadata_compares_the_pickle_summary() -> None:
    good = PickleSummary(
        number=3,
        trial_id=42,
        value=1.5,
        state="COMPLETE",
        params={"lr": 0.001, "net_dimension": 8, "batch": 64},
        globals_named=[],
    )
    assert check_metadata(trial(), record(), None, FILES, good, None).passed
    bad = good.model_copy(update={"trial_id": 9, "value": 2.0})
    result = check_metadata(trial(), record(), None, FILES, bad, None)
    assert not result.passed and "trial_id 9" in result.message and "value 2.0" in result.message
    unverifiable = check_metadata(trial(), record(), None, FILES, None, "it holds posix.system")
    assert not unverifiable.passed and "cannot be verified safely" in unverifiable.message


def test_db_identity_refuses_a_trial_of_another_study() -> None:
    ref = TrialRef(study_name="alpha", trial_id=42, number=3)
    assert check_db_identity(ref, trial(), 1.5).passed
    result = check_db_identity(ref, trial(study_name="beta"), 1.5)
    assert not result.passed and "study_name 'beta' (manifest: 'alpha')" in result.message
    assert not check_db_identity(ref, None, 1.5).passed
    assert "value" in check_db_identity(ref, trial(), 2.5).message


def test_same_value_handles_none_infinities_and_json_round_trips() -> None:
    assert same_value(None, None) and not same_value(None, 0.0)
    assert same_value(math.inf, math.inf) and not same_value(math.inf, 1e308)
    assert same_value(0.1 + 0.2, 0.3)
    assert not same_value(1.0, 1.001)


def test_report_passes_only_when_every_result_passes() -> None:
    ok = check_completion(trial(), None)
    bad = check_completion(trial(state="FAIL", value=None), None)
    assert ValidationReport(results=[ok]).passed
    assert not ValidationReport(results=[ok, bad]).passed
    assert not ValidationReport(results=[]).passed
    line = ValidationReport(results=[ok, bad, bad]).summary_line()
    assert "\n" not in line and "FAILED" in line and "+1 more" in line
