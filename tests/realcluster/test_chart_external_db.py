"""`helm install` with `postgresql.enabled=false`: the operator pod (from its image) uses an
external PostgreSQL, here one on the host listening on the node IP (a pod's 127.0.0.1 is its
own) that trusts the pod network. The chart's bundled StatefulSet is covered by test_flow."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml

from tests.support.controlplane import REPO_ROOT, wait_for
from tests.support.postgres import PostgresServer
from tests.support.realcluster import POD_CIDR, RealCluster

DB_SECRETS = ("cappuccino-storage", "cappuccino-ledger", "cappuccino-readonly")


@pytest.fixture
def node_postgres(real_cluster: RealCluster) -> Iterator[PostgresServer]:
    network = POD_CIDR.rsplit(".", 2)[0] + ".0.0/16"
    server = PostgresServer.start(listen=f"127.0.0.1,{real_cluster.node_ip}", trust_cidr=network)
    try:
        yield server
    finally:
        server.stop()


def test_operator_pod_on_an_external_database(
    real_cluster: RealCluster, real_namespace: str, node_postgres: PostgresServer
) -> None:
    rc, ns = real_cluster, real_namespace
    db = f"ext_{uuid.uuid4().hex[:8]}"
    node_postgres.create_database(db)
    url = f"postgresql+psycopg://postgres@{rc.node_ip}:{node_postgres.port}/{db}"
    for name in DB_SECRETS:
        rc.kubectl("create", "secret", "generic", name, "-n", ns, f"--from-literal=url={url}")
    repo, tag = rc.images["operator"].rsplit(":", 1)
    rrepo, rtag = rc.images["runtime"].rsplit(":", 1)
    values = yaml.safe_load((REPO_ROOT / "charts" / "cappuccino" / "values.yaml").read_text())
    flags = [
        "postgresql.enabled=false",
        f"operator.image.repository={repo}", f"operator.image.tag={tag}",
        f"runtime.image.repository={rrepo}", f"runtime.image.tag={rtag}",
        "artifacts.pvc.size=1Gi", "artifacts.pvc.accessMode=ReadWriteOnce",
        "operator.statusInterval=2",
    ]  # fmt: skip
    if "urlSecret" in (values.get("externalDatabase") or {}):
        flags.append("externalDatabase.urlSecret.name=cappuccino-storage")
    release = f"ext-{uuid.uuid4().hex[:6]}"
    rc.helm(
        "install", release, str(REPO_ROOT / "charts" / "cappuccino"), "-n", ns, "--wait",
        "--timeout", "5m", *[a for f in flags for a in ("--set", f)],
    )  # fmt: skip
    rc.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "cappuccino.dev/v1alpha1", "kind": "Study", "metadata": {"name": "ext"},
        "spec": {"direction": "maximize"},
    }))  # fmt: skip

    def observed() -> dict[str, Any] | None:
        out = rc.kubectl("get", "study", "ext", "-n", ns, "-o", "json").stdout
        status = json.loads(out).get("status") or {}
        return status if status.get("conditions") else None

    status = wait_for(observed, 120, "the operator pod to reconcile the Study", interval=1)
    print("Study status:", status)
    problems = [c for c in status["conditions"] if "Storage" in (c.get("reason") or "")]
    assert not problems, problems
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node_postgres.port}/{db}") as conn:
        tables = {r[0] for r in conn.execute("select tablename from pg_tables").fetchall()}
        studies = (
            [r[0] for r in conn.execute("select study_name from studies").fetchall()]
            if "studies" in tables
            else []
        )
    print("tables in the external database:", sorted(tables), "studies:", studies)
    assert "studies" in tables, "the operator pod never reached the external database"
    rc.helm("uninstall", release, "-n", ns, "--wait")
