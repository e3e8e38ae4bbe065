"""A tiny trial on the bundled sample with SQLite: user attrs, artifacts, reproducibility."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from cappuccino_contracts.artifacts import ACTOR_FILE, CRITIC_FILE, RETURNS_FILE, TRIAL_USER_ATTRS

from cappuccino_runtime.agent.networks import load_actor, load_critic
from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.metrics import annualised_sharpe
from cappuccino_runtime.training.config import parse_config
from cappuccino_runtime.training.objective import Objective, run_trial
from cappuccino_runtime.training.oos import decode_returns
from cappuccino_runtime.training.plan import build_plan
from cappuccino_runtime.training.runner import TrainOptions, read_plan, run_training
from cappuccino_runtime.training.search_space import DESTINATIONS
from cappuccino_runtime.training.worker import open_storage
from tests.integration.training.support import TINY_CONFIG, local_settings, tiny_market

PARAMS = {
    "learning_rate": 3e-4,
    "batch_size": 64,
    "gamma": 0.99,
    "net_dimension": 16,
    "lookback": 4,
    "clip_range": 0.2,
    "ent_coef": 1e-3,
    "gae_lambda": 0.95,
    "update_epochs": 2,
    "num_steps": 32,
}


def _tiny_objective(
    study: optuna.Study, tmp_path: Path, on_split: Callable[[int, int], None] | None = None
) -> Objective:
    """The objective of TINY_CONFIG on the sample: 4 CPCV groups, 2 held out, 15 % hold-out."""
    config = parse_config(TINY_CONFIG)
    market = tiny_market()
    plan = build_plan(
        market,
        timeframes=["1h"],
        feature_sets=["standard"],
        max_lookback=6,
        n_groups=4,
        n_test_groups=2,
        holdout_fraction=0.15,
    )
    return Objective(
        plan=plan,
        study_name=study.study_name,
        market=market,
        config=config,
        space=config.space(),
        artifact_root=str(tmp_path / "art"),
        base_seed=0,
        device="cpu",
        on_split=on_split,
    )


def test_trial_records_contract_attrs_and_loadable_artifacts(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    summary = run_training(
        TrainOptions(study="tiny", n_trials=2, seed=5, device="cpu"),
        settings=settings,
        config=parse_config(TINY_CONFIG),
        market=tiny_market(),
    )
    assert summary.trials_run == 2
    study = optuna.load_study(study_name="tiny", storage=open_storage(settings.storage))
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    store = ArtifactStore(settings.artifact_root)
    plan = read_plan(study)
    assert plan is not None and plan.holdout is not None
    for t in trials:
        assert set(t.user_attrs) == set(TRIAL_USER_ATTRS)
        attrs = t.user_attrs
        # the value is the hyperparameter score: mean paired excess Sharpe over buy-and-hold
        assert attrs["objective"] == "excess_sharpe"
        assert attrs["value_label"] == (
            "hyperparameter score: mean CPCV excess Sharpe of 6 split agents"
        )
        assert t.value == pytest.approx(sum(attrs["sharpe_list_excess"]) / 6)
        assert len(attrs["sharpe_list_bot"]) == len(attrs["sharpe_list_hodl"]) == 6
        assert attrs["mean_sharpe_bot"] == pytest.approx(sum(attrs["sharpe_list_bot"]) / 6)
        assert attrs["std_sharpe_bot"] == pytest.approx(
            float(np.std(attrs["sharpe_list_bot"], ddof=1))
        )
        assert attrs["seed"] == 5 + 1000 * t.number
        assert attrs["split_seeds"] == [attrs["seed"] + k for k in range(6)]
        assert attrs["plan_digest"] == plan.digest()
        assert attrs["timeframe"] == "1h"
        trial_dir = attrs["artifact_uri"]
        assert trial_dir.endswith(f"/tiny/trial_{t.number}_1h")
        record = store.read_record(trial_dir)
        assert (record.study_name, record.trial_id, record.number) == (
            "tiny",
            t._trial_id,
            t.number,
        )
        assert record.value == t.value
        assert record.params == t.params
        assert record.model.model_dump(mode="json") == attrs["model_spec"]
        assert record.model.normalizer is not None
        actor_bytes = store.read_verified(trial_dir, ACTOR_FILE, record)
        critic_bytes = store.read_verified(trial_dir, CRITIC_FILE, record)
        actor = load_actor(actor_bytes, record.model, attrs["sha256_actor"])
        load_critic(critic_bytes, record.model, attrs["sha256_critic"])
        assert actor(torch.zeros(1, record.model.obs_dim)).shape == (1, 3)
        raw = json.loads((Path(trial_dir.removeprefix("file://")) / "trial.json").read_text())
        assert raw["checksums"] == {
            ACTOR_FILE: attrs["sha256_actor"],
            CRITIC_FILE: attrs["sha256_critic"],
            RETURNS_FILE: attrs["oos_returns_sha256"],
        }
        parts = decode_returns(store.read_verified(trial_dir, RETURNS_FILE, record))
        assert sorted((p.split, p.group) for p in parts) == sorted(
            (k, g) for k, gs in enumerate(itertools.combinations(range(4), 2)) for g in gs
        )
        stamps = {}
        for p in parts:
            # every split holding a group out is tested on the same instants, all before the
            # final hold-out
            assert stamps.setdefault(p.group, p.timestamp.tolist()) == p.timestamp.tolist()
            assert pd.Timestamp(int(p.timestamp[-1]), tz="UTC") < plan.holdout[0]
            assert p.agent.shape == p.hodl.shape == p.timestamp.shape
        hodl = [p.hodl for p in parts if p.split == 0]
        assert attrs["sharpe_list_hodl"][0] == pytest.approx(
            annualised_sharpe(np.concatenate(hodl), 8760)
        )


def test_same_seed_reproduces_value_and_weights() -> None:
    config = parse_config(TINY_CONFIG)
    a = run_trial(PARAMS, tiny_market(), config, seed=3, device="cpu")
    b = run_trial(PARAMS, tiny_market(), config, seed=3, device="cpu")
    c = run_trial(PARAMS, tiny_market(), config, seed=4, device="cpu")
    assert a.sharpe_bot == b.sharpe_bot
    assert a.sharpe_hodl == b.sharpe_hodl == c.sharpe_hodl
    sa, sb, sc = a.actor.state_dict(), b.actor.state_dict(), c.actor.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_every_sampled_parameter_changes_what_is_trained() -> None:
    """Each parameter, changed alone, changes the trained agent: it is used, not only passed."""
    # two CPCV splits keep the 13 runs short; the routing is the same
    config = parse_config({**TINY_CONFIG, "cpcv": {"n_groups": 2, "n_test_groups": 1}})
    market = tiny_market()
    params = {**PARAMS, "timeframe": "1h", "feature_set": "standard"}
    base = run_trial(params, market, config, seed=1, device="cpu")
    changed = {
        "timeframe": "2h",
        "feature_set": "minimal",
        "learning_rate": 1e-3,
        "batch_size": 32,
        "gamma": 0.95,
        "net_dimension": 8,
        "lookback": 5,
        "clip_range": 0.1,
        "ent_coef": 0.5,
        "gae_lambda": 0.5,
        "update_epochs": 1,
        "num_steps": 16,
    }
    assert set(changed) == set(params) == set(DESTINATIONS)
    base_state = base.actor.state_dict()
    for name, value in changed.items():
        other = run_trial({**params, name: value}, market, config, seed=1, device="cpu")
        state = other.actor.state_dict()
        same = set(state) == set(base_state) and all(
            state[k].shape == base_state[k].shape and torch.equal(state[k], base_state[k])
            for k in state
        )
        assert not same, f"changing {name} left the trained actor unchanged"


def test_pruner_stops_a_trial_after_its_first_split(tmp_path: Path) -> None:
    study = optuna.create_study(
        direction="maximize",
        storage=f"sqlite:///{tmp_path / 'o.db'}",
        pruner=optuna.pruners.ThresholdPruner(lower=1e9),  # every value is "too low"
    )
    splits: list[int] = []
    objective = _tiny_objective(
        study, tmp_path, on_split=lambda number, index: splits.append(index)
    )
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert splits == []  # stopped after split 0's evaluation, before the next split
    # a pruned trial keeps what it evaluated (N for DSR counts it), and no weights
    trial_dir = Path(trial.user_attrs["artifact_uri"].removeprefix("file://"))
    store = ArtifactStore(str(tmp_path / "art"))
    record = store.read_record(str(trial_dir))
    assert record.state == "PRUNED" and record.value is None
    assert set(record.checksums) == {RETURNS_FILE}
    assert not (trial_dir / ACTOR_FILE).exists()
    parts = decode_returns(store.read_verified(str(trial_dir), RETURNS_FILE, record))
    assert {(p.split, p.group) for p in parts} == {(0, 0), (0, 1)}


def test_a_trial_failing_after_a_split_keeps_what_it_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N for the DSR counts evaluated-then-failed trials, so they keep their returns too."""
    from cappuccino_runtime.training import objective as objective_module
    from cappuccino_runtime.training.report import evaluated_count

    real = objective_module.train_split

    def fail_on_split_1(prepared, split, *args, **kwargs):  # type: ignore[no-untyped-def]
        if split.index == 1:
            raise RuntimeError("simulated out-of-memory in split 1")
        return real(prepared, split, *args, **kwargs)

    monkeypatch.setattr(objective_module, "train_split", fail_on_split_1)
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'o.db'}")
    objective = _tiny_objective(study, tmp_path)
    study.optimize(objective, n_trials=1, catch=(RuntimeError,))
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.FAIL
    assert len(trial.user_attrs["sharpe_list_bot"]) == 1
    store = ArtifactStore(str(tmp_path / "art"))
    record = store.read_record(trial.user_attrs["artifact_uri"])
    assert record.state == "FAIL" and set(record.checksums) == {RETURNS_FILE}
    assert evaluated_count(study) == 1
