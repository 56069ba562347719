from __future__ import annotations

import pytest
from river import compose

from stream_al.core.features import StandardizeAndEncode
from stream_al.core.learner import ActiveLearner
from stream_al.core.models import MODELS, has_unsupervised_steps, make_model
from stream_al.data.streams import parse_stream


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_learns_a_stream_with_numeric_and_text_features(name: str) -> None:
    model = make_model(name, seed=1)
    examples = [
        (
            {"size": float(i % 10), "colour": "red" if i % 3 else "blue"},
            "big" if i % 10 > 4 else "small",
        )
        for i in range(400)
    ]
    for x, y in examples:
        model.learn_one(x, y)
    proba = model.predict_proba_one({"size": 8.0, "colour": "red"})
    assert set(proba) <= {"big", "small"}
    assert sum(proba.values()) == pytest.approx(1.0)
    assert max(proba, key=proba.__getitem__) == "big"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_handles_many_classes(name: str) -> None:
    model = make_model(name, seed=0)
    data = list(parse_stream("river:ImageSegments", n_events=600).events())
    for x, y in data:
        model.learn_one(x, y)
    proba = model.predict_proba_one(data[0][0])
    assert len(proba) >= 3


def test_unknown_model_and_bad_parameters_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="choose one of: hoeffding-tree"):
        make_model("random-forest")
    with pytest.raises(ValueError, match="bad parameters for model 'gaussian-nb'"):
        make_model("gaussian-nb", depth=3)


def test_only_pipelines_with_unsupervised_steps_are_flagged() -> None:
    assert has_unsupervised_steps(make_model("logistic-regression"))
    assert has_unsupervised_steps(make_model("gaussian-nb"))
    for name in ("hoeffding-tree", "hoeffding-adaptive-tree", "adaptive-random-forest"):
        assert not has_unsupervised_steps(make_model(name))


def _scaler(model: compose.Pipeline) -> StandardizeAndEncode:
    found = [step for step in model.steps.values() if isinstance(step, StandardizeAndEncode)]
    assert len(found) == 1
    return found[0]


def test_the_scaler_sees_every_event_not_only_the_labeled_ones() -> None:
    learner = ActiveLearner("logistic-regression", "random", 0.1, seed=0)
    for i in range(500):
        x = {"v": float(i)}
        decision = learner.decide(x)
        if decision.queried:
            learner.learn(x, i % 2 == 0, decision.prediction)
    assert 0 < learner.n_learned < 500
    # 500 events seen, each counted once (learning must not count a labeled one twice).
    assert _scaler(learner.model).count("v") == 500
