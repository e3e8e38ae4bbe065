"""HA peering: replicas of one Deployment share their arguments, so each derives its own
priority from its pod name (kopf pauses every peer when two share a priority)."""

from __future__ import annotations

from cappuccino_operator.main import replica_priority


def test_priority_is_stable_per_pod_and_differs_between_pods() -> None:
    pods = [f"cappuccino-operator-7d9f8c6b5-{suffix}" for suffix in ("x2k4p", "q9r7t", "m3n8v")]
    priorities = [replica_priority(p) for p in pods]
    assert priorities == [replica_priority(p) for p in pods]
    assert len(set(priorities)) == len(pods)
    assert all(p >= 1 for p in priorities)
