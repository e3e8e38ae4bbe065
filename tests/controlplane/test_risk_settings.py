"""Contract 3: the risk settings agree from the CRD to the trader (one model, one set of defaults).

An Arena is applied to a real API server, read back (the server fills the schema's defaults),
turned into the manifest ConfigMap and the trader Deployment by the operator's builders, both
applied and read back, and the Deployment's argv and the ConfigMap's manifest are parsed by the
runtime exactly as the trader pod does: the trader's limits are then `RiskSettings()` when the
Arena names none, and the Arena's own values unchanged when it does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cappuccino_contracts.manifests import read_manifest
from cappuccino_contracts.risk import RiskSettings
from cappuccino_operator.api.study import StudySpec
from cappuccino_operator.api.trader import ArenaSpec
from cappuccino_operator.builders.context import study_context
from cappuccino_operator.builders.trader import (
    build_manifest_configmap,
    build_trader_deployment,
    manifest_document,
)
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.selection import SelectedTrial, Selection

from cappuccino_runtime.trading.runner import RunOptions, trader_config
from tests.controlplane.conftest import OperatorDeployment
from tests.support.controlplane import ControlPlane
from tests.test_command_contract import parse

API = "cappuccino.dev/v1alpha1"
CONFIG = OperatorConfig(storage_url="postgresql+psycopg://u:pw@db/optuna")
SELECTION = Selection(
    "demo",
    tuple(SelectedTrial(10 + i, i, 1.0 - i / 10, "ab" * 32, None, "1h") for i in range(3)),
)


def _get(cp: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any]:
    out = cp.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def _apply(cp: ControlPlane, ns: str, doc: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))


def _trader_risk(cp: ControlPlane, ns: str, spec: dict[str, Any], tmp: Path) -> RiskSettings:
    """Arena spec -> API server -> operator builders -> API server -> the trader's limits."""
    _apply(cp, ns, {"apiVersion": API, "kind": "Arena", "metadata": {"name": "a"}, "spec": spec})
    stored = ArenaSpec.model_validate(_get(cp, ns, "arena", "a")["spec"])
    study = study_context(
        "st",
        StudySpec.model_validate({"studyName": "demo", "storageSecretRef": {"name": "db"}}),
        CONFIG,
        namespace=ns,
    )
    manifest = manifest_document("a", ns, stored, study, SELECTION, "2026-01-01T00:00:00Z")
    cm = build_manifest_configmap("a", ns, stored, manifest, 1)
    deployment = build_trader_deployment("a", ns, stored, study, CONFIG, cm)
    _apply(cp, ns, cm)
    _apply(cp, ns, deployment)
    data = _get(cp, ns, "configmap", cm["metadata"]["name"])["data"]
    pod = _get(cp, ns, "deployment", deployment["metadata"]["name"])["spec"]["template"]["spec"]
    argv = next(c["command"] for c in pod["containers"] if c["name"] == "trader")
    ctx = parse(argv)
    mounted = Path(ctx.params["manifest"])  # `arena --config FILE`
    local = tmp / mounted.name  # the ConfigMap's file, as the pod mounts it
    local.write_text(data[mounted.name])
    opts = RunOptions(kind="arena", manifest=local, broker=ctx.params["broker"].value)
    return trader_config(opts, read_manifest(local)).risk


def test_an_arena_without_risk_fields_trades_with_the_one_set_of_defaults(
    operator_deployment: OperatorDeployment,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    spec = {"studyRef": {"name": "st"}, "topN": 3}
    risk = _trader_risk(control_plane, namespace, spec, tmp_path)
    assert risk == RiskSettings()
    # the API server filled exactly the model's defaults, under their camelCase names
    stored = _get(control_plane, namespace, "arena", "a")["spec"]["risk"]
    assert stored == RiskSettings().model_dump(by_alias=True)


def test_risk_values_set_on_the_arena_reach_the_trader_unchanged(
    operator_deployment: OperatorDeployment,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    wanted = RiskSettings(
        max_drawdown=0.125,
        stale_data_seconds=1234,
        max_position_fraction=0.4,
        max_loss_per_hour=0.0321,
        max_trades_per_hour=7,
    )
    spec = {"studyRef": {"name": "st"}, "topN": 3, "risk": wanted.model_dump(by_alias=True)}
    risk = _trader_risk(control_plane, namespace, spec, tmp_path)
    assert risk == wanted and risk != RiskSettings()
