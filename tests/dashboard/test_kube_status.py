"""The system page's custom-resource lines against a real kube-apiserver (tests/support)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from tests.support.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_system_page_lists_custom_resources_and_their_ready_condition(
    control_plane: ControlPlane,
    operator_deployment: object,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "arena.yaml"))
    status = {"status": {"studyName": "btc-hourly", "leaderTrialId": 41, "conditions": [
        {"type": "Ready", "status": "True", "reason": "Trading", "message": "5 books trading",
         "lastTransitionTime": "2026-01-02T03:04:05Z"}]}}  # fmt: skip
    control_plane.kubectl("patch", "arena", "btc-arena", "-n", namespace, "--subresource=status",
                          "--type=merge", "-p", json.dumps(status))  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    sources = DashboardSources(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        artifact_root=str(tmp_path),
        deployments=None,
        kube=True,
    )
    service = DashboardService(sources)
    d = service.build()
    service.close()
    assert ("Kubernetes", True) in [(s.name, s.ok) for s in d.system.sources], d.system.sources
    (arena,) = [p for p in d.system.processes if p.name == f"Arena {namespace}/btc-arena"]
    assert arena.running is True and arena.since is not None and arena.since.year == 2026
    assert "5 books trading" in arena.detail and "leaderTrialId=41" in arena.detail
    assert not any(
        p.kind == "operator" and "not in a cluster" in p.detail for p in d.system.processes
    )
