"""The operator's frozen Arena/Ensemble settings reach the trader that runs the manifest.

The manifests are written by the operator's own builder (cappuccino_operator.builders.trader
.manifest_document) over a real deployment, read by the runtime's manifest models and run
with `--broker replay`; the assertions are on the objects the trader actually used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cappuccino_contracts.manifests import ManifestError, read_manifest
from cappuccino_contracts.risk import RiskSettings
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.api.trader import ArenaSpec, EnsembleSpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.builders.trader import manifest_document
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.selection import SelectedTrial, Selection

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence import open_sql_ledger
from cappuccino_runtime.trading.ensemble import EnsembleRule
from cappuccino_runtime.trading.runner import ReplayOptions, RunOptions, run_deployment
from cappuccino_runtime.trading.trader import Trader
from tests.integration.trading.conftest import sample
from tests.integration.trading.deployment import deploy_study

REPLAY = ReplayOptions(start="2017-08-20T00:00:00Z", end="2017-08-21T00:00:00Z")
STUDY = study_context(
    "st",
    StudySpec.model_validate(
        {
            "studyName": "demo",
            "storageSecretRef": {"name": "db", "key": "dsn"},
            "data": {"symbols": ["BTC/USD", "ETH/USD"], "timeframe": "1h"},
        }
    ),
    OperatorConfig(storage_url="postgresql+psycopg://u:pw@db/optuna"),
    namespace="default",
)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return deploy_study(tmp_path_factory.mktemp("deploy"), sample(1200), n_models=3)


def _selection(manifest_path: Path) -> Selection:
    """The deployed models as the operator's selection (model paths beside the manifest)."""
    entries = read_manifest(manifest_path).entries()
    return Selection(
        "demo",
        tuple(
            SelectedTrial(e.trial_id, e.trial_number, e.value, e.sha256, e.model_path, "1h")
            for e in entries
        ),
    )


def _freeze(src: Path, dest: Path, spec: ArenaSpec | EnsembleSpec, name: str) -> Path:
    """Copies the deploy dir and replaces its manifest by the operator's document."""
    shutil.copytree(src.parent, dest)
    doc = manifest_document(name, "ns", spec, STUDY, _selection(src), "2026-01-01T00:00:00Z")
    out = dest / src.name
    out.write_text(json.dumps(doc))
    return out


def _run(kind: str, manifest: Path, url: str, **kw: object) -> Trader:
    opts = RunOptions(
        kind=kind,  # type: ignore[arg-type]
        manifest=manifest,
        broker="replay",
        ledger_url=url,
        replay=REPLAY,
        max_polls=2,
        **kw,  # type: ignore[arg-type]
    )
    return run_deployment(opts)


def test_operator_arena_settings_reach_the_arena(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    symbols = list(_run_symbols(deployed[0]))
    spec = ArenaSpec.model_validate(
        {
            "studyRef": {"name": "st"},
            "topN": 3,
            "initialCash": 2500,
            "symbols": symbols,
            "pollInterval": "90s",
            "rankingWindow": "36h",
            "promoteTop": 2,
            "minSharpe": 0.5,
            "risk": {"maxDrawdown": 0.15, "staleDataSeconds": 7200, "maxPositionFraction": 0.4},
        }
    )
    manifest = _freeze(deployed[0], tmp_path / "arena", spec, "arena-a")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    trader = _run("arena", manifest, url)
    cfg = trader.config
    assert cfg.initial_cash == 2500.0
    assert (cfg.risk.max_drawdown, cfg.risk.stale_data_seconds) == (0.15, 7200.0)
    assert cfg.risk.max_position_fraction == 0.4
    assert (cfg.ranking_window_hours, cfg.top_k, cfg.poll_seconds) == (36.0, 2, 90.0)
    # the manifest's portfolio_id names the arena; its books opened with the frozen cash
    assert trader.arena_id == "ns/arena-a"
    ledger = open_sql_ledger(url)
    try:
        books = [ledger.book(b.portfolio_id) for b in trader.books]
        assert len(books) == 3 and {b.initial_cash for b in books} == {2500.0}
        assert all(b.portfolio_id.startswith("ns/arena-a/demo:") for b in books)
        ranking = ledger.latest_ranking("ns/arena-a")
        assert sum(r.promoted for r in ranking) <= 2
    finally:
        ledger.engine.dispose()


def test_operator_ensemble_voting_and_cli_poll_override(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    spec = EnsembleSpec.model_validate(
        {
            "studyRef": {"name": "st"},
            "topN": 3,
            "voting": "mean",
            "symbols": list(_run_symbols(deployed[1])),
            "pollInterval": "5m",
            "risk": {"maxDrawdown": 0.5},
        }
    )
    manifest = _freeze(deployed[1], tmp_path / "ens", spec, "ens-e")
    trader = _run("ensemble", manifest, f"sqlite:///{tmp_path / 'l.db'}", poll_interval=7.0)
    assert trader.config.rule is EnsembleRule.MEAN_ACTION
    assert trader.config.risk.max_drawdown == 0.5
    assert trader.config.poll_seconds == 7.0  # the flag wins over the manifest's 300 s
    assert [b.portfolio_id for b in trader.books] == ["ns/ens-e"]


def test_local_deploy_manifest_keeps_the_defaults(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    trader = _run("arena", deployed[0], f"sqlite:///{tmp_path / 'l.db'}")
    cfg = trader.config
    assert (cfg.initial_cash, cfg.top_k, cfg.ranking_window_hours, cfg.poll_seconds) == (
        10_000.0,
        3,
        168.0,
        60.0,
    )
    assert cfg.risk == RiskSettings()  # the one set of defaults (the cluster had 0.2, this 0.30)


def test_manifest_symbols_other_than_the_models_fail_clearly(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    spec = EnsembleSpec.model_validate(
        {"studyRef": {"name": "st"}, "topN": 3, "symbols": ["DOGE/USD"]}
    )
    manifest = _freeze(deployed[1], tmp_path / "ens", spec, "e")
    with pytest.raises(ConfigError, match="manifest symbols"):
        _run("ensemble", manifest, f"sqlite:///{tmp_path / 'l.db'}")


def test_arena_models_below_min_sharpe_are_refused(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    spec = ArenaSpec.model_validate({"studyRef": {"name": "st"}, "topN": 3, "minSharpe": 5.0})
    manifest = _freeze(deployed[0], tmp_path / "arena", spec, "a")
    with pytest.raises(ManifestError, match="min_sharpe"):
        read_manifest(manifest)


def _run_symbols(manifest: Path) -> tuple[str, ...]:
    from cappuccino_runtime.trading.runner import load_bank

    return load_bank(manifest, None)[1].symbols
