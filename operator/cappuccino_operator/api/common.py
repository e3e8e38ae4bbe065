"""Shapes shared by every Cappuccino resource: references and conditions.

The `risk` block of Arena/Ensemble is cappuccino_contracts.risk.RiskSettings (one model from the
CRD to the trader).

These pydantic models are the single source of truth for the CRD schemas in crds/
(see cappuccino_operator.crdgen); field names are snake_case in Python and camelCase in YAML.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "DNS_NAME",
    "SYMBOL",
    "Condition",
    "CrdModel",
    "LocalObjectRef",
    "SecretKeyRef",
    "SecretRef",
    "immutable",
    "rule",
]

# A trading pair as the runtime writes it, e.g. BTC/USD.
SYMBOL = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Z0-9]+/[A-Z0-9]+$")]

# A DNS-1123 subdomain name, as Kubernetes object names are.
DNS_NAME = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]


def rule(
    expr: str, message: str, *, reason: str | None = None, field_path: str | None = None
) -> dict[str, Any]:
    """One CEL `x-kubernetes-validations` entry; `message` is what `kubectl apply` prints."""
    out: dict[str, Any] = {"rule": expr, "message": message}
    if reason:
        out["reason"] = reason
    if field_path:
        out["fieldPath"] = field_path
    return out


def immutable(what: str) -> dict[str, Any]:
    """json_schema_extra making a field immutable (`self == oldSelf`), as KubeRay does."""
    return {
        "x-kubernetes-validations": [
            rule("self == oldSelf", f"{what} is immutable; create a new resource instead.")
        ]
    }


class CrdModel(BaseModel):
    """Base of every spec/status model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_k8s(self) -> dict[str, Any]:
        """The YAML/JSON form (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LocalObjectRef(CrdModel):
    """A reference to an object of a known kind in the same namespace."""

    name: DNS_NAME = Field(description="Name of the object in this namespace.")


class SecretRef(CrdModel):
    """A Secret in the same namespace, mounted or read as a whole."""

    name: DNS_NAME = Field(description="Name of the Secret in this namespace.")


class SecretKeyRef(CrdModel):
    """One key of a Secret in the same namespace; its value is never copied anywhere."""

    name: DNS_NAME = Field(description="Name of the Secret in this namespace.")
    key: str = Field(
        default="url",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret.",
    )


class Condition(CrdModel):
    """metav1.Condition: the observed state of one aspect of the resource."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type in CamelCase, e.g. Ready.",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="One CamelCase word for machines and kubectl get.",
    )
    message: str = Field(max_length=32768, description="Human-readable details.")
    last_transition_time: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When status last changed.",
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was computed from."
    )
