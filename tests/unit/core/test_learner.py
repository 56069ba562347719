from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from stream_al.core.drift import DriftReaction
from stream_al.core.learner import SKIP_BACKPRESSURE, SKIP_BUDGET, ActiveLearner, Decision
from stream_al.core.spec import LearnerSpec
from stream_al.core.strategies import QUERY_RANDOM, QUERY_UNCERTAIN, SKIP_CONFIDENT
from stream_al.data.streams import parse_stream
from tests.unit.stubs import NoisyClassifier


def _run(learner: ActiveLearner, data: list) -> list[tuple]:
    trace = []
    for x, y in data:
        d = learner.decide(x)
        if d.queried:
            learner.learn(x, y, d.prediction)
        trace.append(
            (
                d.prediction,
                tuple(sorted(d.proba.items())),
                d.queried,
                d.reason,
                d.threshold,
                d.score,
            )
        )
    return trace


@pytest.mark.parametrize(
    ("model", "strategy"),
    [
        ("hoeffding-tree", "split"),
        ("logistic-regression", "randomized-variable-uncertainty"),
        ("adaptive-random-forest", "variable-uncertainty"),
        ("hoeffding-adaptive-tree", "split"),
    ],
)
def test_a_restored_snapshot_makes_exactly_the_same_decisions(model: str, strategy: str) -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=6000).events(seed=4))
    original = ActiveLearner(model, strategy, 0.1, seed=9)
    _run(original, data[:3000])
    restored = ActiveLearner.restore(original.snapshot())
    assert restored.n_events == 3000 and restored.model_version == original.model_version
    assert _run(restored, data[3000:]) == _run(original, data[3000:])
    assert restored.n_drifts == original.n_drifts
    assert restored.budget.spent == original.budget.spent


def test_a_snapshot_leaves_out_only_the_trees_unseeded_gaussian_generators() -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=4000).events(seed=4))
    learner = ActiveLearner("hoeffding-tree", "split", 0.2, seed=9)
    _run(learner, data[:3000])
    snapshot = learner.snapshot()
    assert len(snapshot) * 5 < len(pickle.dumps(learner, protocol=pickle.HIGHEST_PROTOCOL))
    restored = ActiveLearner.restore(snapshot)
    assert restored.model_digest() == learner.model_digest()
    gaussians = [
        gaussian
        for leaf in restored.model._find_leaves()  # type: ignore[attr-defined]
        for splitter in (leaf.splitters or {}).values()
        for gaussian in getattr(splitter, "_att_dist_per_class", {}).values()
    ]
    assert len(gaussians) > 50
    assert all(isinstance(g._rng, random.Random) and g.seed is None for g in gaussians)
    # The strategy's seeded generator is kept as it was: the same random draws follow.
    assert restored.strategy._rng.getstate() == learner.strategy._rng.getstate()  # type: ignore[attr-defined]
    assert _run(restored, data[3000:]) == _run(learner, data[3000:])


def test_restore_refuses_a_pickle_that_is_not_a_learner() -> None:
    with pytest.raises(TypeError, match="not an ActiveLearner"):
        ActiveLearner.restore(pickle.dumps({"model": "x"}))


def test_first_decision_has_no_prediction_and_asks_when_the_budget_allows() -> None:
    learner = ActiveLearner("hoeffding-tree", "variable-uncertainty", 0.5)
    decision = learner.decide({"a": 1.0})
    assert isinstance(decision, Decision)
    assert decision.prediction is None and decision.proba == {}
    assert decision.score == 1.0
    assert decision.queried and decision.reason == QUERY_UNCERTAIN
    assert decision.scores == {"least-confidence": 1.0, "margin": 1.0, "entropy": 1.0}


def test_decision_reports_the_threshold_it_used_not_the_updated_one() -> None:
    learner = ActiveLearner(NoisyClassifier(), "variable-uncertainty", 1.0)
    before = learner.strategy.threshold
    decision = learner.decide({"a": 1.0})
    assert decision.threshold == before
    assert learner.strategy.threshold != before


def test_decision_reasons_cover_budget_and_confidence() -> None:
    learner = ActiveLearner(NoisyClassifier(), "split", 0.05, seed=1)
    reasons = {learner.decide({"a": 1.0}).reason for _ in range(5000)}
    assert {QUERY_UNCERTAIN, QUERY_RANDOM, SKIP_BUDGET, SKIP_CONFIDENT} <= reasons


def test_backpressure_predicts_but_neither_asks_nor_spends() -> None:
    learner = ActiveLearner(NoisyClassifier(), "variable-uncertainty", 0.5)
    theta = learner.strategy.threshold
    decision = learner.decide({"a": 1.0}, may_query=False)
    assert not decision.queried and decision.reason == SKIP_BACKPRESSURE
    assert decision.prediction is not None
    assert learner.strategy.threshold == theta
    assert learner.budget.spent == 0.0
    assert learner.n_events == 1 and learner.n_queried == 0


def test_cost_unit_asks_cheap_events_more_often() -> None:
    learner = ActiveLearner(NoisyClassifier(), "variable-uncertainty", 0.1, unit="cost")
    asked = {1.0: 0, 10.0: 0}
    for i in range(20_000):
        cost = 1.0 if i % 2 else 10.0
        asked[cost] += learner.decide({"a": 1.0}, cost=cost).queried
    spent = asked[1.0] * 1.0 + asked[10.0] * 10.0
    assert spent / (10_000 * 11.0) == pytest.approx(0.1, rel=0.1)


def test_learn_without_a_stored_prediction_uses_the_current_model() -> None:
    learner = ActiveLearner("gaussian-nb", "random", 0.1)
    for i in range(50):
        learner.learn({"a": float(i % 2)}, i % 2 == 0)
    assert learner.model_version == 50
    assert learner.predict({"a": 0.0}) is True


def test_a_river_model_object_is_cloned_for_restarts() -> None:
    from river import naive_bayes

    template = naive_bayes.GaussianNB()
    learner = ActiveLearner(template, "random", 0.1)
    assert learner.model is template
    assert learner.model_name == "GaussianNB"
    assert learner._fresh_model() is not template


def _run_telling_random(learner: ActiveLearner, data: list) -> list[tuple]:
    """``_run``, telling the learner which labels were asked at random (as serve does)."""
    trace = []
    for x, y in data:
        d = learner.decide(x)
        if d.queried:
            learner.learn(x, y, d.prediction, d.reason == QUERY_RANDOM)
        trace.append((d.prediction, tuple(sorted(d.proba.items())), d.queried, d.score))
    return trace


def test_auto_serves_the_candidate_that_wins_and_its_uncertainty_follows() -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=8000).events(seed=1))
    learner = ActiveLearner("auto", "split", 0.1, seed=3)
    # River's tree serves first: a naive-Bayes leaf, whose impurity says nothing
    assert learner.served_name == "hoeffding-tree-default"
    assert learner.uncertainty == "least-confidence"
    _run_telling_random(learner, data)
    assert learner.served_name == "hoeffding-tree"  # Agrawal's concepts are axis cuts
    assert learner.uncertainty == "leaf"
    assert learner.model is learner._candidates.members[learner._candidates.served]  # type: ignore[union-attr]


def test_auto_leaves_the_first_candidate_for_a_linear_model_on_a_hyperplane() -> None:
    data = list(parse_stream("synth:hyperplane", n_events=8000).events(seed=1))
    learner = ActiveLearner("auto", "split", 0.1, seed=3)
    _run_telling_random(learner, data)
    assert learner.served_name == "logistic-regression"
    assert learner.uncertainty == "least-confidence"


@pytest.mark.parametrize(
    "params", [{"served_at": "question"}, {"served_at": "label"}, {"challengers": True}]
)
def test_auto_checkpoints_and_replays_exactly(params: dict[str, Any]) -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=6000).events(seed=4))
    original = ActiveLearner("auto", "split", 0.1, seed=9, model_params=params)
    _run_telling_random(original, data[:3000])
    if params.get("challengers"):  # the snapshot holds candidates' challengers in flight
        assert original._candidates is not None and original._candidates._challengers
    restored = ActiveLearner.restore(original.snapshot())
    assert restored.model_digest() == original.model_digest()
    assert _run_telling_random(restored, data[3000:]) == _run_telling_random(original, data[3000:])
    assert restored.model_digest() == original.model_digest()
    assert restored.served_name == original.served_name


@pytest.mark.parametrize("challengers", [False, True])
def test_auto_replicas_fed_the_same_labels_are_identical(challengers: bool) -> None:
    data = list(parse_stream("synth:hyperplane", n_events=4000).events(seed=2))
    labels = [(x, y, i % 2 == 0) for i, (x, y) in enumerate(data[::7])]
    params = {"challengers": challengers}
    replicas = [ActiveLearner("auto", "split", 0.1, seed=5, model_params=params) for _ in range(2)]
    for i, learner in enumerate(replicas):
        for x, _ in data[i::3]:  # each replica decides other events
            learner.decide(x)
    for x, y, at_random in labels:
        predictions = [r.predict(x) for r in replicas]
        for r, p in zip(replicas, predictions, strict=True):
            r.learn(x, y, p, at_random)
    assert replicas[0].model_digest() == replicas[1].model_digest()


@pytest.mark.parametrize(
    "model", ["hoeffding-tree-default", "hoeffding-tree", "hoeffding-adaptive-tree", "bagging"]
)
def test_a_learner_that_predicted_events_equals_one_that_learned_their_labels_only(
    model: str,
) -> None:
    # The text feature "colour" was seen with class 1 only (missing in the others): River's
    # naive Bayes, predicting an event that has it, wrote an empty entry for class 0 into
    # the leaf's splitter of it, so serve's tree differed from the one a replay of its
    # train log builds. x alone separates the classes: the leaf predicts by naive Bayes.
    live, replay = (ActiveLearner(model, "random", 1.0, seed=5) for _ in range(2))
    labeled = [({"x": 1.0, "colour": "red"}, 1)] + [
        ({"x": (2.0 if i % 2 else 1.0) + i / 10}, int(i % 2 == 0)) for i in range(1, 12)
    ]
    for x, y in labeled:
        for learner in (live, replay):
            learner.learn(x, y, None, True)
    for colour in ("red", "blue"):
        live.decide({"x": 1.5, "colour": colour})
    assert live.model_digest() == replay.model_digest()


def test_a_challenger_that_wins_on_the_label_that_switches_candidates_keeps_its_kind() -> None:
    learner = ActiveLearner("auto", "variable-uncertainty", 0.1, seed=0)
    candidates = learner._candidates
    assert candidates is not None
    tree_model = learner.model
    winner = learner._fresh_model()  # a challenger of the served (tree) kind
    candidates.selection.served = 2  # the race moved to logistic regression ...
    learner._replace_served(winner)  # ... on the label the challenger won
    learner._switch()
    assert candidates.members[0] is winner and tree_model not in candidates.members
    assert learner.model is candidates.members[2] and learner.served_name == "logistic-regression"
    assert type(learner._fresh_model()) is type(candidates.members[2])


def test_auto_restarts_and_challengers_keep_the_serving_kind_until_the_switch() -> None:
    names = ("hoeffding-tree", "hoeffding-tree-default", "logistic-regression")
    learner = ActiveLearner(
        "auto", "variable-uncertainty", 0.1, seed=0, model_params={"names": names}
    )
    candidates = learner._candidates
    assert candidates is not None
    candidates.selection.served = 2  # the race chose logistic regression on this label
    assert type(learner._fresh_model()) is type(learner.model)  # still a tree's challenger
    learner._react_to_drift()  # a drift on the same label restarts every candidate
    assert learner.model is candidates.members[0] and learner.uncertainty == "leaf"
    learner._switch()
    assert learner.model is candidates.members[2] and learner.uncertainty == "least-confidence"


@pytest.mark.parametrize(
    ("model", "uncertainty"),
    [
        ("hoeffding-tree", "auto"),
        ("hoeffding-tree", "margin"),
        ("hoeffding-tree", "least-confidence"),
        ("gaussian-nb", "auto"),
    ],
)
def test_a_batch_assessed_at_once_is_decided_as_one_event_at_a_time(
    model: str, uncertainty: str
) -> None:
    """Two learners on one stream, labels learned between batches of 100: one decides
    each event with the batch's assess_many, the other assesses each alone; every
    decision equal (``==``), and the models they learn."""
    spec = LearnerSpec(model=model, strategy="split", uncertainty=uncertainty, budget=0.1)
    bulk, alone = spec.build(seed=3), spec.build(seed=3)
    data = list(parse_stream("synth:agrawal-drift", n_events=6000).events(4))
    for start in range(0, len(data), 100):
        batch = data[start : start + 100]
        ahead = bulk.assess_many([x for x, _ in batch])
        if model != "hoeffding-tree":
            assert ahead is None
        decided = []
        for i, (x, y) in enumerate(batch):
            mine = bulk.decide(x, assessed=ahead[i] if ahead is not None else None)
            theirs = alone.decide(x)
            assert mine == theirs
            if mine.queried:
                decided.append((x, y, mine.prediction))
        for x, y, prediction in decided:
            bulk.learn(x, y, prediction)
            alone.learn(x, y, prediction)
    assert bulk.n_learned > 500
    assert bulk.model_digest() == alone.model_digest()


def test_a_checkpoint_from_before_auto_differs_only_where_auto_means_otherwise() -> None:
    # Made when the drift delta was 0.05 and the candidates had no challengers: the same
    # learner as "auto" below budget 1, a different one with every label.
    before = {"drift": DriftReaction(delta=0.05), "model_params": {"challengers": False}}
    assert LearnerSpec(budget=0.1, **before).differences(LearnerSpec(budget=0.1)) == []
    changed = LearnerSpec(budget=1.0, **before).differences(LearnerSpec(budget=1.0))
    assert [c.split(":")[0] for c in changed] == ["drift", "model_params"]
    assert "delta=0.05" in changed[0] and "delta=0.002" in changed[0]


def test_a_learner_keeps_its_spec_and_takes_a_new_budget_without_a_new_model() -> None:
    spec = LearnerSpec(model="hoeffding-tree", strategy="split", budget=0.2)
    learner = ActiveLearner.restore(spec.build(seed=3).snapshot())
    assert learner.spec == spec
    data = list(parse_stream("synth:agrawal-drift", n_events=3000).events(seed=1))
    _run(learner, data[:2000])
    digest, learned = learner.model_digest(), learner.n_learned
    learner.rebudget(0.02, window=500)
    assert learner.model_digest() == digest and learner.n_learned == learned
    assert learner.spec.differences(spec) == ["budget: 0.02 -> 0.2", "window: 500 -> 1000"]
    asked = sum(queried for _, _, queried, *_ in _run(learner, data[2000:]))
    assert 10 <= asked <= 25  # about 2% of the next 1,000 events (the budget holds at once)


# -- the cap on the feature names a model learns -----------------------------------------


def _with_an_id_key(data: list) -> list:
    """``data`` as a producer that puts an id in a key sends it: a name per event."""
    return [({**x, f"user_{i}": i % 7}, y) for i, (x, y) in enumerate(data)]


@pytest.mark.parametrize("model", ["hoeffding-tree", "auto", "logistic-regression", "gaussian-nb"])
def test_names_beyond_the_cap_are_ignored_and_change_no_decision(model: str) -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=3000).events(seed=4))
    plain = ActiveLearner(model, "split", 0.1, seed=9, max_model_features=9)
    capped = ActiveLearner(model, "split", 0.1, seed=9, max_model_features=9)
    assert _run(capped, _with_an_id_key(data)) == _run(plain, data)
    assert capped.n_features == plain.n_features == 9
    # every label's id, and every event's from the first label on (the cap was reached)
    assert 3000 < capped.n_features_ignored < 3000 + capped.n_learned
    assert capped.first_ignored_feature.startswith("user_")  # the first label's
    if model != "logistic-regression":  # its scaler saw the ids of events before a label
        assert capped.model_digest() == plain.model_digest()


def test_a_checkpoint_keeps_the_admitted_names_and_the_restored_learner_replays_exactly() -> None:
    data = _with_an_id_key(list(parse_stream("synth:agrawal-drift", n_events=6000).events(seed=4)))
    original = ActiveLearner("auto", "split", 0.1, seed=9, max_model_features=12)
    _run(original, data[:3000])
    known = set(original._kinds.known)
    assert len(known) == 12 and len({n for n in known if n.startswith("user_")}) == 3
    restored = ActiveLearner.restore(original.snapshot())
    assert restored._kinds.known == known and restored.max_model_features == 12
    assert restored.model_digest() == original.model_digest()
    assert _run(restored, data[3000:]) == _run(original, data[3000:])
    assert restored.model_digest() == original.model_digest()
    assert restored._kinds.known == original._kinds.known == known


def test_replicas_fed_the_same_labels_admit_the_same_names_whatever_events_they_decide() -> None:
    data = _with_an_id_key(list(parse_stream("synth:agrawal-drift", n_events=3000).events(seed=2)))
    replicas = [
        ActiveLearner("hoeffding-tree", "split", 0.1, seed=5, max_model_features=20)
        for _ in range(2)
    ]
    for i, learner in enumerate(replicas):
        for x, _ in data[i::3]:  # each replica decides other events, with other ids
            learner.decide(x)
    for x, y in data[::7]:
        predictions = [r.predict(x) for r in replicas]
        for r, p in zip(replicas, predictions, strict=True):
            r.learn(x, y, p)
    assert replicas[0]._kinds.known == replicas[1]._kinds.known
    assert replicas[0].model_digest() == replicas[1].model_digest()


def test_a_raised_cap_admits_new_names_and_a_lowered_one_keeps_those_learned() -> None:
    learner = LearnerSpec(model="hoeffding-tree", max_model_features=2).build(0)
    learner.learn({"a": 1.0, "b": 2.0, "c": 3.0}, True)
    assert learner.n_features == 2 and learner.n_features_ignored == 1
    learner.cap_features(3)
    assert learner.spec is not None and learner.spec.max_model_features == 3
    learner.learn({"a": 1.0, "b": 2.0, "c": 3.0}, False)
    assert learner.n_features == 3 and learner.n_features_ignored == 1
    learner.cap_features(1)
    assert learner.n_features == 3 and learner.decide({"a": 1.0, "d": 4.0}).prediction is not None
    assert learner.n_features_ignored == 2
    with pytest.raises(ValueError, match="at least 1"):
        ActiveLearner(max_model_features=0)
