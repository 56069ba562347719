"""The hot path's encoders write exactly what the message models accept and write back."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from stream_al.schemas import Event, Prediction, QueryItem, prediction_json, query_item_json


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
    ],
)
def test_numbers_a_model_cannot_square_are_refused_at_intake(raw: str, says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        Event.model_validate_json(raw)
    assert Event.model_validate_json('{"id": "a", "features": {"x": -1e100, "y": 10}}')
