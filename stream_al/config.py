"""Settings: one pydantic-settings model, read from ``STREAM_AL_*`` environment variables.

Nested settings use ``__``: ``STREAM_AL_LEARNER__BUDGET=0.05``,
``STREAM_AL_LEARNER__DRIFT__RESTART=reset``. Command-line flags override them.

Examples
--------
>>> import os
>>> os.environ["STREAM_AL_LEARNER__BUDGET"] = "0.05"
>>> Settings().learner.budget
0.05
>>> del os.environ["STREAM_AL_LEARNER__BUDGET"]

"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream_al.core.drift import DriftReaction
from stream_al.core.learner import LearnerSpec
from stream_al.core.models import MODELS
from stream_al.core.strategies import STRATEGIES
from stream_al.core.uncertainty import NAMES

__all__ = ["DriftSettings", "LearnerSettings", "Settings"]


class DriftSettings(BaseModel):
    """The drift monitor (ADWIN on the errors of labeled items) and its reaction."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the drift monitor.")
    delta: float = Field(0.002, gt=0, lt=1, description="ADWIN confidence parameter.")
    boost_factor: float = Field(
        2.0, ge=1, description="Budget multiplier after a drift (1 = no boost)."
    )
    boost_events: int = Field(500, ge=0, description="Events the budget boost lasts.")
    restart: Literal["none", "reset", "warm"] = Field(
        "warm", description="Model restart on drift: warm re-learns the recent labels."
    )
    buffer_size: int = Field(
        200, ge=0, description="Recent labeled examples kept for a warm restart."
    )
    challenger_every: int = Field(
        100, ge=0, description="Labels between challenger models (0 = no challenger)."
    )
    challenger_min: int = Field(
        100, ge=1, description="Labels a challenger learns before it may replace the model."
    )
    challenger_max: int = Field(
        500, ge=1, description="Labels after which a challenger that has not won is dropped."
    )
    challenger_z: float = Field(
        1.0, ge=0, description="McNemar z a challenger must reach to replace the model."
    )

    def reaction(self) -> DriftReaction:
        return DriftReaction(**self.model_dump())


class LearnerSettings(BaseModel):
    """The model, the query strategy and the label budget."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("hoeffding-tree", description="Model name (stream-al models).")
    strategy: str = Field("split", description="Query strategy (stream-al strategies).")
    budget: float = Field(0.1, gt=0, le=1, description="Fraction of events (or cost) to label.")
    window: int = Field(1000, ge=1, description="Memory of the budget estimate, in events.")
    unit: Literal["events", "cost"] = Field(
        "events", description="Budget counted in events or in the events' label cost."
    )
    uncertainty: str = Field(
        "auto",
        description="Uncertainty: auto (leaf for trees, else least-confidence), "
        "least-confidence, margin, entropy, leaf.",
    )
    seed: int = Field(0, description="Seed of the strategy's and model's random numbers.")
    drift: DriftSettings = Field(default_factory=DriftSettings)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return _known(value, MODELS, "model")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return _known(value, STRATEGIES, "strategy")

    @field_validator("uncertainty")
    @classmethod
    def _known_measure(cls, value: str) -> str:
        return _known(value, dict.fromkeys(NAMES), "uncertainty measure")

    def spec(self) -> LearnerSpec:
        """The learner these settings describe (build it with a seed)."""
        return LearnerSpec(
            model=self.model,
            strategy=self.strategy,
            budget=self.budget,
            window=self.window,
            unit=self.unit,
            uncertainty=self.uncertainty,
            drift=self.drift.reaction(),
        )


def _known(value: str, registry: dict[str, Any], what: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(registry)}")
    return value


class Settings(BaseSettings):
    """Every setting of stream-al."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_AL_", env_nested_delimiter="__", extra="ignore"
    )

    learner: LearnerSettings = Field(default_factory=LearnerSettings)
