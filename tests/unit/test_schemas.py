"""The hot path's encoders write exactly what the message models accept and write back."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from pydantic import ValidationError

from stream_al.schemas import (
    Event,
    Prediction,
    QueryItem,
    _plain_event,
    parse_event,
    prediction_json,
    query_item_json,
)


@pytest.mark.parametrize(
    ("prediction", "proba"),
    [(1, {0: 0.25, 1: 0.75}), (True, {True: 1.0}), ("UP", {"UP": 0.5, "DOWN": 0.5}), (None, {})],
)
def test_a_prediction_message_is_a_valid_prediction(
    prediction: Any, proba: dict[Any, float]
) -> None:
    encoded = prediction_json("e1", prediction, proba, True, 0.4, 7, 1700000000.5)
    model = Prediction.model_validate_json(encoded)
    assert json.loads(encoded) == model.model_dump(mode="json")
    assert model.proba == {str(k): v for k, v in proba.items()}


@pytest.mark.parametrize("votes", [1, 3])
def test_a_query_item_message_is_a_valid_query_item(votes: int) -> None:
    encoded = query_item_json(
        item_id="e9",
        features={"x": 1.5, "colour": "red", "on": True},
        prediction=False,
        proba={False: 0.6, True: 0.4},
        score=0.4,
        strategy="split",
        threshold=None,
        reason="uncertain",
        enqueued_at=12.5,
        model_version=3,
        tier="expert",
        priority="high",
        explanation={"measure": "leaf", "top_features": [["x", 0.5]]},
        source="pool",
        votes_needed=votes,
    )
    model = QueryItem.model_validate_json(encoded)
    written = json.loads(encoded)
    dumped = model.model_dump(mode="json", exclude={"escalated"})
    if votes == 1:  # written only when an item needs more than one label
        dumped.pop("votes_needed")
    assert written == dumped
    assert model.votes_needed == votes and model.tier == "expert" and model.source == "pool"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"id": "a", "features": {"x": 1e308}}', "beyond 1e+100"),
        ('{"id": "a", "features": {"x": ' + "9" * 400 + "}}", "integer of 400 digits"),
        ('{"id": "a", "features": {"x": -Infinity}}', "must be a finite number"),
        ('{"id": "a", "features": {"x": 1}, "cost": 1e200}', "cost must be at most 1e+100"),
        # pydantic read these as 1.0 and 0.0
        ('{"id": "a", "features": {"x": 1}, "cost": true}', "cost must be a number, got true"),
        ('{"id": "a", "features": {"x": 1}, "ts": false}', "ts must be a number, got false"),
    ],
)
def test_numbers_a_model_cannot_square_are_refused_at_intake(raw: str, says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        Event.model_validate_json(raw)
    assert Event.model_validate_json('{"id": "a", "features": {"x": -1e100, "y": 10}}')


# -- parse_event: Event.model_validate_json's answers, without a model per plain event ----

PLAIN = [
    '{"id": "e1", "features": {"x": 1.5, "n": 3, "on": true, "colour": "red"}}',
    '{"features": {"x": 1}, "id": "e1"}',
    '{"id": "e1", "features": {"x": 1}, "ts": 1700000000.25, "cost": 2}',
    '{"id": "e1", "features": {"x": 1}, "ts": 1700000000, "cost": 0.5, "meta": {"a": [1, null]}}',
    '{"id": "e1", "features": {"x": 1}, "ts": null, "meta": null}',
    '{"id": "e1", "features": {"x": -0.0, "y": 1e99, "z": 5e-324, "big": 123456789012345678901}}',
    '{"id": "' + "é" * 256 + '", "features": {"x": 1}}',
    ' {"id": "e1", "features": {"x": 1, "x": 2}} ',
    '{"id": "e1", "id": "e2", "features": {"x": 1}}',
    '{"id": "e1", "features": {"x": "\\u00e9\\n"}, "meta": {"nan": NaN}}',
    '{"id": "e1", "features": {"age": null, "x": 2, "on": null, "colour": "red"}}',
    '{"id": "e1", "features": {"x": 1, "y": 2, "x": null}}',
]
ODD = [
    "",
    "null",
    "[]",
    '"e1"',
    "{",
    '{"id": "e1"}',
    '{"id": "e1", "features": {}}',
    '{"id": "", "features": {"x": 1}}',
    '{"id": "' + "x" * 257 + '", "features": {"x": 1}}',
    '{"id": 1, "features": {"x": 1}}',
    '{"id": "e1", "features": []}',
    '{"id": "e1", "features": {"x": null}}',
    '{"id": "e1", "features": {"x": null, "y": null}}',
    '{"id": "e1", "features": {"x": null, "y": [1]}}',
    '{"id": "e1", "features": {"x": null, "y": NaN}}',
    '{"id": "e1", "features": {"x": null, "y": 1e200}}',
    '{"id": "", "features": {"x": null, "y": 1}}',
    '{"id": "e1", "features": {"x": [1]}}',
    '{"id": "e1", "features": {"x": {"y": 1}}}',
    '{"id": "e1", "features": {"x": NaN}}',
    '{"id": "e1", "features": {"x": Infinity}}',
    '{"id": "e1", "features": {"x": -Infinity}}',
    '{"id": "e1", "features": {"x": 1e400}}',
    '{"id": "e1", "features": {"x": 1}, "cost": 0}',
    '{"id": "e1", "features": {"x": 1}, "cost": -1}',
    '{"id": "e1", "features": {"x": 1}, "cost": "2"}',
    '{"id": "e1", "features": {"x": 1}, "cost": true}',
    '{"id": "e1", "features": {"x": 1}, "cost": null}',
    '{"id": "e1", "features": {"x": 1}, "cost": NaN}',
    '{"id": "e1", "features": {"x": 1}, "cost": 123456789012345678901234567890}',
    '{"id": "e1", "features": {"x": 1}, "ts": "2024-05-01T12:00:00Z"}',
    '{"id": "e1", "features": {"x": 1}, "ts": "1700000000.5"}',
    '{"id": "e1", "features": {"x": 1}, "ts": "yesterday"}',
    '{"id": "e1", "features": {"x": 1}, "ts": Infinity}',
    '{"id": "e1", "features": {"x": 1}, "ts": false}',
    '{"id": "e1", "features": {"x": 1}, "ts": 12345678901234567890}',
    '{"id": "e1", "features": {"x": 1}, "meta": []}',
    '{"id": "e1", "features": {"x": 1}, "meta": "note"}',
    '{"id": "e1", "features": {"x": 1}, "label": 1}',
    '{"id": "e1", "features": {"x": 1}} trailing',
    '{"id": "\\ud800", "features": {"x": 1}}',
    b'{"id": "\xff", "features": {"x": 1}}',
]


def _answer(parse: Any, raw: str | bytes) -> str:
    """What reading ``raw`` gives: the event with its set fields and value types, or the
    validation error's text (repr: NaN compares equal to itself as text)."""
    try:
        event = parse(raw)
    except ValidationError as exc:
        return f"error: {exc}"
    types = [type(v).__name__ for v in (*event.features.values(), event.ts, event.cost)]
    return repr((event, sorted(event.model_fields_set), types))


def _random_payload(rng: random.Random) -> str:
    values: list[Any] = [0, -3, 2**60, 2**53 + 1, 0.1, -2.5e-8, 1e99, True, False, "", "a"]
    values += [None, [1], {"k": 1}, "NaN", float("nan"), float("inf"), 1e300]
    fields: dict[str, Any] = {}
    if rng.random() < 0.95:
        fields["id"] = rng.choice(["e", "e", "e", "", "x" * 256, "x" * 257, 7, None])
    if rng.random() < 0.95:
        n = rng.choice([0, 1, 3])
        fields["features"] = {f"f{i}": rng.choice(values) for i in range(n)}
        if rng.random() < 0.05:
            fields["features"] = rng.choice(values)
    for name in ("ts", "cost", "meta", "extra"):
        if rng.random() < (0.05 if name == "extra" else 0.3):
            fields[name] = rng.choice([*values, "2024-01-01", {"note": float("nan")}])
    return json.dumps(fields)  # NaN and Infinity written as JSON5-style literals


@pytest.mark.parametrize("raw", PLAIN + ODD)
def test_parse_event_answers_as_the_model_does(raw: str | bytes) -> None:
    assert _answer(parse_event, raw) == _answer(Event.model_validate_json, raw)


def test_parse_event_answers_as_the_model_does_on_random_payloads() -> None:
    rng = random.Random(18)
    valid = 0
    for _ in range(3000):
        raw = _random_payload(rng)
        answer = _answer(parse_event, raw)
        assert answer == _answer(Event.model_validate_json, raw), raw
        valid += not answer.startswith("error")
    assert 100 < valid < 2900  # both kinds were tried


def test_plain_events_take_the_fast_path() -> None:
    for raw in PLAIN:
        assert _plain_event(raw) is not None, raw


def test_a_null_feature_is_missing_and_left_out_of_the_event() -> None:
    # null is JSON's missing value (pandas writes NaN as null): such an event was a dead
    # letter, so a producer's every event with a missing value lost its prediction.
    raw = '{"id": "e1", "features": {"age": null, "x": 2, "colour": "red", "on": null}}'
    for parse in (parse_event, Event.model_validate_json):
        assert parse(raw).features == {"x": 2, "colour": "red"}
    assert Event.model_validate({"id": "e1", "features": {"a": None, "b": 1.5}}).features == {
        "b": 1.5
    }


@pytest.mark.parametrize(
    ("features", "nulls"), [("{}", ""), ('{"age": null}', " (every one is null, a missing value)")]
)
def test_an_event_without_a_feature_that_has_a_value_is_refused_naming_the_fix(
    features: str, nulls: str
) -> None:
    # One reason for a CSV row whose feature cells are all empty (produce sends {}) and
    # for an event whose features are all null: before, pydantic's "Dictionary should have
    # at least 1 item after validation" and four union errors per null feature.
    with pytest.raises(ValidationError) as caught:
        parse_event('{"id": "e1", "features": ' + features + "}")
    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [
        (
            ("features",),
            f"Value error, no feature has a value{nulls}: an event needs at least one "
            "feature that is a number, a boolean or text",
        )
    ]


def test_parse_event_knows_every_rule_of_event() -> None:
    """parse_event's own checks mirror Event's types and bounds (its validators it reads
    from the model): a change to Event must be taught to ``_plain_event`` too."""
    assert Event.model_json_schema() == {
        "additionalProperties": False,
        "description": "An event to predict (and perhaps to ask a human about).",
        "properties": {
            "id": {"maxLength": 256, "minLength": 1, "title": "Id", "type": "string"},
            "features": {
                "additionalProperties": {
                    "anyOf": [
                        {"type": "boolean"},
                        {"type": "integer"},
                        {"type": "number"},
                        {"type": "string"},
                        {"type": "null"},
                    ]
                },
                "minProperties": 1,
                "title": "Features",
                "type": "object",
            },
            "ts": {
                "anyOf": [
                    {"type": "number"},
                    {"format": "date-time", "type": "string"},
                    {"type": "null"},
                ],
                "default": None,
                "title": "Ts",
            },
            "cost": {"default": 1.0, "exclusiveMinimum": 0.0, "title": "Cost", "type": "number"},
            "meta": {
                "anyOf": [{"additionalProperties": True, "type": "object"}, {"type": "null"}],
                "default": None,
                "title": "Meta",
            },
        },
        "required": ["id", "features"],
        "title": "Event",
        "type": "object",
    }
    decorators = Event.__pydantic_decorators__
    assert not decorators.model_validators and not decorators.validators
    # _plain_event runs the "after" validators; the one "before" validator refuses a
    # boolean cost or ts, which _plain_event leaves to the model (its _number takes only
    # float and int).
    before = {n for n, d in decorators.field_validators.items() if d.info.mode != "after"}
    assert before == {"_not_a_boolean"}


def test_a_prediction_naming_every_class_the_limits_allow_fits_in_a_kafka_message() -> None:
    # The largest classes a model learns, by each way a label's text can grow in JSON:
    # 4-byte characters, escaped control characters, plain ASCII. A prediction names
    # them all; it must stay within a Kafka message (1,000,000 bytes: librdkafka's
    # default; kafka-python's is 1 MiB), or no prediction could be delivered again.
    from stream_al.schemas import MAX_CLASSES, label_size_problem, prediction_json

    widest = {
        "4-byte": "\N{GRINNING FACE}",
        "escaped": "\x01",
        "ascii": "x",
    }
    for kind, char in widest.items():
        n = 1
        while label_size_problem(char * (n + 1) + "#" * 4) is None:
            n += 1  # the longest label of such characters the rule accepts
        labels = [char * n + f"{i:04d}" for i in range(MAX_CLASSES)]
        assert all(label_size_problem(label) is None for label in labels)
        proba = dict.fromkeys(labels, 1 / 3)
        size = len(prediction_json("e" * 256, labels[0], proba, True, 1 / 3, 2**40, 1e9).encode())
        assert size < 1_000_000, (kind, size)
