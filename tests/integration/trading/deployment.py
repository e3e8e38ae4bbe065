"""A real study with tradable models, deployed by the registry's own `deploy` (arena + ensemble)."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
import torch
from cappuccino_contracts.artifacts import ACTOR_FILE, CRITIC_FILE, TrialRecord
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from cappuccino_runtime.agent.networks import Critic
from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes
from cappuccino_runtime.data import MarketData
from cappuccino_runtime.deploy.build import deploy
from cappuccino_runtime.registry.queries import connect
from tests.integration.trading.conftest import make_slot

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _bytes(module: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getvalue()


def deploy_study(root: Path, data: MarketData, n_models: int = 4) -> tuple[Path, Path]:
    """Creates study 'demo' with n_models COMPLETE trials and deploys root/arena, root/ensemble."""
    storage = f"sqlite:///{root / 'optuna.db'}"
    store = ArtifactStore(str(root / "artifacts"))
    study = optuna.create_study(study_name="demo", storage=storage, direction="maximize")
    for i in range(n_models):
        slot = make_slot(data, seed=10 + i, net_dimension=16 if i % 2 else 24, study="demo")
        actor, critic = _bytes(slot.actor), _bytes(Critic.from_spec(slot.spec))
        number = len(study.get_trials(deepcopy=False))
        value = 1.0 + i / 10
        attrs = {
            "mean_sharpe_bot": value,
            "mean_sharpe_hodl": 0.1,
            "sharpe_list_bot": [value] * 6,
            "sharpe_list_hodl": [0.1] * 6,
            "std_sharpe_bot": 0.0,
            "timeframe": "1h",
            "artifact_uri": store.trial_uri("demo", number, "1h"),
            "sha256_actor": sha256_bytes(actor),
            "sha256_critic": sha256_bytes(critic),
            "data_hash": "sample",
            "code_version": "test",
            "seed": i,
            "model_spec": slot.spec.model_dump(mode="json"),
        }
        params = {"net_dimension": slot.spec.net_dimension}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params=params,
                distributions={"net_dimension": IntDistribution(8, 64, step=8)},
                user_attrs=attrs,
            )
        )
        frozen = study.get_trials(deepcopy=False)[-1]
        record = TrialRecord(
            study_name="demo",
            trial_id=frozen._trial_id,
            number=number,
            value=value,
            params=params,
            user_attrs=attrs,
            timeframe="1h",
            checksums={ACTOR_FILE: sha256_bytes(actor), CRITIC_FILE: sha256_bytes(critic)},
            model=slot.spec,
            code_version="test",
        )
        store.write_trial(record, {ACTOR_FILE: actor, CRITIC_FILE: critic})
    engine = connect(storage)
    try:
        arena = deploy("arena", engine, store, "demo", n_models, root / "arena", created_by="t")
        ens = deploy("ensemble", engine, store, "demo", n_models, root / "ensemble", created_by="t")
    finally:
        engine.dispose()
    return arena.manifest_path, ens.manifest_path
