"""Issue 10.13 against a real API server: a Study's sampler (`algorithm`), pruner
(`earlyStopping`) and training sizes reach the workers' train config, and `objective.goal`
ends a sweep early (Succeeded reason GoalReached, workers suspended)."""

from __future__ import annotations

import json

import pytest
from cappuccino_contracts.naming import train_config_name
from cappuccino_operator.testing import seed_trials

from tests.controlplane.test_operator_examples import cond
from tests.controlplane.test_operator_level import TIMEOUT, _apply, _study, _try_get, _wait_cond
from tests.support.controlplane import ControlPlane, OperatorProcess


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "1"}


def test_algorithm_early_stopping_and_goal_from_the_crd(
    operator: OperatorProcess, control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    study_name = _study(
        cp,
        operator,
        namespace,
        algorithm={"name": "random", "nStartupTrials": 3},
        earlyStopping={"name": "none", "startupTrials": 2},
        training={"totalTimesteps": 512, "numEnvs": 4},
        objective={"goal": 1.5},
    )
    _apply(cp, namespace, "TrainingSweep", "sw", {"studyRef": {"name": "s"}, "trials": 10})
    cm = operator.wait_until(
        lambda: _try_get(cp, namespace, "configmap", train_config_name("sw")),
        TIMEOUT,
        "the train config",
    )
    config = json.loads(cm["data"]["train.json"])
    assert (config["sampler"], config["n_startup_trials"]) == ("random", 3)
    assert (config["pruner"], config["pruner_startup_trials"]) == ("none", 2)
    assert config["ppo"]["total_timesteps"] == 512 and config["env"]["num_envs"] == 4

    seed_trials(operator.storage_url, study_name, [1.0, 1.2])
    s = operator.wait_until(
        lambda: (
            (o := _try_get(cp, namespace, "trainingsweep", "sw"))
            and o["status"].get("done") == 2
            and o
        ),
        TIMEOUT,
        "two trials counted",
    )
    assert cond(s, "Succeeded").get("status") != "True"  # below the goal: the sweep goes on
    seed_trials(operator.storage_url, study_name, [1.6])
    s = _wait_cond(
        operator,
        cp,
        namespace,
        "trainingsweep",
        "sw",
        "Succeeded",
        status="True",
        reason="GoalReached",
    )
    assert "goal 1.5" in cond(s, "Succeeded")["message"]
    operator.wait_until(
        lambda: (_try_get(cp, namespace, "job", "sw-workers") or {}).get("spec", {}).get("suspend"),
        TIMEOUT,
        "workers suspended",
    )
