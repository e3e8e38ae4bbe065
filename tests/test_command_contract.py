"""Every argv the operator builds (contracts/cappuccino_contracts/argv.py, via the real builders
and the examples) parses with the runtime's Typer app: a renamed or retyped flag on either side
fails here, not in a cluster. Parsing only: nothing is invoked.

A command missing from the runtime CLI FAILS, naming it (never a skip: a renamed command must
not turn its tests into skips).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from cappuccino_contracts.argv import (
    DataOptions,
    Replay,
    TraderOptions,
    arena_command,
    study_create_command,
    trade_command,
    train_command,
    validate_command,
)
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.api.sweep import TrainingSweepSpec
from cappuccino_operator.api.trader import ArenaSpec, EnsembleSpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.builders.sweep import (
    build_refit_job,
    build_sweep_job,
    build_train_config,
    train_config,
)
from cappuccino_operator.builders.trader import (
    build_manifest_configmap,
    build_trader_deployment,
    manifest_document,
)
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.selection import SelectedTrial, Selection

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG = OperatorConfig(storage_url="sqlite://")


def _spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())["spec"]


def parse(argv: list[str]) -> Any:
    """Resolves `cappuccino <sub> [<sub>] ...` to its click command and parses the options."""
    from cappuccino_runtime.cli.main import app

    assert argv[0] == "cappuccino", argv
    cmd: Any = typer.main.get_command(app)
    args = list(argv[1:])
    path = ["cappuccino"]
    # Typer may carry its own copy of click, so groups are recognised by behaviour.
    while hasattr(cmd, "list_commands"):
        sub = cmd.get_command(cmd.context_class(cmd), args[0])
        if sub is None:
            pytest.fail(f"`{' '.join([*path, args[0]])}` does not exist in the runtime CLI")
        path.append(args.pop(0))
        cmd = sub
    return cmd.make_context(" ".join(path), args, resilient_parsing=False)


def _study():
    return study_context(
        "btc-hourly", StudySpec.model_validate(_spec("study.yaml")), CONFIG, namespace="ns"
    )


def _selection() -> Selection:
    return Selection(
        "btc-hourly",
        tuple(SelectedTrial(10 + i, i, 1.0 - i / 10, "ab" * 32, None, "1h") for i in range(5)),
    )


def _trader_argvs(spec: ArenaSpec | EnsembleSpec) -> list[list[str]]:
    study = _study()
    manifest = manifest_document("t", "ns", spec, study, _selection(), "2026-01-01T00:00:00Z")
    cm = build_manifest_configmap("t", "ns", spec, manifest, 1)
    dep = build_trader_deployment("t", "ns", spec, study, CONFIG, cm)
    pod = dep["spec"]["template"]["spec"]
    return [c["command"] for c in pod["initContainers"] + pod["containers"]]


def test_sweep_worker_argv_parses() -> None:
    for gpu in (0, 1):
        spec = TrainingSweepSpec.model_validate(
            {**_spec("trainingsweep.yaml"), "resources": {"gpu": gpu}}
        )
        job = build_sweep_job("s", "ns", spec, _study(), CONFIG)
        ctx = parse(job["spec"]["template"]["spec"]["containers"][0]["command"])
        assert ctx.params["study"] == "ns.btc-hourly"
        # the budget (100) is in the ConfigMap key the worker re-reads, not in argv
        assert str(ctx.params["study_budget_file"]) == "/etc/cappuccino/study_budget"
        assert ctx.params["study_budget"] is None
        assert build_train_config("s", "ns", _study(), spec)["data"]["study_budget"] == "100"


def test_refit_argv_parses() -> None:
    """Contract 1: the Job a succeeded sweep runs."""
    spec = TrainingSweepSpec.model_validate(
        {**_spec("trainingsweep.yaml"), "refit": {"topN": 3, "seeds": 2}}
    )
    job = build_refit_job("s", "ns", spec, _study(), CONFIG)
    ctx = parse(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert ctx.params["study"] == "ns.btc-hourly"


def test_train_config_file_is_accepted_by_the_runtime() -> None:
    """The `--config` file the operator mounts parses with the runtime's TrainingConfig."""
    from cappuccino_runtime.training.config import parse_config

    config = train_config(_study())
    parsed = parse_config(config, source="examples/study.yaml")
    assert parsed.env.fee_rate == 0.0025 and parsed.cpcv.n_groups == 4


def test_train_argv_minimal_and_full_parse() -> None:
    parse(train_command(study="s", study_budget=3))
    ctx = parse(train_command(study="s", study_budget_file="/etc/cappuccino/study_budget"))
    assert str(ctx.params["study_budget_file"]) == "/etc/cappuccino/study_budget"
    ctx = parse(
        train_command(
            study="s", study_budget=3, phase="phase2",
            data=DataOptions(data="sample", symbols=["BTC/USD"], timeframe="1h",
                             start="2023-01-01", end="2024-01-01", device="cpu"),
            config="/etc/c.json", artifact_root="/a",
        )
    )  # fmt: skip
    assert ctx.params["phase"] in ("phase2", getattr(ctx.params["phase"], "value", None))


def test_study_create_argv_parses() -> None:
    parse(study_create_command(study="s", direction="maximize"))


def test_validate_argv_parses() -> None:
    ctx = parse(validate_command(manifest="/m/ensemble_manifest.json", artifacts="/a"))
    assert str(ctx.params["manifest"]).endswith("ensemble_manifest.json")


def test_ensemble_trader_argvs_parse() -> None:
    spec = EnsembleSpec.model_validate(_spec("ensemble.yaml"))
    init, trader = _trader_argvs(spec)
    assert init[1] == "validate"
    parse(init)
    parse(trader)


def test_arena_trader_argvs_parse() -> None:
    spec = ArenaSpec.model_validate(_spec("arena.yaml"))
    init, trader = _trader_argvs(spec)
    parse(init)
    parse(trader)


def test_trade_and_arena_argvs_with_every_option_parse() -> None:
    common = TraderOptions(broker="alpaca", poll_interval=5, metrics_port=9100, state_dir="/s",
                           portfolio_id="ns/x", artifacts="/a")  # fmt: skip
    parse(trade_command(manifest="/m.json", options=common))
    parse(arena_command(config="/c.json", options=common))
    replay = Replay(data="sample", start="2024-01-01", end="2024-02-01", seconds_per_bar=0.5)
    with_replay = dataclasses.replace(common, broker="replay", replay=replay)
    ctx = parse(trade_command(manifest="/m.json", options=with_replay))
    assert ctx.params["replay_seconds_per_bar"] == 0.5
    parse(arena_command(config="/c.json", options=with_replay))


def test_a_missing_command_or_flag_fails_rather_than_skips() -> None:
    """The check itself can fail: an unknown command and an unknown flag are failures."""
    with pytest.raises(pytest.fail.Exception, match="`cappuccino no-such` does not exist"):
        parse(["cappuccino", "no-such"])
    with pytest.raises(pytest.fail.Exception, match="`cappuccino models no-such` does not"):
        parse(["cappuccino", "models", "no-such"])
    # Typer may carry its own copy of click, so the error is matched by its message.
    with pytest.raises(Exception, match="No such option: --no-such-flag"):
        parse([*train_command(study="s", study_budget=1), "--no-such-flag"])
