"""SQL over Optuna's tables against a real (SQLite) Optuna storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from cappuccino_operator.errors import SelectionError
from cappuccino_operator.queries import select_trials, study_summary
from cappuccino_operator.testing import seed_trials
from sqlalchemy import create_engine


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def test_summary_and_top_n(url: str) -> None:
    ids = seed_trials(url, "s", [0.5, 2.0, 1.0, -1.0], failed=2)
    seed_trials(url, "other", [9.0])
    with create_engine(url).connect() as conn:
        summary = study_summary(conn, "s")
        assert summary is not None
        assert summary.counts == {"complete": 4, "failed": 2}
        assert (summary.best_value, summary.best_trial_id) == (2.0, ids[1])
        assert study_summary(conn, "missing") is None
        top = select_trials(conn, "s", top_n=2)
        assert [t.trial_id for t in top.trials] == [ids[1], ids[2]]
        assert all(len(t.sha256) == 64 for t in top.trials)
        floor = select_trials(conn, "s", top_n=3, min_value=0.0)
        assert [t.value for t in floor.trials] == [2.0, 1.0, 0.5]
        with pytest.raises(
            SelectionError, match=r"has 3 COMPLETE trials with value >= 0\.0; topN asks for 4"
        ):
            select_trials(conn, "s", top_n=4, min_value=0.0)


def test_explicit_trial_ids_must_be_complete_trials_of_the_study(url: str) -> None:
    ids = seed_trials(url, "s", [0.5, 2.0])
    other = seed_trials(url, "other", [1.0])
    with create_engine(url).connect() as conn:
        sel = select_trials(conn, "s", trial_ids=[ids[1], ids[0]])
        assert [t.trial_id for t in sel.trials] == [ids[1], ids[0]]
        with pytest.raises(SelectionError, match=rf"{other[0]} \(COMPLETE in study 'other'\)"):
            select_trials(conn, "s", trial_ids=[ids[0], other[0]])
        with pytest.raises(SelectionError, match=r"999 \(missing\)"):
            select_trials(conn, "s", trial_ids=[999])
