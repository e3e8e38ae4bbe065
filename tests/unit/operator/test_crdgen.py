"""The generated CRDs are structural and carry the intent of the models."""

from __future__ import annotations

from typing import Any

import pytest
from cappuccino_operator.api import KINDS
from cappuccino_operator.crdgen import crd_for

FORBIDDEN = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "_optional"}


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _schema(kind) -> dict[str, Any]:
    return crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind) -> None:
    schema = _schema(kind)
    for path, node in _walk(schema):
        assert not FORBIDDEN & set(node), f"{kind.kind}{path} has {FORBIDDEN & set(node)}"
        if "properties" in node or "items" in node:
            assert "type" in node, f"{kind.kind}{path} has no type"
        assert node.get("additionalProperties") is not False


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_names_status_columns(kind) -> None:
    crd = crd_for(kind)
    names = crd["spec"]["names"]
    assert names["categories"] == ["cappuccino"] and names["shortNames"]
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    cols = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert cols["Age"] == ".metadata.creationTimestamp"
    status = _schema(kind)["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    cond = conditions["items"]
    assert set(cond["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert "observedGeneration" in cond["properties"] and "observedGeneration" in status
    for path in cols.values():
        if path.startswith(".status.") and "conditions" not in path:
            assert path.split(".")[2] in status, f"column {path} reads an undeclared status field"


def test_short_names_are_distinct() -> None:
    short = [s for k in KINDS for s in k.short_names]
    assert len(short) == len(set(short))


def test_every_cel_rule_touches_only_bounded_lists_and_strings() -> None:
    for kind in KINDS:
        for path, node in _walk(_schema(kind)):
            if "x-kubernetes-validations" not in node:
                continue
            for name, sub in (node.get("properties") or {}).items():
                if sub.get("type") == "array":
                    assert "maxItems" in sub, f"{kind.kind}{path}.{name} is unbounded"
                if sub.get("type") == "string" and "enum" not in sub:
                    assert "maxLength" in sub, f"{kind.kind}{path}.{name} is unbounded"


def test_ready_or_succeeded_columns() -> None:
    for kind in KINDS:
        paths = [c["jsonPath"] for c in kind.columns]
        want = "Succeeded" if kind.kind == "TrainingSweep" else "Ready"
        assert f'.status.conditions[?(@.type=="{want}")].status' in paths


def test_nested_defaults_are_expanded_for_cel() -> None:
    arena = _schema(KINDS[2])["properties"]["spec"]["properties"]
    assert arena["broker"]["default"] == {"type": "replay", "replay": {"secondsPerBar": 1.0}}
    assert arena["initialCash"]["default"] == 10000.0
    assert arena["initialCash"]["exclusiveMinimum"] is True and arena["initialCash"]["minimum"] == 0
