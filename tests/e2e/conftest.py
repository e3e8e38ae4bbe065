"""Fixtures for the e2e tests: the control-plane fixtures of tests/controlplane (real
kube-apiserver + etcd, the operator as its ServiceAccount, a fresh PostgreSQL database),
reused as they are. Every test here gets the `e2e` and `controlplane` markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.conftest import (  # noqa: F401  (fixtures, re-exported)
    control_plane,
    k8s,
    namespace,
    operator,
    operator_args,
    operator_deployment,
    operator_env,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test in this directory `e2e` and `controlplane`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.controlplane)
