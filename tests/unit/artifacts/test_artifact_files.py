"""trial.json and metadata.json: one strict reader each, unknown keys named with their file."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pytest
from cappuccino_contracts.artifacts import (
    LOCAL_FILES,
    METADATA_FILE,
    TRIAL_FILE,
    ArtifactFileError,
    ModelIdentity,
    ModelMetadata,
    ModelNumbers,
    TrialRecord,
    checksum_mismatch,
    identity_mismatches,
    parse_metadata,
    parse_trial_json,
    read_metadata,
    read_trial_json,
    trial_dir_name,
    trial_source_dir,
)

from cappuccino_runtime.artifacts import ArtifactStore, sha256_bytes
from cappuccino_runtime.errors import ArtifactError
from tests.support.registry_fixtures import make_spec

SHA = "a" * 64


def _record() -> TrialRecord:
    return TrialRecord(
        study_name="alpha",
        trial_id=7,
        number=3,
        value=1.5,
        timeframe="1h",
        checksums={"actor.pth": SHA},
        model=make_spec(),
    )


def _metadata() -> ModelMetadata:
    return ModelMetadata(
        trial_number=3,
        trial_id=7,
        study_name="alpha",
        sharpe_value=1.2,
        timeframe="1h",
        source_dir="/artifacts/alpha/trial_3_1h",
        sha256=SHA,
        validation_passed=True,
        deployed_at=datetime(2026, 1, 1, tzinfo=UTC),
        deployed_by="t",
        numbers=ModelNumbers(sharpe=1.2, sharpe_kind="cpcv_split0"),
    )


def _with(raw: dict[str, Any], path: list[str], key: str) -> bytes:
    node = raw
    for part in path:
        node = node[part]
    node[key] = 1
    return json.dumps(raw).encode()


CASES = [
    (TRIAL_FILE, [], "surprise"),
    (TRIAL_FILE, ["model"], "hidden_layers"),
    (TRIAL_FILE, ["model", "execution"], "fee_bps"),
    (METADATA_FILE, [], "sha512"),
    (METADATA_FILE, ["numbers"], "sortino"),
]


@pytest.mark.parametrize(("name", "path", "key"), CASES)
def test_an_unknown_key_fails_naming_the_key_and_the_file(
    name: str, path: list[str], key: str
) -> None:
    model, parse = (
        (_record(), parse_trial_json) if name == TRIAL_FILE else (_metadata(), parse_metadata)
    )
    where = f"/art/alpha/trial_3_1h/{name}"
    with pytest.raises(ArtifactFileError) as e:
        parse(_with(json.loads(model.model_dump_json()), path, key), where)
    message = str(e.value)
    assert f"unknown key {'.'.join([*path, key])!r}" in message and where in message
    assert "\n" not in message


def test_the_readers_round_trip_what_the_writers_write(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    actor = b"x" * 100
    record = _record().model_copy(update={"checksums": {"actor.pth": sha256_bytes(actor)}})
    uri = store.write_trial(record, {"actor.pth": actor})
    trial_dir = str(tmp_path / "alpha" / trial_dir_name(3, "1h"))
    assert uri.endswith(trial_source_dir("alpha", 3, "1h"))
    assert read_trial_json(fsspec.filesystem("file"), trial_dir) == record
    assert read_trial_json(LOCAL_FILES, trial_dir) == record
    assert store.read_record(uri) == record
    meta = _metadata()
    (tmp_path / METADATA_FILE).write_text(meta.model_dump_json(indent=2))
    assert read_metadata(LOCAL_FILES, str(tmp_path)) == meta


def test_missing_and_broken_files_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFileError, match=rf"{tmp_path}/{TRIAL_FILE} is missing"):
        read_trial_json(LOCAL_FILES, str(tmp_path))
    (tmp_path / TRIAL_FILE).write_text("{not json")
    with pytest.raises(ArtifactFileError, match=r"is not a valid trial\.json") as e:
        read_trial_json(LOCAL_FILES, str(tmp_path))
    assert "\n" not in str(e.value)
    raw = json.loads(_record().model_dump_json())
    del raw["study_name"]
    (tmp_path / TRIAL_FILE).write_text(json.dumps(raw))
    with pytest.raises(ArtifactFileError, match="missing key 'study_name'"):
        read_trial_json(LOCAL_FILES, str(tmp_path))
    with pytest.raises(ArtifactError, match="missing key 'study_name'"):
        ArtifactStore(str(tmp_path)).read_record(str(tmp_path))


def test_identity_mismatches_name_each_key_against_its_source() -> None:
    asked = ModelIdentity(study_name="alpha", trial_id=7, number=3, sha256=SHA)
    assert identity_mismatches(asked, asked, "manifest") == []
    other = ModelIdentity(study_name="beta", trial_id=8, number=3, sha256="b" * 64)
    assert identity_mismatches(other, asked, "manifest") == [
        "study_name 'beta' (manifest: 'alpha')",
        "trial_id 8 (manifest: 7)",
        f"the actor hashes to {'b' * 12}… but manifest records {'a' * 12}…",
    ]
    unknown = ModelIdentity(study_name="alpha", trial_id=7)
    assert identity_mismatches(unknown, asked, "database") == []
    assert checksum_mismatch("actor.pth", SHA, None, "trial.json") is None
    assert checksum_mismatch("actor.pth", SHA, SHA, "trial.json") is None


@pytest.mark.parametrize("name", [TRIAL_FILE, METADATA_FILE])
def test_random_and_truncated_bytes_give_one_line_errors_only(name: str) -> None:
    """Whatever bytes a file holds, the reader answers with its model or one ArtifactFileError."""
    model, parse = (
        (_record(), parse_trial_json) if name == TRIAL_FILE else (_metadata(), parse_metadata)
    )
    good = model.model_dump_json(indent=2).encode()
    rng = random.Random(13)
    samples = [good[:cut] for cut in range(0, len(good), 7)]
    samples += [rng.randbytes(rng.randrange(1, 400)) for _ in range(200)]
    samples += [good.replace(b'"', b"'", 1), good + b"}", b"[]", b"null", b'{"a": 1}']
    for data in samples:
        with pytest.raises(ArtifactFileError) as e:
            parse(data, f"/x/{name}")
        assert "\n" not in str(e.value) and f"/x/{name}" in str(e.value)
    assert parse(good, f"/x/{name}") == model
