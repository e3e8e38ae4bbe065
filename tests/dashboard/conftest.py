"""Shared fixtures: one real demo-like run (tests/dashboard/world.py) for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from tests.controlplane.conftest import (  # noqa: F401  (the real API server's fixtures)
    control_plane,
    k8s,
    namespace,
    operator_deployment,
)
from tests.dashboard.world import DemoWorld, build_demo_world

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return build_demo_world(tmp_path_factory.mktemp("dashboard-demo"))


@pytest.fixture
def demo_service(demo_world: DemoWorld) -> DashboardService:
    service = DashboardService(DashboardSources.from_settings(demo_world.settings))
    yield service  # type: ignore[misc]
    service.close()


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """Where screenshots go: $CAPPUCCINO_TEST_ARTIFACTS/dashboard (CI uploads it), else
    test-artifacts/dashboard in the checkout."""
    root = Path(os.environ.get("CAPPUCCINO_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    path = root / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path
