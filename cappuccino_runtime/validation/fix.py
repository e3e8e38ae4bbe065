"""`validate --fix`: regenerate a missing trial.json (and, on request, a best_trial pickle)
from the database. The only validation code that writes, and it never overwrites a file.

A trial.json is regenerated only when the weights on disk are the ones the database
recorded (sha256_actor/sha256_critic) and the trial recorded its ModelSpec: otherwise the
directory may hold another run's files, and writing metadata for them would forge identity.
"""

from __future__ import annotations

import posixpath

import fsspec
from cappuccino_contracts.artifacts import (
    ACTOR_FILE,
    CRITIC_FILE,
    PICKLE_FILE,
    TRIAL_FILE,
    TrialRecord,
)

from cappuccino_runtime.atomic import write_atomic
from cappuccino_runtime.errors import ArtifactError
from cappuccino_runtime.registry.models import RegistryTrial
from cappuccino_runtime.validation.files import file_sha256

__all__ = ["fix_trial"]


def _regenerate_record(trial: RegistryTrial, shas: dict[str, str | None]) -> TrialRecord | str:
    spec = trial.model_spec()
    if spec is None:
        return "the trial has no model_spec user attr, so the network cannot be described"
    if shas.get(ACTOR_FILE) is None:
        return "actor.pth is missing, so there is nothing to describe"
    expected = {ACTOR_FILE: trial.sha256_actor, CRITIC_FILE: trial.sha256_critic}
    for name, db_sha in expected.items():
        found = shas.get(name)
        if found is not None and db_sha is not None and found != db_sha:
            return (
                f"{name} on disk hashes to {found[:12]}… but the database records "
                f"{db_sha[:12]}…; these are not this trial's weights"
            )
        if found is not None and db_sha is None:
            return f"the database records no sha256 for {name}, so the file cannot be trusted"
    return TrialRecord(
        study_name=trial.study_name,
        trial_id=trial.trial_id,
        number=trial.number,
        value=trial.value,
        state=trial.state,
        params=trial.params,
        user_attrs=trial.user_attrs,
        timeframe=trial.timeframe or spec.timeframe,
        checksums={k: v for k, v in shas.items() if v is not None},
        model=spec,
        code_version=str(trial.user_attrs.get("code_version", "")),
    )


def fix_trial(
    fs: fsspec.AbstractFileSystem,
    trial_dir: str,
    trial: RegistryTrial,
    storage_url: str,
    write_pickle: bool = False,
) -> list[str]:
    """Writes what is missing in one trial dir; returns one sentence per action or refusal."""
    actions: list[str] = []
    url = fs.unstrip_protocol(trial_dir)
    record_path = posixpath.join(trial_dir, TRIAL_FILE)
    if not fs.isfile(record_path):
        try:
            shas = {n: file_sha256(fs, trial_dir, n) for n in (ACTOR_FILE, CRITIC_FILE)}
        except ArtifactError as e:
            return [f"did not regenerate {url}/{TRIAL_FILE}: {e}"]
        record = _regenerate_record(trial, shas)
        if isinstance(record, str):
            actions.append(f"did not regenerate {url}/{TRIAL_FILE}: {record}.")
        else:
            write_atomic(record_path, record.model_dump_json(indent=2).encode(), fs)
            actions.append(f"regenerated {url}/{TRIAL_FILE} from the database.")
    pickle_path = posixpath.join(trial_dir, PICKLE_FILE)
    if write_pickle and not fs.isfile(pickle_path) and fs.isdir(trial_dir):
        import pickle

        import optuna

        storage = optuna.storages.get_storage(storage_url)
        frozen = storage.get_trial(trial.trial_id)
        write_atomic(pickle_path, pickle.dumps(frozen), fs)
        actions.append(f"wrote {url}/{PICKLE_FILE} (compatibility only; never read back).")
    return actions
