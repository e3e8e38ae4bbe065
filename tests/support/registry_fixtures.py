"""Real Optuna studies with real trials and real artifacts, for the registry and validation tests.

Trials are added through Optuna's public API (`study.add_trial(create_trial(...))`) carrying
the user attrs docs/CONTRACTS.md fixes; artifacts are written by `ArtifactStore.write_trial`
with small real Actor/Critic state dicts. Several studies share trial numbers on purpose.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
import torch
from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    ModelSpec,
    NormalizerStats,
    TrialRecord,
)
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from cappuccino_runtime.agent.networks import Actor, Critic, state_dict_bytes
from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes

__all__ = [
    "FixtureTrial",
    "RegistryWorld",
    "add_model_trial",
    "build_world",
    "make_spec",
    "tree_state",
]

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
    "net_dimension": IntDistribution(8, 64, step=8),
    "batch_size": CategoricalDistribution([32, 64, 128]),
    "lookback": IntDistribution(1, 8),
}


def make_spec(net_dimension: int = 16, obs_dim: int = 8, action_dim: int = 2) -> ModelSpec:
    """A small but complete ModelSpec (2 symbols, hourly bars)."""
    return ModelSpec(
        symbols=["BTC/USD", "ETH/USD"],
        timeframe="1h",
        lookback=2,
        feature_set="ohlcv-basic",
        obs_dim=obs_dim,
        action_dim=action_dim,
        net_dimension=net_dimension,
        normalizer=NormalizerStats(mean=[0.0] * obs_dim, std=[1.0] * obs_dim),
    )


@dataclass(frozen=True)
class FixtureTrial:
    """One trial the fixtures created, with where its artifacts are."""

    study_name: str
    trial_id: int
    number: int
    value: float | None
    state: str
    trial_dir: Path | None
    spec: ModelSpec
    actor_sha256: str | None


@dataclass
class RegistryWorld:
    """Storage URL, artifact root and every trial created, per study."""

    storage: str
    artifact_root: Path
    trials: dict[str, list[FixtureTrial]] = field(default_factory=dict)

    def complete(self, study_name: str) -> list[FixtureTrial]:
        """COMPLETE trials of a study, best first (maximize studies)."""
        done = [t for t in self.trials[study_name] if t.state == "COMPLETE"]
        return sorted(done, key=lambda t: (-(t.value or 0.0), t.number))


def add_model_trial(
    study: optuna.Study,
    store: ArtifactStore,
    *,
    value: float | None,
    state: TrialState = TrialState.COMPLETE,
    net_dimension: int = 16,
    seed: int = 0,
    write_artifacts: bool = True,
    write_pickle: bool = False,
) -> FixtureTrial:
    """Adds one trial through Optuna's API and writes its artifacts like training does."""
    spec = make_spec(net_dimension=net_dimension)
    torch.manual_seed(seed)
    actor = state_dict_bytes(Actor.from_spec(spec))
    critic = state_dict_bytes(Critic.from_spec(spec))
    number = len(study.get_trials(deepcopy=False))
    uri = store.trial_uri(study.study_name, number, spec.timeframe)
    sharpes = [value or 0.0] * 6
    attrs: dict[str, Any] = {
        "mean_sharpe_bot": value,
        "mean_sharpe_hodl": 0.1,
        "sharpe_list_bot": sharpes,
        "sharpe_list_hodl": [0.1] * 6,
        "std_sharpe_bot": 0.0,
        "timeframe": spec.timeframe,
        "artifact_uri": uri,
        "sha256_actor": sha256_bytes(actor),
        "sha256_critic": sha256_bytes(critic),
        "data_hash": "fixture",
        "code_version": "test",
        "seed": seed,
        "model_spec": spec.model_dump(mode="json"),
    }
    params = {
        "learning_rate": 3e-4,
        "net_dimension": net_dimension,
        "batch_size": 64,
        "lookback": spec.lookback,
    }
    study.add_trial(
        create_trial(
            state=state,
            value=value if state == TrialState.COMPLETE else None,
            params=params,
            distributions=DISTRIBUTIONS,
            user_attrs=attrs,
        )
    )
    frozen = study.get_trials(deepcopy=False)[-1]
    assert frozen.number == number
    trial_dir: Path | None = None
    if write_artifacts:
        record = TrialRecord(
            study_name=study.study_name,
            trial_id=frozen._trial_id,
            number=number,
            value=value,
            state=state.name,
            params=params,
            user_attrs=attrs,
            timeframe=spec.timeframe,
            checksums={ACTOR_FILE: sha256_bytes(actor), CRITIC_FILE: sha256_bytes(critic)},
            model=spec,
            code_version="test",
        )
        written = store.write_trial(record, {ACTOR_FILE: actor, CRITIC_FILE: critic})
        trial_dir = Path(written.removeprefix("file://"))
        if write_pickle:
            (trial_dir / "best_trial").write_bytes(pickle.dumps(frozen))
    return FixtureTrial(
        study_name=study.study_name,
        trial_id=frozen._trial_id,
        number=number,
        value=value,
        state=state.name,
        trial_dir=trial_dir,
        spec=spec,
        actor_sha256=sha256_bytes(actor),
    )


def build_world(storage: str, artifact_root: Path) -> RegistryWorld:
    """Three studies sharing trial numbers 0..n, mixed states, one minimize study.

    - `alpha` (maximize): values 0.5, 1.2, -0.3, 2.0, 0.9, then a PRUNED and a FAIL trial;
      trial 3 (value 2.0) also has a best_trial pickle.
    - `beta` (maximize): values 3.0, 0.1, 1.5 (numbers 0..2 also exist in alpha).
    - `gamma` (minimize): values 0.7, 0.2, 0.4.
    """
    store = ArtifactStore(str(artifact_root))
    world = RegistryWorld(storage=storage, artifact_root=artifact_root)
    plan: dict[str, tuple[Literal["maximize", "minimize"], list[float | None]]] = {
        "alpha": ("maximize", [0.5, 1.2, -0.3, 2.0, 0.9]),
        "beta": ("maximize", [3.0, 0.1, 1.5]),
        "gamma": ("minimize", [0.7, 0.2, 0.4]),
    }
    for s_index, (name, (direction, values)) in enumerate(plan.items()):
        study = optuna.create_study(study_name=name, storage=storage, direction=direction)
        created = [
            add_model_trial(
                study,
                store,
                value=v,
                seed=100 * s_index + i,
                write_pickle=(name == "alpha" and i == 3),
            )
            for i, v in enumerate(values)
        ]
        if name == "alpha":
            created.append(
                add_model_trial(study, store, value=None, state=TrialState.PRUNED, seed=97)
            )
            created.append(
                add_model_trial(study, store, value=None, state=TrialState.FAIL, seed=98)
            )
        world.trials[name] = created
    return world


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """(sha256, mtime_ns) of every file under root: equal before/after means nothing changed."""
    return {
        str(p.relative_to(root)): (sha256_bytes(p.read_bytes()), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
