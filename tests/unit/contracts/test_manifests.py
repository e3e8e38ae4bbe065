"""cappuccino_contracts.manifests: files written by the code before the move still load, in the
same on-disk format, and an unknown key anywhere fails with one line naming the key and file.

The files under data/ were written by the pre-contracts code (main at b0703fa): the runtime's
`cappuccino deploy` (json.dumps(model_dump(mode="json"))) and the operator's manifest_document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cappuccino_contracts.errors import ConfigError
from cappuccino_contracts.manifests import (
    ArenaConfig,
    EnsembleManifest,
    ManifestError,
    read_manifest,
)

DATA = Path(__file__).parent / "data"
FILES = {
    "deploy_ensemble_manifest.json": EnsembleManifest,
    "deploy_arena_config.json": ArenaConfig,
    "operator_ensemble_manifest.json": EnsembleManifest,
    "operator_arena_config.json": ArenaConfig,
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_manifests_written_by_the_old_code_load_and_keep_their_format(name: str) -> None:
    raw = json.loads((DATA / name).read_text())
    manifest = read_manifest(DATA / name)
    assert isinstance(manifest, FILES[name])
    assert manifest.study_name == raw["study_name"]
    written = json.loads(manifest.model_dump_json(exclude_unset=True))
    if isinstance(raw.get("voting"), str):  # the operator's shorthand `"voting": "majority"`
        raw["voting"] = {"rule": raw["voting"]}
    assert written == raw
    if name.startswith("deploy_"):  # the runtime writes every field: byte-for-byte the same JSON
        dumped = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
        assert dumped == (DATA / name).read_text()


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name.removeprefix("operator_").removeprefix("deploy_")
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("operator_ensemble_manifest.json", ()),
        ("operator_arena_config.json", ()),
        ("operator_arena_config.json", ("models", 0)),
        ("operator_arena_config.json", ("models", 1, "validation_status")),
        ("operator_ensemble_manifest.json", ("model_numbers", 0)),
        ("operator_ensemble_manifest.json", ("risk",)),
        ("deploy_ensemble_manifest.json", ("voting",)),
        ("deploy_arena_config.json", ("dsr_gate",)),
    ],
)
def test_an_unknown_key_anywhere_fails_naming_the_key_and_the_file(
    name: str, where: tuple[str | int, ...], tmp_path: Path
) -> None:
    doc = json.loads((DATA / name).read_text())
    node: Any = doc
    for step in where:
        node = node[step]
    node["max_drawdown_pct"] = 0.2  # a plausible misspelling that used to vanish
    path = _write(tmp_path, name, doc)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    key = ".".join(str(s) for s in (*where, "max_drawdown_pct"))
    assert f"unknown key {key!r}" in message
    assert str(path) in message
    assert isinstance(info.value, ConfigError)  # the CLI's user-error exit (2)


def test_a_manifest_without_identity_is_refused(tmp_path: Path) -> None:
    doc = json.loads((DATA / "deploy_ensemble_manifest.json").read_text())
    del doc["trial_ids"]
    with pytest.raises(ManifestError, match="has no trial_ids"):
        read_manifest(_write(tmp_path, "deploy_ensemble_manifest.json", doc))


def test_a_deploy_directory_resolves_to_its_one_manifest(tmp_path: Path) -> None:
    doc = json.loads((DATA / "deploy_arena_config.json").read_text())
    _write(tmp_path, "deploy_arena_config.json", doc)
    assert isinstance(read_manifest(tmp_path), ArenaConfig)
    _write(tmp_path, "deploy_ensemble_manifest.json", doc | {"kind": "ensemble"})
    with pytest.raises(ManifestError, match="holds both"):
        read_manifest(tmp_path)
