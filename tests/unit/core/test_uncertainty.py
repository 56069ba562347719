from __future__ import annotations

import math

import pytest
from river import tree

from stream_al.core import uncertainty
from stream_al.core.models import make_model
from stream_al.core.uncertainty import (
    MEASURES,
    entropy,
    leaf_impurity,
    least_confidence,
    margin,
    resolve,
    stats_impurity,
)
from stream_al.data.streams import parse_stream


@pytest.mark.parametrize("name", list(MEASURES))
def test_every_measure_is_largest_when_uniform_and_zero_when_certain(name: str) -> None:
    fn = MEASURES[name]
    uniform = fn({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert uniform > fn({"a": 0.5, "b": 0.3, "c": 0.2}) > fn({"a": 0.9, "b": 0.05, "c": 0.05})
    assert fn({"a": 1.0, "b": 0.0}) == pytest.approx(0.0)


def test_margin_and_entropy_are_one_when_uniform_least_confidence_is_one_minus_one_over_k() -> None:
    uniform = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert margin(uniform) == pytest.approx(1.0)
    assert entropy(uniform) == pytest.approx(1.0)
    assert least_confidence(uniform) == pytest.approx(2 / 3)


@pytest.mark.parametrize("name", list(MEASURES))
def test_a_model_without_labels_is_maximally_uncertain(name: str) -> None:
    assert MEASURES[name]({}) == 1.0


def test_least_confidence_is_one_minus_the_top_probability() -> None:
    assert least_confidence({"a": 0.7, "b": 0.2, "c": 0.1}) == pytest.approx(0.3)


def test_margin_uses_the_two_largest_probabilities_in_any_order() -> None:
    assert margin({"c": 0.1, "a": 0.2, "b": 0.7}) == pytest.approx(1 - (0.7 - 0.2))
    assert margin({"only": 0.8}) == pytest.approx(0.2)


def test_entropy_is_normalised_by_the_number_of_classes() -> None:
    p = {"a": 0.5, "b": 0.25, "c": 0.25}
    expected = -sum(v * math.log(v) for v in p.values()) / math.log(3)
    assert entropy(p) == pytest.approx(expected)
    assert 0.0 <= entropy({"a": 0.9, "b": 0.1}) <= 1.0


def test_measures_rank_a_closer_call_as_more_uncertain() -> None:
    close, clear = {"a": 0.55, "b": 0.45}, {"a": 0.9, "b": 0.1}
    for fn in MEASURES.values():
        assert fn(close) > fn(clear)


def test_unknown_measure_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="least-confidence, margin, entropy"):
        uncertainty.measure("variance")


def _grown_tree() -> tuple[tree.HoeffdingTreeClassifier, list]:
    model = make_model("hoeffding-tree")
    data = list(parse_stream("synth:agrawal-drift", n_events=4000).events(seed=1))
    for x, y in data[:3000]:
        model.learn_one(x, y)
    assert model.n_nodes > 3
    return model, data[3000:]


def test_leaf_impurity_is_one_minus_the_majority_share_of_the_leaf() -> None:
    model, rest = _grown_tree()
    for x, _ in rest[:200]:
        leaf = model._root.traverse(x, until_leaf=True)
        stats = leaf.stats
        assert leaf_impurity(model, x) == pytest.approx(
            1 - max(stats.values()) / sum(stats.values())
        )
    assert leaf_impurity(make_model("hoeffding-tree"), {"a": 1}) == 1.0
    assert stats_impurity({}) == stats_impurity(None) == 1.0


def test_auto_picks_leaf_for_trees_and_least_confidence_otherwise() -> None:
    assert resolve("auto", make_model("hoeffding-tree")) == "leaf"
    assert resolve("auto", make_model("hoeffding-adaptive-tree")) == "leaf"
    assert resolve("auto", make_model("logistic-regression")) == "least-confidence"
    assert resolve("entropy", make_model("hoeffding-tree")) == "entropy"
    with pytest.raises(ValueError, match="needs a Hoeffding tree"):
        resolve("leaf", make_model("gaussian-nb"))
    with pytest.raises(ValueError, match="choose one of: auto"):
        resolve("variance", make_model("gaussian-nb"))
