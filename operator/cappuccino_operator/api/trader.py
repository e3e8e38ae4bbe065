"""Arena and Ensemble: frozen model selections traded by one Deployment each."""

from __future__ import annotations

from typing import Literal

from cappuccino_contracts.risk import RiskSettings
from pydantic import Field

from cappuccino_operator.api.common import (
    SYMBOL,
    Condition,
    CrdModel,
    LocalObjectRef,
    SecretKeyRef,
    SecretRef,
    immutable,
    rule,
)
from cappuccino_operator.api.sweep import quantity

__all__ = [
    "ArenaSpec",
    "ArenaStatus",
    "Broker",
    "EnsembleSpec",
    "EnsembleStatus",
    "ManifestRef",
    "ReplaySettings",
    "TraderResources",
]

DURATION = r"^[0-9]+(s|m|h|d)$"

_ONE_SELECTION = rule(
    "has(self.topN) != (has(self.trialIds) && size(self.trialIds) > 0)",
    "set exactly one of topN (best N trials) or trialIds (explicit trials).",
    reason="FieldValueInvalid",
)


class ReplaySettings(CrdModel):
    """What the replay broker replays (`cappuccino trade|arena --replay-*`)."""

    data: str | None = Field(
        default=None,
        max_length=1024,
        description="Bars to replay: sample, alpaca or a path/URL; defaults to the Study's data.",
    )
    start: str | None = Field(default=None, max_length=32, description="First replayed bar (ISO).")
    end: str | None = Field(default=None, max_length=32, description="Last replayed bar (ISO).")
    seconds_per_bar: float = Field(
        default=1.0, ge=0, le=86400, description="Wall-clock seconds per replayed bar."
    )


class Broker(CrdModel):
    """Where orders go: Alpaca paper trading or the replay broker (historical bars)."""

    model_config = CrdModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                rule(
                    "self.type != 'alpaca' || has(self.credentialsSecretRef)",
                    "broker.type alpaca needs broker.credentialsSecretRef (a Secret with keys "
                    "key_id and secret_key).",
                    reason="FieldValueRequired",
                )
            ]
        }
    }

    type: Literal["alpaca", "replay"] = Field(default="replay", description="alpaca or replay.")
    credentials_secret_ref: SecretRef | None = Field(
        default=None,
        description="Secret with keys key_id and secret_key, mounted as files.",
    )
    replay: ReplaySettings = Field(
        default_factory=ReplaySettings, description="Replay settings (type replay only)."
    )


class TraderResources(CrdModel):
    """Resources of the trader pod."""

    cpu: str = quantity("500m", "CPU request.")
    memory: str = quantity("1Gi", "Memory request and limit.")


class _TraderSpec(CrdModel):
    """Fields Arena and Ensemble share."""

    study_ref: LocalObjectRef = Field(
        json_schema_extra=immutable("studyRef"), description="The Study whose trials trade."
    )
    top_n: int | None = Field(default=None, ge=1, le=64, description="Trade the best N trials.")
    trial_ids: list[int] | None = Field(
        default=None,
        max_length=64,
        description="Explicit Optuna trial_ids (not numbers) to trade.",
    )
    initial_cash: float = Field(default=10000.0, gt=0, description="Starting cash per portfolio.")
    symbols: list[SYMBOL] | None = Field(
        default=None, max_length=32, description="Traded pairs; defaults to the Study's."
    )
    poll_interval: str = Field(
        default="60s", max_length=16, pattern=DURATION, description="Trader poll interval."
    )
    broker: Broker = Field(default_factory=Broker)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    ledger_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the trading ledger URL; defaults to the Study's storage.",
    )
    image: str | None = Field(default=None, max_length=512, description="Trader image.")
    resources: TraderResources = Field(default_factory=TraderResources)
    suspend: bool = Field(
        default=False,
        description="Stop the trader (replicas 0) and keep its ledger; false resumes it. Use "
        "this, not kubectl scale: the operator keeps the Deployment at what the spec says.",
    )
    min_dsr: float = Field(
        default=0.95,
        ge=0,
        le=1,
        description="Refuse models whose deflated Sharpe ratio (refit trial attr dsr, else the "
        "study report's) is below this; models without a DSR yet are traded and recorded so.",
    )
    allow_low_dsr: bool = Field(
        default=False,
        description="Trade models below minDsr anyway; the manifest records the override.",
    )
    reselect: str | None = Field(
        default=None,
        max_length=64,
        description="Change this token to re-select the models now (e.g. after more trials); "
        "other edits keep the frozen selection.",
    )


class ArenaSpec(_TraderSpec):
    """Desired state of an Arena: N portfolios, one per model, ranked by Sharpe."""

    model_config = _TraderSpec.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                _ONE_SELECTION,
                rule(
                    "self.promoteTop <= (has(self.topN) ? self.topN : "
                    "(has(self.trialIds) ? size(self.trialIds) : 0))",
                    "promoteTop must not exceed the number of models (topN or trialIds).",
                    reason="FieldValueInvalid",
                    field_path=".promoteTop",
                ),
            ]
        }
    }

    min_sharpe: float | None = Field(
        default=None, description="Only trials whose value (mean Sharpe) is at least this."
    )
    ranking_window: str = Field(
        default="7d", max_length=16, pattern=DURATION, description="Rolling Sharpe window."
    )
    promote_top: int = Field(default=3, ge=0, le=64, description="Leaders promoted to routing.")


class EnsembleSpec(_TraderSpec):
    """Desired state of an Ensemble: N models vote, one portfolio trades."""

    model_config = _TraderSpec.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": [_ONE_SELECTION]}
    }

    voting: Literal["majority", "mean"] = Field(
        default="majority", description="How the models' actions are combined."
    )


class ManifestRef(CrdModel):
    """The frozen selection the trader runs."""

    config_map: str | None = None
    hash: str | None = None
    generation: int | None = None


class _TraderStatus(CrdModel):
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    study_name: str | None = None
    models: int | None = Field(default=None, ge=0, description="Models in the manifest.")
    manifest: ManifestRef | None = None
    deployment: str | None = None


class ArenaStatus(_TraderStatus):
    """Observed state of an Arena (the ranking history stays in PostgreSQL)."""

    leader_trial_id: int | None = None
    leader_trial_number: int | None = None
    leader_sharpe: float | None = None
    promoted: int | None = Field(default=None, ge=0)
    ranked_at: str | None = None


class EnsembleStatus(_TraderStatus):
    """Observed state of an Ensemble."""

    equity: float | None = None
    return_pct: float | None = Field(default=None, description="Equity over initial cash, in %.")
    equity_at: str | None = None
