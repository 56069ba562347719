"""A feature keeps the kind the model learned; numbers stay in range (issue 15)."""

from __future__ import annotations

import pickle

import pytest
from river.datasets import synth

from stream_al.core.feature_kinds import FeatureKinds, InvalidFeatures
from stream_al.core.learner import ActiveLearner


def _trained(n: int = 2000) -> tuple[ActiveLearner, dict[str, object]]:
    learner = ActiveLearner("hoeffding-tree", "split", 0.5, seed=1)
    for x, y in synth.Agrawal(seed=1).take(n):
        decision = learner.decide(x)
        if decision.queried:
            learner.learn(x, y, decision.prediction)
    return learner, dict(x)


def test_text_where_numbers_were_learned_and_the_reverse_are_refused() -> None:
    kinds = FeatureKinds()
    kinds.learn({"age": 41, "city": "Oslo", "ok": True})
    kinds.check({"age": 3.5, "city": "Rome", "ok": False, "new": "x"})
    with pytest.raises(InvalidFeatures, match="'age' is text"):
        kinds.check({"age": "forty"})
    with pytest.raises(InvalidFeatures, match=r"'city' is a number .* learned it as text"):
        kinds.check({"city": 7})
    kinds.learn({"age": "forty", "later": "y"})  # the first kind stays; new features join
    assert kinds.numeric == {"age", "ok"} and kinds.text == {"city", "later"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (float("nan"), "not a finite number"),
        (float("-inf"), "not a finite number"),
        (1e300, r"beyond 1e\+100"),
        (-(10**400), "an integer of 401 digits"),
        (None, "neither a number nor text"),
    ],
)
def test_an_example_with_a_number_out_of_range_is_refused(value: object, says: str) -> None:
    with pytest.raises(InvalidFeatures, match=says):
        FeatureKinds().check_example({"x": value})


def test_kinds_pickle_in_a_canonical_order() -> None:
    kinds = FeatureKinds()
    kinds.learn({"b": 1, "a": "x", "c": 2.0})
    again = pickle.loads(pickle.dumps(kinds))
    assert (again.numeric, again.text) == (kinds.numeric, kinds.text)


def test_the_learner_refuses_what_it_cannot_take_and_spends_nothing_on_it() -> None:
    learner, x = _trained()
    events, spent = learner.n_events, learner.budget.spent
    for bad in ({**x, "salary": "abc"}, {**x, "elevel": "high"}):
        with pytest.raises(InvalidFeatures, match="learned it as a number"):
            learner.decide(bad)
    assert (learner.n_events, learner.budget.spent) == (events, spent)
    learned, digest = learner.n_learned, learner.model_digest()
    with pytest.raises(InvalidFeatures):
        learner.learn({**x, "salary": int("9" * 400)}, 1, 0)
    with pytest.raises(InvalidFeatures):
        learner.learn({**x, "salary": "abc"}, 1, 0)
    assert learner.n_learned == learned and learner.model_digest() == digest


def test_a_restored_learner_keeps_its_kinds_and_an_older_snapshot_learns_them_again() -> None:
    learner, x = _trained(600)
    copy = ActiveLearner.restore(learner.snapshot())
    with pytest.raises(InvalidFeatures):
        copy.decide({**x, "age": "old"})
    del learner.__dict__["_kinds"]  # as a learner pickled before the kinds were kept
    older = ActiveLearner.restore(pickle.dumps(learner))
    older.decide(x)  # no kinds yet: nothing refused
    older.learn(x, 1, 0)
    with pytest.raises(InvalidFeatures):
        older.decide({**x, "age": "old"})


def test_a_warm_start_leaves_out_the_examples_the_model_cannot_learn() -> None:
    learner = ActiveLearner("gaussian-nb", budget=0.1)
    history = [({"x": 1.0}, "a"), ({"x": "one"}, "a"), ({"x": 10**400}, "b"), ({"x": 2.0}, "b")]
    assert learner.warm_start(history) == 2 and learner.n_learned == 2
