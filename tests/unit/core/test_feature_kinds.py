"""A feature and the label keep the kind the model learned; numbers stay in range (issue 15)."""

from __future__ import annotations

import pickle

import pytest
from river.datasets import synth

from stream_al.core.feature_kinds import (
    MAX_CLASSES,
    MAX_MODEL_FEATURES,
    FeatureKinds,
    IdLikeText,
    InvalidFeatures,
    InvalidLabel,
    _restore,
)
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


def test_a_label_keeps_the_kind_of_the_first_label_learned() -> None:
    kinds = FeatureKinds()
    for y in ("yes", 1, True):
        kinds.check_label(y)  # nothing learned yet: any kind
    kinds.learn_label("yes")
    kinds.check_label("no")
    with pytest.raises(InvalidLabel, match=r"label 1 is an integer, .* as text"):
        kinds.check_label(1)
    with pytest.raises(InvalidLabel, match="label True is a boolean"):
        kinds.check_label(True)
    numbers = FeatureKinds()
    numbers.learn_label(0)
    with pytest.raises(InvalidLabel, match=r"a boolean, .* as an integer"):
        numbers.check_label(True)  # True == 1 to Python: not the class 1 by accident
    for value in (1.5, None, ["a"]):
        with pytest.raises(InvalidLabel, match="a label is text, an integer or a boolean"):
            FeatureKinds().check_label(value)


def test_a_label_too_large_to_name_a_class_is_refused_before_anything_learns_it() -> None:
    learner = ActiveLearner("auto", "random", 1.0, seed=0)
    for y in ("x" * 257, 2**63, -(2**63) - 1):
        with pytest.raises(InvalidLabel, match=r"at most 256 characters|a signed 64-bit integer"):
            learner.learn({"x": 1.0}, y)
    assert learner.n_learned == 0
    for y in ("x" * 256, -(2**63)):
        FeatureKinds().check_label(y)  # the largest there may be


def test_a_model_learns_at_most_max_classes_classes_and_keeps_the_count_when_pickled() -> None:
    kinds = FeatureKinds()
    for i in range(MAX_CLASSES):
        kinds.check_label(f"c{i}")
        kinds.learn_label(f"c{i}")
    kinds.check_label("c7")  # a class it knows: always
    with pytest.raises(InvalidLabel, match=r"class 1,001, beyond the 1,000 .* an id\?"):
        kinds.check_label("c1000")
    again = pickle.loads(pickle.dumps(kinds))
    assert again.classes == kinds.classes
    with pytest.raises(InvalidLabel, match="beyond the 1,000"):
        again.check_label("new")


def test_the_label_kind_pickles_and_older_kinds_restore_without_one() -> None:
    kinds = FeatureKinds()
    kinds.learn({"a": 1})
    kinds.learn_label(3)
    assert pickle.loads(pickle.dumps(kinds)).label == "an integer"
    older = kinds.__reduce__()[1][:2]  # as pickled before labels had a kind
    assert _restore(*older).label is None and _restore(*older).numeric == {"a"}
    counted = kinds.__reduce__()[1][:3]  # as pickled before the classes were counted
    assert _restore(*counted).label == "an integer" and _restore(*counted).classes == set()


@pytest.mark.parametrize("model", ["hoeffding-tree", "hoeffding-tree-default", "auto"])
def test_a_label_of_another_kind_is_refused_and_the_model_still_predicts(model: str) -> None:
    # One integer label among text classes used to leave a tree that raised on every event
    # (River sorts the classes), and an auto learner that could learn no label again.
    learner = ActiveLearner(model, "random", 1.0, seed=0)
    stream = list(synth.SEA(seed=1).take(600))
    for x, y in stream[:300]:
        learner.learn(x, "yes" if y else "no", learner.decide(x).prediction)
    learned, digest = learner.n_learned, learner.model_digest()
    x = stream[300][0]
    for bad in (1, True):
        with pytest.raises(InvalidLabel):
            learner.check_label(bad)
        with pytest.raises(InvalidLabel):
            learner.learn(x, bad, learner.predict(x))
    assert learner.n_learned == learned and learner.model_digest() == digest
    for x, y in stream[300:]:
        assert learner.decide(x).prediction in ("yes", "no")
        learner.learn(x, "yes" if y else "no")
    assert learner.n_learned == learned + 300


def test_a_text_feature_whose_values_do_not_repeat_is_found_once_and_categories_are_not() -> None:
    ids = IdLikeText(after=200)
    found = [
        ids.learn({"uid": f"row-{i}", "colour": ("red", "blue", "green")[i % 3], "x": 1.0})
        for i in range(1000)
    ]
    assert [(i, names) for i, names in enumerate(found) if names] == [(199, ["uid"])]
    # A zip code over 200 examples repeats some values; 100 distinct of 200 is no id.
    assert not any(ids.learn({"zip": str(i % 100)}) for i in range(400))


def test_the_id_finder_judges_at_most_tracked_names_whatever_the_stream_sends() -> None:
    ids = IdLikeText(after=2, tracked=10)
    for i in range(10_000):  # a name per event: nothing repeats, nothing is judged
        ids.learn({f"t{i}": "a"})
    assert len(ids._values) + len(ids._judged) == 10


# -- the cap on the names a model learns ---------------------------------------------------


def test_names_are_admitted_in_the_order_examples_give_them_until_the_cap() -> None:
    kinds = FeatureKinds(cap=3)
    x = {"a": 1.0, "b": "x"}
    assert kinds.learn(x) is x and not kinds.full  # room for all: the example itself
    assert kinds.learn({"user_1": 1, "a": 2.0, "user_2": 2}) == {"user_1": 1, "a": 2.0}
    assert kinds.full and kinds.known == {"a", "b", "user_1"}
    assert kinds.numeric == {"a", "user_1"} and kinds.text == {"b"}
    assert kinds.learn({"user_3": "z", "b": "y"}) == {"b": "y"}
    kinds.check({"user_3": 5.0, "user_2": "any kind"})  # never learned: anything goes
    known = {"a": 1.0, "b": "y"}
    assert kinds.known_only(known) is known
    assert kinds.known_only({"a": 1.0, "user_9": 1}) == {"a": 1.0}


def test_the_admitted_names_and_the_cap_pickle_and_older_kinds_take_the_default_cap() -> None:
    kinds = FeatureKinds(cap=2)
    kinds.learn({"b": 1, "a": "x", "c": 2.0})
    again = pickle.loads(pickle.dumps(kinds))
    assert (again.known, again.cap, again.full) == ({"a", "b"}, 2, True)
    assert again.learn({"c": 1.0, "a": "y"}) == {"a": "y"}
    older = kinds.__reduce__()[1][:4]  # as pickled before there was a cap
    assert _restore(*older).cap == MAX_MODEL_FEATURES and not _restore(*older).full


def test_a_lower_cap_keeps_the_names_learned_and_a_higher_one_admits_more() -> None:
    kinds = FeatureKinds(cap=3)
    kinds.learn({"a": 1, "b": 2, "c": 3})
    kinds.set_cap(2)
    assert kinds.full and kinds.known == {"a", "b", "c"}
    assert kinds.learn({"a": 1, "d": 4}) == {"a": 1}
    kinds.set_cap(4)
    assert not kinds.full
    assert kinds.learn({"d": 4, "e": 5}) == {"d": 4} and kinds.full
