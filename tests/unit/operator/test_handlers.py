"""The handlers' pure parts: trader status figures, typed status writes."""

from __future__ import annotations

from typing import Any

import pytest
from cappuccino_operator.api.sweep import TrainingSweepStatus
from cappuccino_operator.api.trader import ArenaSpec, ArenaStatus, EnsembleSpec
from cappuccino_operator.handlers.common import write_status
from cappuccino_operator.handlers.study import StudyReading, study_ready
from cappuccino_operator.handlers.sweep import progress_message
from cappuccino_operator.handlers.traders import trader_figures
from cappuccino_operator.queries import ArenaLeader, PortfolioEquity, StudySummary
from cappuccino_operator.selection import SelectedTrial, Selection
from pydantic import ValidationError

SEL = Selection(
    "opt",
    (
        SelectedTrial(7, 3, 1.5, "a" * 64, None, "1h"),
        SelectedTrial(9, 5, 1.1, "b" * 64, None, "1h"),
    ),
)
ARENA = ArenaSpec.model_validate({"studyRef": {"name": "st"}, "topN": 2})
ENSEMBLE = EnsembleSpec.model_validate({"studyRef": {"name": "st"}, "topN": 2, "initialCash": 100})


class _Patch:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


def test_arena_leader_fields_carry_the_trial_number_from_the_selection() -> None:
    leader = ArenaLeader(trial_id=9, study_name="opt", sharpe=2.5, promoted=2, ranked_at="t")
    fields = trader_figures(ARENA, leader, SEL)
    assert fields["leader_trial_id"] == 9 and fields["leader_trial_number"] == 5
    status = ArenaStatus(**fields).model_dump(by_alias=True, exclude_unset=True)
    assert status["leaderTrialNumber"] == 5 and status["leaderSharpe"] == 2.5
    unknown = ArenaLeader(trial_id=99, study_name="opt", sharpe=None, promoted=0, ranked_at="t")
    assert trader_figures(ARENA, unknown, SEL)["leader_trial_number"] is None
    assert trader_figures(ARENA, None, SEL) == {}


def test_ensemble_equity_fields() -> None:
    fields = trader_figures(ENSEMBLE, PortfolioEquity(equity=110.0, at="t"), SEL)
    assert fields == {"equity": 110.0, "return_pct": 10.0, "equity_at": "t"}


def test_write_status_writes_set_fields_by_crd_name_and_rejects_unknown_ones() -> None:
    patch = _Patch()
    current = {"done": 3, "observedGeneration": 2, "jobName": "old"}
    fields = TrainingSweepStatus.model_validate({"done": 3, "progress": "3/9", "jobName": None})
    write_status(patch, current, 2, (), fields)  # type: ignore[arg-type]  # a stand-in patch
    # unchanged fields are left out; a field set to None is cleared
    assert patch.status == {"progress": "3/9", "jobName": None}
    with pytest.raises(ValidationError, match="leaderTrialNumbr"):
        ArenaStatus.model_validate({"leaderTrialNumbr": 1})


def test_study_ready_counts_best_trial_report_and_refit() -> None:
    summary = StudySummary("ns.s", counts={"complete": 3, "running": 1, "failed": 2},
                           best_value=1.5, best_trial_id=11, best_trial_number=2)  # fmt: skip
    reading = StudyReading(
        "ns.s", summary, "ns", {"pbo": 0.2, "n_trials": 6, "x": "?"}, "ns.s-refit"
    )
    ready, fields = study_ready(reading, 4)
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "True",
        "StudyReady",
        4,
    )
    assert ready["message"] == "Optuna study 'ns.s': 3 complete, 1 running, 2 failed trials."
    status = fields.model_dump(by_alias=True, exclude_unset=True)
    assert status["bestTrialId"] == 11 and status["refitStudyName"] == "ns.s-refit"
    assert status["report"] == {"pbo": 0.2, "nTrials": 6}
    assert status["trials"] == {"complete": 3, "running": 1, "pruned": 0, "failed": 2, "waiting": 0}
    empty = study_ready(StudyReading("ns.s", None, None, None, None), 1)[1]
    assert empty.model_dump(by_alias=True, exclude_unset=True) == {
        "studyName": "ns.s", "refitStudyName": None,
        "trials": {"complete": 0, "running": 0, "pruned": 0, "failed": 0, "waiting": 0},
    }  # fmt: skip


def test_progress_message_only_when_more_trials_finished() -> None:
    best = StudySummary("s", counts={"complete": 5}, best_value=1.23456)
    assert progress_message(3, best, 5, 10) == "5/10 trials finished; best value 1.235."
    assert progress_message(5, best, 5, 10) is None  # nothing new
    assert progress_message(None, best, 5, 10) is None  # first status: no event
    assert progress_message(3, None, 5, 10) is None  # database unreadable
    assert progress_message(3, StudySummary("s"), 4, 10) == "4/10 trials finished."
