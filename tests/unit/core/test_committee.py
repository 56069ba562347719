from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
from river import compose, ensemble, forest, linear_model, naive_bayes, preprocessing, tree
from river.datasets import synth

from stream_al.core.committee import (
    Committee,
    disagreement,
    kl_to_consensus,
    member_probas,
    members,
    score,
    vote_entropy,
)

NOT_AN_ENSEMBLE = (
    "is not an ensemble; choose adaptive-random-forest or bagging, or configure committee members"
)


def _agrawal(n: int, seed: int = 42) -> list[tuple[dict[Any, Any], Any]]:
    return list(synth.Agrawal(classification_function=0, seed=seed).take(n))


def _trained(model: Any, n: int = 400) -> Any:
    for x, y in _agrawal(n):
        model.learn_one(x, y)
    return model


def test_vote_entropy_is_zero_when_unanimous_and_one_when_evenly_split() -> None:
    assert vote_entropy(["a"] * 5) == 0.0
    assert vote_entropy(["a", "b"] * 3) == pytest.approx(1.0)
    assert vote_entropy(["a", "b", "c"] * 2) == pytest.approx(1.0)
    assert 0.0 < vote_entropy(["a"] * 9 + ["b"]) < vote_entropy(["a"] * 7 + ["b"] * 3) < 1.0
    # Normalised by the most even spread the classes allow, not by the number of members.
    assert vote_entropy(["a"] * 9 + ["b"]) == pytest.approx(0.469, abs=1e-3)
    assert vote_entropy(["a", "b", "a", "b"], n_classes=3) == pytest.approx(
        math.log(2) / math.log(3)
    )
    assert vote_entropy([]) == vote_entropy(["a"]) == 0.0


def test_kl_is_zero_for_identical_members_and_grows_with_disagreement() -> None:
    p = {"a": 0.7, "b": 0.3}
    assert kl_to_consensus([p, dict(p), dict(p)]) == pytest.approx(0.0)
    mild = kl_to_consensus([{"a": 0.7, "b": 0.3}, {"a": 0.5, "b": 0.5}])
    strong = kl_to_consensus([{"a": 0.95, "b": 0.05}, {"a": 0.05, "b": 0.95}])
    assert 0.0 < mild < strong < 1.0
    # Certain of different classes: the bound, 1.
    assert kl_to_consensus([{"a": 1.0}, {"b": 1.0}]) == pytest.approx(1.0)


def test_kl_handles_missing_classes_empty_and_single_members() -> None:
    assert kl_to_consensus([{"a": 0.6, "b": 0.4}]) == 0.0
    assert kl_to_consensus([{}, {"a": 0.6, "b": 0.4}, {}]) == 0.0
    assert kl_to_consensus([]) == 0.0
    missing = kl_to_consensus([{"a": 0.5, "b": 0.5}, {"a": 0.5, "c": 0.5}])
    assert 0.0 < missing <= 1.0
    # Unnormalised distributions are normalised first.
    assert kl_to_consensus([{"a": 2.0, "b": 2.0}, {"a": 0.5, "b": 0.5}]) == pytest.approx(0.0)


def test_score_is_maximal_while_the_committee_knows_nothing() -> None:
    for measure in ("vote-entropy", "kl"):
        assert score([{}, {}], measure) == 1.0
        assert score([{"a": 1.0}, {}], measure) == 1.0  # one member with an opinion
        assert score([{"a": 1.0}, {"a": 1.0}], measure) == 1.0  # one class known
        assert score([{"a": 0.9, "b": 0.1}, {"a": 0.8, "b": 0.2}], measure) < 0.1
    with pytest.raises(ValueError, match="unknown disagreement measure"):
        score([], "entropy")


def test_members_of_an_adaptive_random_forest_disagree_in_0_1_and_vary() -> None:
    model = _trained(forest.ARFClassifier(n_models=5, seed=1))
    found = members(model)
    assert len(found) == 5
    assert all(isinstance(m, tree.HoeffdingTreeClassifier) for m in found)
    for measure in ("vote-entropy", "kl"):
        scores = [disagreement(model, x, measure) for x, _ in _agrawal(300, seed=7)]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert len({round(s, 6) for s in scores}) > 1


def test_an_untrained_forest_has_no_members_yet_and_scores_one() -> None:
    model = forest.ARFClassifier(n_models=5, seed=1)
    assert members(model) == []
    x = _agrawal(1)[0][0]
    assert disagreement(model, x) == 1.0


def test_bagging_and_adwin_bagging_work() -> None:
    for cls in (ensemble.BaggingClassifier, ensemble.ADWINBaggingClassifier):
        model = _trained(cls(tree.HoeffdingTreeClassifier(), n_models=3, seed=1))
        assert len(members(model)) == 3
        x = _agrawal(1, seed=3)[0][0]
        assert len(member_probas(model, x)) == 3
        assert 0.0 <= disagreement(model, x, "kl") <= 1.0


def test_a_pipeline_ending_in_bagging_transforms_x_for_its_members() -> None:
    model = _trained(
        compose.Pipeline(
            preprocessing.StandardScaler(),
            ensemble.BaggingClassifier(linear_model.LogisticRegression(), n_models=3, seed=1),
        )
    )
    assert len(members(model)) == 3
    events = _agrawal(200, seed=9)
    scores = [disagreement(model, x, "kl") for x, _ in events]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len({round(s, 6) for s in scores}) > 1
    # The members see the scaled x: their mean is the bagging's own prediction.
    x = events[0][0]
    probas = member_probas(model, x)
    mean_true = sum(p.get(True, p.get(1, 0.0)) for p in probas) / len(probas)
    own = model.predict_proba_one(x)
    assert mean_true == pytest.approx(own.get(True, own.get(1, 0.0)))


@pytest.mark.parametrize(
    "model",
    [
        tree.HoeffdingTreeClassifier(),
        compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
    ],
)
def test_a_model_that_is_not_an_ensemble_is_refused(model: Any) -> None:
    with pytest.raises(ValueError, match=NOT_AN_ENSEMBLE):
        members(model)
    with pytest.raises(ValueError, match=NOT_AN_ENSEMBLE):
        disagreement(model, {"x": 1.0})


def test_unknown_measure_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown disagreement measure 'votes'"):
        disagreement(forest.ARFClassifier(seed=1), {"x": 1.0}, "votes")


def _heterogeneous() -> Committee:
    # Agrawal's salaries are in the 100,000s: logistic regression needs them scaled.
    scaled_lr = compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())
    return Committee([naive_bayes.GaussianNB(), tree.HoeffdingTreeClassifier(), scaled_lr])


def test_a_committee_of_different_models_learns_and_predicts() -> None:
    model = _heterogeneous()
    events = _agrawal(1500)
    for x, y in events[:1000]:
        model.learn_one(x, y)
    # The members learned; the configured models were cloned, not trained.
    x0 = events[1000][0]
    assert all(m.predict_proba_one(x0) for m in model.members[:2])
    assert model.models[0].predict_proba_one(x0) == model.models[1].predict_proba_one(x0) == {}
    correct = sum(model.predict_one(x) == y for x, y in events[1000:])
    assert correct / 500 > 0.9
    proba = model.predict_proba_one(events[1000][0])
    assert sum(proba.values()) == pytest.approx(1.0)
    assert len(members(model)) == 3
    scores = [disagreement(model, x) for x, _ in events[1000:]]
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) > 1


def test_a_committee_clones_fresh_and_pickles_trained() -> None:
    model = _trained(_heterogeneous(), n=300)
    fresh = model.clone()
    assert isinstance(fresh, Committee)
    assert fresh.predict_proba_one(_agrawal(1)[0][0]) != model.predict_proba_one(_agrawal(1)[0][0])
    assert [type(m) for m in fresh.members] == [type(m) for m in model.members]
    restored = pickle.loads(pickle.dumps(model))
    for x, _ in _agrawal(50, seed=5):
        assert restored.predict_proba_one(x) == model.predict_proba_one(x)
        assert disagreement(restored, x, "kl") == disagreement(model, x, "kl")


def test_a_bootstrapped_committee_of_one_kind_is_diverse_and_seeded() -> None:
    def run(seed: int) -> list[float]:
        model = Committee(
            [tree.HoeffdingTreeClassifier() for _ in range(3)], bootstrap=True, seed=seed
        )
        _trained(model, n=600)
        return [disagreement(model, x, "kl") for x, _ in _agrawal(100, seed=11)]

    assert run(1) == run(1)
    assert max(run(1)) > 0.0
    plain = _trained(Committee([tree.HoeffdingTreeClassifier() for _ in range(3)]), n=600)
    assert all(disagreement(plain, x, "kl") < 1e-12 for x, _ in _agrawal(20, seed=11))


def test_a_committee_needs_two_models() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Committee([naive_bayes.GaussianNB()])
