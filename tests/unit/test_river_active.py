from __future__ import annotations

import pickle
from typing import Any

import pytest
from river import datasets, linear_model, metrics, naive_bayes, preprocessing
from river.active.base import ActiveLearningClassifier

from stream_al import river_active
from stream_al.core.budget import EstimatedBudget
from stream_al.core.drift import DriftReaction
from stream_al.core.learner import SKIP_BUDGET, ActiveLearner
from stream_al.core.strategies import STRATEGIES, MovingAverage
from stream_al.river_active import (
    SAMPLERS,
    FixedUncertaintySampler,
    MovingAverageSampler,
    StrategySampler,
)

BUDGET = 0.1
WINDOW = 1000
N = 5000


def _sea(n: int = N) -> list[tuple[dict[Any, float], bool]]:
    return list(datasets.synth.SEA(seed=1).take(n))


def _logistic() -> Any:  # a River pipeline, a Classifier at run time
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def _run(
    sampler: StrategySampler, data: list[tuple[dict[Any, float], bool]]
) -> tuple[float, list[bool]]:
    """The River loop of the docs: predict, score, learn the asked labels."""
    metric = metrics.Accuracy()
    asked = []
    for x, y in data:
        y_pred, ask = sampler.predict_one(x)
        metric.update(y, y_pred)
        asked.append(ask)
        if ask:
            sampler.learn_one(x, y)
    return metric.get(), asked


def test_there_is_a_sampler_for_every_strategy_and_all_are_exported() -> None:
    # A strategy that learns from the answers to its questions (the bandit) has none.
    assert list(SAMPLERS) == [n for n, c in STRATEGIES.items() if not c.learns_from_answers]
    for name, cls in SAMPLERS.items():
        assert issubclass(cls, ActiveLearningClassifier)
        assert cls.__name__ in river_active.__all__
        sampler = cls(naive_bayes.GaussianNB())
        assert sampler.strategy.name == name


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_spends_its_budget_and_learns_in_a_river_loop(name: str) -> None:
    data = _sea()
    sampler = SAMPLERS[name](_logistic(), budget=BUDGET, window=WINDOW, seed=3)
    accuracy, asked = _run(sampler, data)
    fraction = sum(asked[WINDOW:]) / (N - WINDOW)  # after the cold start
    if name == "fixed-uncertainty":  # spends at most the budget, by design
        assert 0.0 < fraction <= BUDGET * 1.3
    else:
        assert fraction == pytest.approx(BUDGET, rel=0.3)
    # Nothing learned: the best a model without labels can do is the majority class.
    majority = max(sum(y for _, y in data), sum(not y for _, y in data)) / N
    assert accuracy > majority + 0.1


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_sampler_is_deterministic_given_its_seed(name: str) -> None:
    data = _sea(2000)
    a = _run(SAMPLERS[name](naive_bayes.GaussianNB(), budget=0.05, seed=11), data)
    b = _run(SAMPLERS[name](naive_bayes.GaussianNB(), budget=0.05, seed=11), data)
    assert a == b


def test_the_seed_drives_the_random_decisions() -> None:
    data = _sea(2000)
    a = _run(SAMPLERS["random"](naive_bayes.GaussianNB(), seed=1), data)[1]
    b = _run(SAMPLERS["random"](naive_bayes.GaussianNB(), seed=2), data)[1]
    assert a != b


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_clone_gives_a_fresh_sampler_with_the_same_parameters(name: str) -> None:
    data = _sea(1500)
    sampler = SAMPLERS[name](naive_bayes.GaussianNB(), budget=0.2, window=300, seed=5)
    first = _run(sampler, data)
    clone = sampler.clone()
    assert type(clone) is type(sampler)
    assert clone._get_params() == sampler._get_params()
    assert clone.budget_estimate.spent == 0.0
    assert _run(clone, data) == first  # fresh state: the same run again


def test_clone_keeps_the_strategy_parameters() -> None:
    sampler = MovingAverageSampler(naive_bayes.GaussianNB(), 0.05, k=1.5, alpha=0.02, patience=7)
    clone = sampler.clone({"k": 2.0})
    assert (clone.k, clone.alpha, clone.patience, clone.budget) == (2.0, 0.02, 7, 0.05)
    assert isinstance(clone.strategy, MovingAverage)
    assert (clone.strategy.k, clone.strategy.patience) == (2.0, 7)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_sampler_decides_like_the_active_learner(name: str) -> None:
    # Same model, strategy, budget and measure; no drift reaction: the same questions.
    data = _sea(3000)
    learner = ActiveLearner(
        naive_bayes.GaussianNB(),
        name,
        0.05,
        window=500,
        uncertainty="least-confidence",
        drift=DriftReaction(enabled=False),
        seed=4,
    )
    sampler = SAMPLERS[name](naive_bayes.GaussianNB(), budget=0.05, window=500, seed=4)
    engine = []
    for x, y in data:
        decision = learner.decide(x)
        engine.append(decision.queried)
        if decision.queried:
            learner.learn(x, y, decision.prediction)
    assert _run(sampler, data)[1] == engine


def test_the_moving_average_sampler_observes_every_event_even_without_budget() -> None:
    sampler = MovingAverageSampler(
        naive_bayes.GaussianNB(), budget=0.01, window=100, patience=10**9
    )
    _, asked = _run(sampler, _sea(1000))
    assert sum(asked) < 50
    assert sampler.strategy._n == 1000  # type: ignore[attr-defined]
    assert sampler.last_reason in {SKIP_BUDGET, "uncertain", "confident"}


def test_each_prediction_is_one_decision() -> None:
    # Before any label every prediction is maximally uncertain and the strategy asks:
    # the budget alone decides, and it counts each call of predict_one or
    # predict_proba_one as one event.
    sampler = FixedUncertaintySampler(naive_bayes.GaussianNB(), budget=0.1, window=100)
    x = {"a": 1.0}
    asks = [sampler.predict_one(x)[1] for _ in range(8)]
    asks += [sampler.predict_proba_one(x)[1] for _ in range(12)]
    budget, expected = EstimatedBudget(0.1, window=100), []
    for _ in range(20):
        expected.append(budget.allows())
        budget.record(expected[-1])
    assert asks == expected
    assert 1 < sum(asks) < 20  # B = 0.1 from the first event: 2 or 3 of 20
    assert sampler.last_reason == SKIP_BUDGET


def test_predict_one_is_none_before_the_model_knows_a_class() -> None:
    sampler = SAMPLERS["split"](naive_bayes.GaussianNB(), seed=0)
    assert sampler.predict_one({"a": 1.0}) == (None, True)
    sampler.learn_one({"a": 1.0}, "spam")
    assert sampler.predict_one({"a": 1.0})[0] == "spam"


def test_a_sampler_survives_pickle_with_its_state() -> None:
    data = _sea(1200)
    sampler = SAMPLERS["randomized-variable-uncertainty"](naive_bayes.GaussianNB(), seed=9)
    _run(sampler, data[:600])
    copy = pickle.loads(pickle.dumps(sampler))
    assert _run(copy, data[600:]) == _run(sampler, data[600:])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"budget": 0.0}, "budget must be in"),
        ({"window": 0}, "budget window"),
        ({"uncertainty": "leaf"}, "unknown uncertainty measure 'leaf'"),
        ({"k": -1.0}, "k must be >= 0"),
        ({"alpha": 2.0}, "alpha must be in"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MovingAverageSampler(naive_bayes.GaussianNB(), **params)


def test_the_uncertainty_measure_is_configurable() -> None:
    data = _sea(2000)
    runs = {
        measure: _run(
            SAMPLERS["variable-uncertainty"](naive_bayes.GaussianNB(), uncertainty=measure),
            data,
        )[1]
        for measure in ("least-confidence", "margin", "entropy")
    }
    assert runs["least-confidence"] != runs["entropy"]
