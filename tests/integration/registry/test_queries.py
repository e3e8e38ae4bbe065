"""Registry queries on real SQLite and PostgreSQL: ranking, identity, ambiguity, one statement."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from sqlalchemy import Engine, event

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.registry import (
    AmbiguousTrialNumber,
    connect,
    get_trial,
    resolve_number,
    top_trials,
)
from tests.support.registry_fixtures import RegistryWorld, add_model_trial


def test_top_trials_ranks_complete_trials_of_one_study_best_first(
    world: RegistryWorld, engine: Engine
) -> None:
    top = top_trials(engine, "alpha", 10)
    expected = world.complete("alpha")
    assert [t.trial_id for t in top] == [t.trial_id for t in expected]
    assert [t.value for t in top] == [2.0, 1.2, 0.9, 0.5, -0.3]
    assert {t.study_name for t in top} == {"alpha"}
    assert all(t.state == "COMPLETE" for t in top)


def test_top_trials_carries_identity_params_artifacts_and_checksums(
    world: RegistryWorld, engine: Engine
) -> None:
    best = top_trials(engine, "alpha", 1)[0]
    fixture = world.complete("alpha")[0]
    assert (best.study_name, best.trial_id, best.number) == ("alpha", fixture.trial_id, 3)
    assert best.timeframe == "1h"
    assert best.params == {
        "batch_size": 64,
        "learning_rate": 3e-4,
        "lookback": 2,
        "net_dimension": 16,
    }
    assert isinstance(best.params["net_dimension"], int)
    assert best.artifact_uri is not None and best.artifact_uri.endswith("alpha/trial_3_1h")
    assert best.sha256_actor == fixture.actor_sha256
    assert best.model_spec() == fixture.spec
    dumped = best.model_dump(mode="json")
    for key in ("timeframe", "artifact_uri", "sha256_actor", "sha256_critic"):
        assert dumped[key] == getattr(best, key)


def test_top_trials_respects_a_minimize_direction(engine: Engine) -> None:
    assert [t.value for t in top_trials(engine, "gamma", 2)] == [0.2, 0.4]


def test_top_trials_limits_and_never_mixes_studies(engine: Engine) -> None:
    beta = top_trials(engine, "beta", 2)
    assert [(t.number, t.value) for t in beta] == [(0, 3.0), (2, 1.5)]
    assert len(top_trials(engine, "beta", 50)) == 3


def test_top_trials_is_one_sql_statement(engine: Engine) -> None:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        top = top_trials(engine, "alpha", 3)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(top) == 3
    assert len(statements) == 1


def test_unknown_study_and_bad_n_are_refused_with_guidance(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"'nope' does not exist.*alpha, beta, gamma"):
        top_trials(engine, "nope", 3)
    with pytest.raises(ConfigError, match="at least 1"):
        top_trials(engine, "alpha", 0)


def test_get_trial_returns_any_state_by_global_id(world: RegistryWorld, engine: Engine) -> None:
    pruned = next(t for t in world.trials["alpha"] if t.state == "PRUNED")
    got = get_trial(engine, pruned.trial_id)
    assert (got.study_name, got.number, got.state, got.value) == (
        "alpha",
        pruned.number,
        "PRUNED",
        None,
    )
    with pytest.raises(ConfigError, match="No trial with trial_id 99999"):
        get_trial(engine, 99999)


def test_a_number_without_a_study_is_refused_and_ambiguity_is_listed(
    world: RegistryWorld, engine: Engine
) -> None:
    with pytest.raises(AmbiguousTrialNumber) as info:
        resolve_number(engine, 1, None)
    message = str(info.value)
    assert "ambiguous" in message and "--study" in message
    for name in ("alpha", "beta", "gamma"):
        trial_id = world.trials[name][1].trial_id
        assert f"'{name}' (trial_id {trial_id})" in message
    assert resolve_number(engine, 1, "beta").trial_id == world.trials["beta"][1].trial_id
    with pytest.raises(ConfigError, match="no trial number 40"):
        resolve_number(engine, 40, "beta")


def test_infinite_values_rank_at_their_ends(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'inf.db'}"
    study = optuna.create_study(study_name="inf", storage=storage, direction="maximize")
    store = ArtifactStore(str(tmp_path / "art"))
    for value in (1.0, math.inf, -math.inf, 5.0):
        add_model_trial(study, store, value=value, write_artifacts=False)
    engine = connect(storage)
    assert [t.value for t in top_trials(engine, "inf", 4)] == [math.inf, 5.0, 1.0, -math.inf]


def test_a_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        connect(f"sqlite:///{tmp_path / 'absent.db'}")
    assert not (tmp_path / "absent.db").exists()


def test_a_duplicated_number_inside_a_study_fails_uniqueness(tmp_path: Path) -> None:
    """Optuna never writes this, but a hand-edited or merged database can: checkpoint 3."""
    from sqlalchemy import text

    from cappuccino_runtime.errors import IdentityError
    from cappuccino_runtime.validation import Checkpoint, ValidationOptions, validate_trial_id

    storage = f"sqlite:///{tmp_path / 'dup.db'}"
    study = optuna.create_study(study_name="dup", storage=storage, direction="maximize")
    store = ArtifactStore(str(tmp_path / "art"))
    first = add_model_trial(study, store, value=1.0)
    engine = connect(storage)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO trials (number, study_id, state, datetime_start) "
                "SELECT number, study_id, 'FAIL', datetime_start FROM trials WHERE trial_id = :t"
            ),
            {"t": first.trial_id},
        )
    with pytest.raises(IdentityError, match="resolves to several trials"):
        resolve_number(engine, first.number, "dup")
    report, _ = validate_trial_id(engine, store, first.trial_id, ValidationOptions())
    failed = [r for r in report.failures() if r.checkpoint is Checkpoint.UNIQUENESS]
    assert len(failed) == 1 and "resolves to trial_ids" in failed[0].message
