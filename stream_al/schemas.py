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

A feature whose value is ``null`` is missing for that event: it is left out of the event's
features, as a CSV's empty cell is, and so of everything the event becomes (prediction,
queue item, train log).

Examples
--------
>>> Event.model_validate_json('{"id": "e1", "features": {"x": 1.5, "colour": "red"}}').cost
1.0
>>> Event.model_validate_json('{"id": "e1", "features": {"age": null, "x": 2}}').features
{'x': 2}
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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictBool,
    ValidationInfo,
    field_validator,
)
from pydantic_core import from_json, to_json

from stream_al.core.feature_kinds import (
    MAX_CLASSES,
    MAX_MAGNITUDE,
    label_problem,
    label_size_problem,
    number_problem,
)

__all__ = [
    "MAX_CLASSES",
    "MAX_ID_CHARS",
    "DeadLetter",
    "Event",
    "FeatureValue",
    "Label",
    "LabelValue",
    "Prediction",
    "QueryItem",
    "dumps",
    "label_problem",
    "label_size_problem",
    "loads",
    "parse_event",
    "prediction_json",
    "query_item_json",
]

FeatureValue = StrictBool | int | float | str
LabelValue = StrictBool | int | str
MAX_ID_CHARS = 256
"""An item id (an event's, a label's) has 1 to this many characters."""
ItemId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]


_MAX = MAX_MAGNITUDE


def _no_feature(features: dict[str, Any]) -> ValueError:
    """Why an event without a feature that has a value is refused, naming the fix: its
    ``features`` are empty (a CSV row whose feature cells are all empty, as ``stream-al
    produce`` sends it) or all null; both in these words.

    >>> print(_no_feature({"age": None}))  # doctest: +NORMALIZE_WHITESPACE
    no feature has a value (every one is null, a missing value): an event needs at least
    one feature that is a number, a boolean or text

    """
    nulls = " (every one is null, a missing value)" if features else ""
    return ValueError(
        f"no feature has a value{nulls}: an event needs at least one feature that is a "
        "number, a boolean or text"
    )


# A feature's value may be null on the wire (the core schema and the JSON schema say so),
# and never in an Event: its validator leaves such a feature out. The type checker sees
# the field as it is held.
_NULLABLE_VALUES = GetPydanticSchema(lambda _, handler: handler(dict[str, FeatureValue | None]))


def _finite(value: Any, what: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value}")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Message):
    """An event to predict (and perhaps to ask a human about)."""

    id: ItemId
    features: Annotated[
        dict[str, FeatureValue], _NULLABLE_VALUES, Field(json_schema_extra={"minProperties": 1})
    ]
    ts: float | datetime | None = None
    cost: float = Field(default=1.0, gt=0.0)
    meta: dict[str, Any] | None = None

    @field_validator("features")
    @classmethod
    def _features_finite(cls, features: dict[str, FeatureValue]) -> dict[str, FeatureValue]:
        # This runs for every event (the fast path, _plain_event, runs it too). Numbers are
        # finite and at most MAX_MAGNITUDE in size (a model squares them); the sum of their
        # sizes says so at C speed for most events (NaN and infinities propagate), and the
        # loop below finds the culprit otherwise (text, an integer beyond float range, many
        # large numbers, a null, no feature at all).
        try:
            if sum(map(abs, features.values())) <= _MAX and features:  # type: ignore[arg-type]
                return features
        except (TypeError, OverflowError):
            pass
        if not features:
            raise _no_feature(features)
        try:
            for name, value in features.items():
                if isinstance(value, str) or -_MAX <= value <= _MAX:
                    continue
                if type(value) is float and not math.isfinite(value):
                    raise ValueError(f"feature {name!r} must be a finite number, got {value}")
                raise ValueError(f"feature {name!r} is {number_problem(value)}")
        except TypeError:  # a null compared with a number: no other value raises there
            # Null is JSON's missing value (pandas writes NaN as null, producers send it
            # for a field they lack): the feature is missing for this event and left out,
            # as a CSV's empty cell is; River's models take a key left out as missing.
            # Refused, every event with a missing value was a dead letter. Looked for
            # only here, so an event without one pays nothing for it.
            present = {name: value for name, value in features.items() if value is not None}
            if not present:
                raise _no_feature(features) from None
            return cls._features_finite(present)
        return features

    @field_validator("cost", "ts", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1.0 and false as 0.0: a producer that wrote a flag where
        # the cost or the time goes would be charged, or timed, without a word.
        if isinstance(value, bool):
            raise ValueError(f"{info.field_name} must be a number, got {str(value).lower()}")
        return value

    @field_validator("cost", "ts")
    @classmethod
    def _number_finite(cls, value: Any) -> Any:
        return _finite(value, "cost and ts")

    @field_validator("cost")
    @classmethod
    def _cost_in_range(cls, value: float) -> float:
        if value > _MAX:  # the budget sums costs (and may raise them to a power)
            raise ValueError(f"cost must be at most {_MAX:g}, got {value:g}")
        return value


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


# -- encoders for the hot path ----------------------------------------------------------
# Every event has a prediction: building a Prediction model for each costs ~3 us, six times
# the encoding itself. These write the models' fields from plain values; the tests check
# that what they write is what the models accept and write back.


def dumps(value: Any) -> str:
    """Compact UTF-8 JSON (pydantic-core's serializer, about 5x faster than ``json.dumps``).

    >>> dumps({"id": "e1", "proba": {"0": 0.25}})
    '{"id":"e1","proba":{"0":0.25}}'

    """
    return to_json(value).decode()


def loads(raw: str | bytes) -> Any:
    """JSON text (or UTF-8 bytes) as Python values; ``ValueError`` for anything that is not
    JSON, nesting too deep for a parser included (``json.loads`` raises ``RecursionError``
    there, which no reader of outside input expects: one such record in a queue or a topic
    stopped the process that read it, and again after every restart).

    >>> loads(b'{"id": "e1", "x": [1, 2.5, null]}')
    {'id': 'e1', 'x': [1, 2.5, None]}
    >>> loads("[" * 100_000)
    Traceback (most recent call last):
    ...
    ValueError: recursion limit exceeded at line 1 column 202

    """
    return from_json(raw)


def prediction_json(
    item_id: str,
    prediction: Any,
    proba: dict[Any, float],
    queried: bool,
    score: float,
    model_version: int,
    ts: float,
) -> str:
    """A :class:`Prediction` as JSON (probability keys as text).

    >>> p = Prediction.model_validate_json(prediction_json("e1", 1, {1: 0.9}, False, 0.1, 2, 5.0))
    >>> p.prediction, p.proba, p.queried
    (1, {'1': 0.9}, False)

    """
    return dumps(
        {
            "id": item_id,
            "prediction": prediction,
            "proba": {str(k): v for k, v in proba.items()},
            "queried": queried,
            "score": score,
            "model_version": model_version,
            "ts": ts,
        }
    )


def query_item_json(
    *,
    item_id: str,
    features: dict[str, Any],
    prediction: Any,
    proba: dict[Any, float],
    score: float,
    strategy: str,
    threshold: float | None,
    reason: str,
    enqueued_at: float,
    model_version: int,
    tier: str,
    priority: str,
    explanation: dict[str, Any] | None,
    source: str,
    votes_needed: int = 1,
    escalation: bool = False,
) -> str:
    """A :class:`QueryItem` as JSON (``votes_needed`` written only when above 1, or for an
    ``escalation``'s item, to which the store adds ``escalated``)."""
    fields: dict[str, Any] = {
        "id": item_id,
        "features": features,
        "proba": {str(k): v for k, v in proba.items()},
        "prediction": prediction,
        "score": score,
        "strategy": strategy,
        "threshold": threshold,
        "reason": reason,
        "enqueued_at": enqueued_at,
        "model_version": model_version,
        "tier": tier,
        "priority": priority,
        "explanation": explanation,
        "source": source,
    }
    if votes_needed > 1 or escalation:  # the store collects the votes; it may queue again
        fields["votes_needed"] = votes_needed
    return dumps(fields)


# -- reading events without a model per event --------------------------------------------
# Validating an Event costs a few microseconds a time, more than the JSON it reads. A
# plain event (the shapes below) is checked here with the model's own rules: the same
# types, bounds and field validators (read from the model, so a validator added to Event
# applies here too: a null feature is left out by one), and built as
# Event.model_construct would. Anything else, valid or not, goes to the model: its errors,
# hence the dead letters' reasons, are pydantic's own.
# tests/unit/test_schemas.py holds the two to the same answers and fails when Event gains
# a rule this does not know.

_EVENT_FIELDS = frozenset(Event.model_fields)
_FEATURE_TYPES = frozenset((bool, int, float, str, type(None)))  # a null: left out
_EXACT_INT = 2**53  # ints up to here are floats exactly
_EVENT_CHECKS: dict[str, list[Any]] = {}  # field -> its after-validators, in order
for _d in Event.__pydantic_decorators__.field_validators.values():
    for _name in _d.info.fields if _d.info.mode == "after" else ():
        _EVENT_CHECKS.setdefault(_name, []).append(_d.func)
_new_event = Event.__new__
_set = object.__setattr__


def _number(value: Any) -> float | None:
    """A JSON number as a float field reads it; None for anything the model should judge."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    return None


def _plain_event(raw: str | bytes) -> Event | None:
    """The event ``raw`` holds if it is a plain valid one, else None (the model decides)."""
    try:
        data = from_json(raw, cache_strings="keys")  # values are mostly numbers
    except ValueError:
        return None
    if type(data) is not dict or not data.keys() <= _EVENT_FIELDS:
        return None
    item_id, features = data.get("id"), data.get("features")
    if type(item_id) is not str or not 1 <= len(item_id) <= MAX_ID_CHARS:
        return None
    if type(features) is not dict or not features:
        return None
    for value in features.values():
        if type(value) not in _FEATURE_TYPES:
            return None
    values: dict[str, Any] = {"id": item_id, "features": features, "ts": None, "cost": 1.0}
    if data.get("ts") is not None:
        values["ts"] = _number(data["ts"])  # a text ts (a date) is the model's to read
        if values["ts"] is None:
            return None
    if "cost" in data:
        cost = _number(data["cost"])
        if cost is None or not cost > 0.0:
            return None
        values["cost"] = cost
    meta = data.get("meta")
    if meta is not None and type(meta) is not dict:
        return None
    values["meta"] = meta
    try:
        for name, checks in _EVENT_CHECKS.items():
            if name in data:  # validators judge given values, not defaults
                for check in checks:
                    values[name] = check(values[name])
    except (ValueError, AssertionError):
        return None
    event = _new_event(Event)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", set(data))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


def parse_event(raw: str | bytes) -> Event:
    """``Event.model_validate_json(raw)``: the same event, or the same ``ValidationError``,
    at about half the cost for the plain events of a stream.

    >>> parse_event('{"id": "e1", "features": {"x": 1, "on": true}, "cost": 2}')
    Event(id='e1', features={'x': 1, 'on': True}, ts=None, cost=2.0, meta=None)
    >>> parse_event('{"id": "e1", "features": {}}')
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Event
    ...

    """
    event = _plain_event(raw)
    return event if event is not None else Event.model_validate_json(raw)
