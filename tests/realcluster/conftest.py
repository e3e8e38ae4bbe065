"""Fixtures for the `realcluster` level: a REAL single-node Kubernetes cluster with real pods
(tests/support/realcluster.py, docs/real-cluster.md). Every test here gets the `realcluster`
marker (`pytest -m realcluster` runs only them; `-m "not realcluster"` skips them).

- `real_cluster` (session): one running `RealCluster` (node Ready, CoreDNS Available, images
  imported, a default StorageClass with hostPath volumes). Torn down after the session; the
  teardown fails (an error in the report) when the host's nftables/iptables, ip_forward,
  links or mounts differ from before.
- `real_namespace` (function): a fresh namespace, deleted afterwards.

A machine that cannot run the cluster (not root, no runtime, binaries or images not built)
skips these tests with the reason, and says so in the terminal summary: never silently.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.realcluster import RealCluster, RealClusterUnavailable, unavailable_reason

_SKIPPED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test in this directory `realcluster`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.realcluster)


def _skip(reason: str) -> None:
    message = f"REAL CLUSTER NOT RUN: {reason}"
    if not _SKIPPED:
        warnings.warn(message, stacklevel=2)
    _SKIPPED.append(message)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SKIPPED:
        terminalreporter.write_sep("!", "realcluster tests SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{_SKIPPED[0]} ({len(_SKIPPED)} tests)", red=True)


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[RealCluster]:
    if reason := unavailable_reason():
        _skip(reason)
    try:
        cluster = RealCluster.start()
    except RealClusterUnavailable as e:
        _skip(str(e))
    print(f"\nreal cluster up: {cluster.timings}")
    try:
        yield cluster
    finally:
        cluster.stop()
        print(f"\nreal cluster down in {cluster.timings.get('stop')} s; host as before")


@pytest.fixture
def real_namespace(real_cluster: RealCluster) -> Iterator[str]:
    name = f"rc-{uuid.uuid4().hex[:8]}"
    real_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        real_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attaches pods, events and the kubelet's log tail of the test's namespace to a failure."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("real_cluster")
    ns = getattr(item, "funcargs", {}).get("real_namespace")
    if report.when == "call" and report.failed and isinstance(cluster, RealCluster):
        parts = []
        if ns:
            parts.append(cluster.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout)
            parts.append(
                cluster.kubectl(
                    "get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False
                ).stdout[-6000:]
            )
        parts.append(cluster.logs("kubelet", 30))
        report.sections.append(("real cluster", "\n".join(parts)))
    return report
