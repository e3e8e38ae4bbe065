"""What the registry answers with: one trial of one study, identified by (study_name, trial_id)."""

from __future__ import annotations

from cappuccino_contracts.artifacts import (
    ATTR_ARTIFACT_URI,
    ATTR_MODEL_SPEC,
    ATTR_SHA256_ACTOR,
    ATTR_SHA256_CRITIC,
    ATTR_TIMEFRAME,
    ModelNumbers,
    ModelSpec,
)
from cappuccino_contracts.registry import TrialRow
from pydantic import BaseModel, ConfigDict, computed_field

__all__ = ["RegistryTrial", "TrialRef"]


class TrialRef(BaseModel):
    """A (study_name, trial_id, number) triple: enough to name a trial unambiguously."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    trial_id: int
    number: int


class RegistryTrial(TrialRow):
    """One trial as stored in Optuna's tables, with the user attrs training records."""

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy rejects decorators over @property
    @property
    def timeframe(self) -> str | None:
        """The bar timeframe the model was trained on (user attr `timeframe`)."""
        value = self.user_attrs.get(ATTR_TIMEFRAME)
        return str(value) if value is not None else None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy rejects decorators over @property
    @property
    def artifact_uri(self) -> str | None:
        """Where training wrote the trial directory (user attr `artifact_uri`)."""
        value = self.user_attrs.get(ATTR_ARTIFACT_URI)
        return str(value) if value is not None else None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy rejects decorators over @property
    @property
    def sha256_actor(self) -> str | None:
        """sha256 of actor.pth as recorded by training."""
        value = self.user_attrs.get(ATTR_SHA256_ACTOR)
        return str(value) if value is not None else None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy rejects decorators over @property
    @property
    def sha256_critic(self) -> str | None:
        """sha256 of critic.pth as recorded by training."""
        value = self.user_attrs.get(ATTR_SHA256_CRITIC)
        return str(value) if value is not None else None

    def model_spec(self) -> ModelSpec | None:
        """The ModelSpec training recorded (user attr `model_spec`), or None if absent."""
        raw = self.user_attrs.get(ATTR_MODEL_SPEC)
        return ModelSpec.model_validate(raw) if raw is not None else None

    def numbers(self) -> ModelNumbers:
        """This trial's model's own numbers (see ModelNumbers).

        A refit agent (user attr `holdout_sharpe`) is described by its hold-out; any other
        trial by its saved split-0 agent's CPCV Sharpe, with the trial value kept apart as the
        hyperparameter score.
        """
        a = self.user_attrs
        if a.get("holdout_sharpe") is not None:
            return ModelNumbers(
                sharpe=a["holdout_sharpe"],
                sharpe_kind="holdout",
                holdout_sharpe=a["holdout_sharpe"],
                holdout_bars=a.get("holdout_bars"),
                holdout_start=a.get("holdout_start"),
                holdout_end=a.get("holdout_end"),
                dsr=a.get("dsr"),
                psr=a.get("psr"),
                hyperparameter_score=a.get("hyperparameter_score"),
            )
        split0 = a.get("sharpe_list_bot")
        own = float(split0[0]) if isinstance(split0, list) and split0 else None
        return ModelNumbers(
            sharpe=own,
            sharpe_kind="cpcv_split0" if own is not None else None,
            dsr=a.get("dsr"),
            psr=a.get("psr"),
            hyperparameter_score=self.value,
        )

    def ref(self) -> TrialRef:
        """The identity triple of this trial."""
        return TrialRef(study_name=self.study_name, trial_id=self.trial_id, number=self.number)
