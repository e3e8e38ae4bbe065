"""The registry CLI as users and init containers call it (docs/CONTRACTS.md argv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cappuccino_runtime.cli.main import main
from tests.support.registry_fixtures import RegistryWorld, tree_state


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_env_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPPUCCINO_STORAGE", raising=False)
    monkeypatch.delenv("CAPPUCCINO_ARTIFACT_ROOT", raising=False)


def test_models_top_json_lists_one_study_best_first(
    world: RegistryWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["models", "top", "--study", "beta", "--n", "2", "--storage", world.storage, "--json"],
        capsys,
    )
    assert code == 0
    rows = json.loads(out)
    assert [(r["study_name"], r["number"], r["value"]) for r in rows] == [
        ("beta", 0, 3.0),
        ("beta", 2, 1.5),
    ]
    assert rows[0]["trial_id"] == world.trials["beta"][0].trial_id
    assert rows[0]["artifact_uri"] and rows[0]["sha256_actor"] and rows[0]["timeframe"] == "1h"


def test_models_top_table_and_show(
    world: RegistryWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["models", "top", "--study", "alpha", "--n", "2", "--storage", world.storage], capsys
    )
    assert code == 0 and "alpha" in out
    trial_id = world.trials["gamma"][2].trial_id
    code, out, _ = run(
        ["models", "show", "--trial-id", str(trial_id), "--storage", world.storage, "--json"],
        capsys,
    )
    assert code == 0
    assert json.loads(out)["study_name"] == "gamma"


def test_models_show_by_number_without_study_is_refused_as_ambiguous(
    world: RegistryWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["models", "show", "--number", "2", "--storage", world.storage], capsys)
    assert code == 2
    assert "ambiguous" in err and "'alpha'" in err and "'beta'" in err and "--study" in err
    code, out, _ = run(
        [
            "models",
            "show",
            "--number",
            "2",
            "--study",
            "beta",
            "--storage",
            world.storage,
            "--json",
        ],
        capsys,
    )
    assert code == 0 and json.loads(out)["trial_id"] == world.trials["beta"][2].trial_id


def test_validate_and_deploy_exit_codes(
    world: RegistryWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--storage", world.storage, "--artifacts", str(world.artifact_root)]
    code, out, _ = run(["validate", "--study", "alpha", "--top-n", "2", "--json", *common], capsys)
    assert code == 0 and json.loads(out)["passed"] is True
    code, _, err = run(
        ["validate", "--study", "alpha", "--top-n", "5", "--min-value", "1.0", *common], capsys
    )
    assert code == 1
    assert err.startswith("error: 1-completion FAILED") and err.count("\n") == 1
    code, _, err = run(["validate", "--study", "alpha", *common], capsys)
    assert code == 2 and "exactly one of" in err
    out_dir = tmp_path / "ens"
    deploy = ["deploy", "ensemble", "--study", "alpha", "--top-n", "2", "--out", str(out_dir)]
    # these fixture trials carry no DSR: the default gate (--min-dsr 0.95) refuses them
    code, _, err = run([*deploy, *common], capsys)
    assert code == 1 and "below --min-dsr 0.95" in err and err.count("\n") == 1
    assert not out_dir.exists()
    code, out, _ = run([*deploy, *common, "--allow-low-dsr"], capsys)
    assert code == 0 and "Deployed 2 models" in out and "OVERRIDDEN" in out
    raw = json.loads((out_dir / "ensemble_manifest.json").read_text())
    assert raw["dsr_gate"] == {"threshold": 0.95, "overridden": True}
    code, _, err = run(
        [
            "validate",
            "--manifest",
            str(out_dir / "ensemble_manifest.json"),
            "--storage",
            world.storage,
        ],
        capsys,
    )
    assert code == 0, err


def test_validate_fix_regenerates_trial_json(
    sqlite_world: RegistryWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.registry.conftest import copy_artifacts

    root, _ = copy_artifacts(sqlite_world, tmp_path)
    best = sqlite_world.complete("alpha")[0]
    record = root / "alpha" / f"trial_{best.number}_1h" / "trial.json"
    record.unlink()
    common = ["--trial-id", str(best.trial_id), "--storage", sqlite_world.storage]
    common += ["--artifacts", str(root)]
    code, _, err = run(["validate", *common], capsys)
    assert code == 1 and "--fix" in err
    assert not record.exists()
    code, _, err = run(["validate", *common, "--fix"], capsys)
    assert code == 0, err
    assert "regenerated" in err and record.is_file()


def test_init_container_entrypoint_fails_with_one_line_on_stderr(
    world: RegistryWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real `cappuccino validate --manifest FILE --artifacts URL` process, as the operator runs it."""
    common = ["--storage", world.storage, "--artifacts", str(world.artifact_root)]
    out_dir = tmp_path / "arena"
    assert (
        run(
            [
                "deploy",
                "arena",
                "--study",
                "alpha",
                "--top-n",
                "2",
                "--out",
                str(out_dir),
                "--allow-low-dsr",
                *common,
            ],
            capsys,
        )[0]
        == 0
    )
    manifest = out_dir / "arena_config.json"
    raw = json.loads(manifest.read_text())
    raw.pop("study_name")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    argv = [sys.executable, "-m", "cappuccino_runtime.cli.main", "validate"]

    def validate(path: Path) -> subprocess.CompletedProcess[str]:
        args = [*argv, "--manifest", str(path), "--artifacts", str(world.artifact_root)]
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)

    good = validate(manifest)
    assert good.returncode == 0, good.stderr
    before = tree_state(tmp_path)
    bad = validate(broken)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "has no study_name" in bad.stderr and "cappuccino deploy arena" in bad.stderr
    assert tree_state(tmp_path) == before


def test_validate_state_dir_checks_a_trader_written_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from cappuccino_runtime.trading.state_files import book_state, write_positions_state

    stale = datetime.now(UTC) - timedelta(days=2)
    book = book_state(stale, 10_000.0, 10_000.0, ["BTC/USD"], [0.0], [1.0], None)
    write_positions_state(tmp_path, {"local/demo": book})
    code, out, err = run(["validate", "--state-dir", str(tmp_path), "--json"], capsys)
    assert code == 1
    assert json.loads(out)["results"][0]["checkpoint"] == "7-live-health"
    assert "stalled" in err
