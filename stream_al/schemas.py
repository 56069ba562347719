"""Message contracts (JSON, UTF-8): the one place that says what each message holds.

=============  ==================================  ==========================================
Message        Where                               Fields
=============  ==================================  ==========================================
``Event``      events topic -> service             id, features, ts?, cost?, meta?
``Prediction`` service -> predictions topic        id, prediction, proba, queried, score,
                                                   model_version, ts
``QueryItem``  service -> label queue              id, features, proba, prediction, score,
                                                   strategy, threshold, reason, enqueued_at,
                                                   model_version, tier, priority, explanation,
                                                   source, votes_needed?, escalated?
``Label``      worker -> service (label stream)    id, label, annotator, ts?, tier?
=============  ==================================  ==========================================

Anything that fails validation goes to a dead letter with the raw payload, the error and
where it came from; :class:`DeadLetter` is that record.

Examples
--------
>>> Event.model_validate_json('{"id": "e1", "features": {"x": 1.5, "colour": "red"}}').cost
1.0
>>> Event.model_validate({"id": "e2", "features": {"x": float("nan")}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Event
...

"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

__all__ = ["DeadLetter", "Event", "FeatureValue", "Label", "LabelValue", "Prediction", "QueryItem"]

FeatureValue = StrictBool | int | float | str
LabelValue = StrictBool | int | str
ItemId = Annotated[str, Field(min_length=1, max_length=256)]


_isfinite = math.isfinite


def _finite(value: Any, what: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value}")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Message):
    """An event to predict (and perhaps to ask a human about)."""

    id: ItemId
    features: dict[str, FeatureValue] = Field(min_length=1)
    ts: float | datetime | None = None
    cost: float = Field(default=1.0, gt=0.0)
    meta: dict[str, Any] | None = None

    @field_validator("features")
    @classmethod
    def _features_finite(cls, features: dict[str, FeatureValue]) -> dict[str, FeatureValue]:
        # Inlined (no call per value): this runs for every feature of every event.
        for name, value in features.items():
            if type(value) is float and not _isfinite(value):
                raise ValueError(f"feature {name!r} must be a finite number, got {value}")
        return features

    @field_validator("cost", "ts")
    @classmethod
    def _number_finite(cls, value: Any) -> Any:
        return _finite(value, "cost and ts")


class Prediction(_Message):
    """What the service predicted for an event."""

    id: ItemId
    prediction: LabelValue | None
    proba: dict[str, float]
    queried: bool
    score: float
    model_version: int
    ts: float


class QueryItem(_Message):
    """An item in the label queue: everything a labeler or an auditor needs to see."""

    id: ItemId
    features: dict[str, FeatureValue]
    proba: dict[str, float]
    prediction: LabelValue | None
    score: float
    strategy: str
    threshold: float | None
    reason: str
    enqueued_at: float
    model_version: int
    tier: Literal["crowd", "expert"] = "crowd"
    priority: Literal["high", "normal"] = "normal"
    explanation: dict[str, Any] | None = None
    # A live event, or a historical row queued by ``stream-al select``.
    source: Literal["stream", "pool"] = "stream"
    votes_needed: int = 1
    escalated: dict[str, Any] | None = None


class Label(_Message):
    """A human's (or an oracle's) answer for an item."""

    id: ItemId
    label: LabelValue
    annotator: str = Field(default="unknown", min_length=1, max_length=256)
    ts: float | None = None
    tier: Literal["crowd", "expert"] | None = None

    @field_validator("ts")
    @classmethod
    def _ts_finite(cls, value: float | None) -> float | None:
        return _finite(value, "ts")


class DeadLetter(_Message):
    """A message that could not be used, kept with the reason and its origin."""

    source: str
    error: str
    payload: str
    ts: float
