"""Operator settings, read once from the environment at startup (docs/CONTRACTS.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OperatorConfig"]


class OperatorConfig(BaseModel):
    """Everything the operator reads from env; built once and kept on the global memo."""

    model_config = ConfigDict(frozen=True)

    storage_url: str | None = Field(
        default=None,
        repr=False,
        description="CAPPUCCINO_STORAGE: Optuna + trading DB for resources that name no Secret.",
    )
    storage_secret: str = Field(
        default="cappuccino-storage",
        description="CAPPUCCINO_STORAGE_SECRET: Secret (key `url`, in the resource's namespace) "
        "that pods read the storage URL from when the Study names none.",
    )
    storage_secret_key: str = "url"
    ledger_secret: str | None = Field(
        default="cappuccino-ledger",
        description="CAPPUCCINO_LEDGER_SECRET: Secret (key `url`) trader pods read the ledger URL "
        "from when it exists in the resource's namespace; else the storage Secret (contract 8).",
    )
    ledger_read_url: str | None = Field(
        default=None,
        repr=False,
        description="CAPPUCCINO_LEDGER_READ_URL: read-only database URL the status timers read "
        "the trading tables with when a resource names no Secret (the chart's readonly role; "
        "the operator's own role may create Optuna studies but not read traders' ledgers).",
    )
    runtime_image: str = "cappuccino-runtime:0.1.0"
    runtime_cuda_image: str = "cappuccino-runtime-cuda:0.1.0"
    artifact_root: str = "/var/lib/cappuccino/artifacts"
    artifact_pvc: str | None = Field(
        default=None,
        description="CAPPUCCINO_ARTIFACT_PVC: PersistentVolumeClaim mounted for Studies that name "
        "no artifact storage of their own (the Helm chart's `cappuccino-artifacts`).",
    )
    status_interval: float = Field(
        default=15.0, gt=0, description="CAPPUCCINO_OPERATOR_STATUS_INTERVAL: timers, seconds."
    )
    metrics_port: int = 9100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, var in (
            ("storage_url", "CAPPUCCINO_STORAGE"),
            ("storage_secret", "CAPPUCCINO_STORAGE_SECRET"),
            ("storage_secret_key", "CAPPUCCINO_STORAGE_SECRET_KEY"),
            ("ledger_secret", "CAPPUCCINO_LEDGER_SECRET"),
            ("ledger_read_url", "CAPPUCCINO_LEDGER_READ_URL"),
            ("runtime_image", "CAPPUCCINO_RUNTIME_IMAGE"),
            ("runtime_cuda_image", "CAPPUCCINO_RUNTIME_CUDA_IMAGE"),
            ("artifact_root", "CAPPUCCINO_ARTIFACT_ROOT"),
            ("artifact_pvc", "CAPPUCCINO_ARTIFACT_PVC"),
            ("status_interval", "CAPPUCCINO_OPERATOR_STATUS_INTERVAL"),
        ):
            if env.get(var):
                values[field] = env[var]
        return cls.model_validate(values)
