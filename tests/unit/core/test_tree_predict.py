from __future__ import annotations

import pickle
import random
from typing import Any

import pytest
from river import tree
from river.tree.nodes.branch import DTBranch

from stream_al.core.learner import ActiveLearner
from stream_al.core.tree_predict import TreePredictor, writing_nothing
from stream_al.core.uncertainty import leaf_impurity
from stream_al.data.streams import parse_stream

SCARCE = {"grace_period": 20, "delta": 0.2, "tau": 0.1, "split_criterion": "gini"}


def _compare(
    model: tree.HoeffdingTreeClassifier, stream: str, *, drop: float = 0.0, n: int = 4000
) -> int:
    """Predict every event with both, learning a random 30% in between; counts events."""
    rng = random.Random(7)
    predictor = TreePredictor()
    seen = 0
    for x, y in parse_stream(stream, n_events=n).events(3):
        if drop:
            x = {k: v for k, v in x.items() if rng.random() > drop}
        proba, leaf = predictor.proba_and_leaf(model, x)
        assert proba == model.predict_proba_one(x)  # equal, not approximately
        root = model._root
        if root is not None:
            assert leaf is (root.traverse(x) if hasattr(root, "traverse") else root)
        if rng.random() < 0.3:
            model.learn_one(x, y)
        seen += 1
    return seen


def _grown(stream: str, n: int) -> tuple[tree.HoeffdingTreeClassifier, list[Any]]:
    """A naive-Bayes-leaf tree that has learned the first ``n`` events, and the events."""
    model = tree.HoeffdingTreeClassifier(leaf_prediction="nb", **SCARCE)
    data = list(parse_stream(stream, n_events=n).events(0))
    for x, y in data:
        model.learn_one(x, y)
    return model, data


@pytest.mark.parametrize("leaf_prediction", ["nba", "nb", "mc"])
@pytest.mark.parametrize("stream", ["synth:agrawal-drift", "synth:rbf-drift", "synth:sea-drift"])
def test_probabilities_are_rivers_own_bit_for_bit_as_the_tree_learns(
    leaf_prediction: str, stream: str
) -> None:
    model = tree.HoeffdingTreeClassifier(leaf_prediction=leaf_prediction, **SCARCE)
    assert _compare(model, stream) == 4000
    assert model.n_leaves > 3  # the walk went through branches, the leaves were relearned


def test_missing_features_and_nominal_splitters_predict_as_river_does() -> None:
    model = tree.HoeffdingTreeClassifier(nominal_attributes=["elevel", "car", "zipcode"], **SCARCE)
    assert _compare(model, "synth:agrawal-drift", drop=0.2) == 4000
    assert model.n_leaves > 3


def _state(model: tree.HoeffdingTreeClassifier) -> bytes:
    """The tree pickled, with the unseeded sampling RNG of each of its Gaussians (never
    drawn from while learning) set to one state, so that equal trees pickle equal."""
    seen: set[int] = set()
    todo: list[Any] = [model]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, random.Random):
            obj.seed(0)
        elif isinstance(obj, dict):
            todo += obj.values()
        elif isinstance(obj, list | tuple | set):
            todo += obj
        elif hasattr(obj, "__dict__"):
            todo += vars(obj).values()
    return pickle.dumps(model)


def test_a_prediction_writes_nothing_into_the_tree() -> None:
    # "colour" seen with class 1 only; x alone separates the classes (a naive-Bayes leaf).
    model = tree.HoeffdingTreeClassifier()
    labeled = [({"x": 1.0, "colour": "red"}, 1)] + [
        ({"x": (2.0 if i % 2 else 1.0) + i / 10}, int(i % 2 == 0)) for i in range(1, 12)
    ]
    for x, y in labeled:
        model.learn_one(x, y)
    event = {"x": 1.5, "colour": "red"}
    before = _state(model)
    proba, _ = TreePredictor().proba_and_leaf(model, event)
    assert proba[1] > 0.9 and _state(model) == before
    assert proba == model.predict_proba_one(event)  # River's own, which writes class 0 there
    assert _state(model) != before


@pytest.mark.parametrize("leaf_prediction", ["nba", "nb", "mc"])
@pytest.mark.parametrize(
    ("stream", "drop"),
    [("synth:agrawal-drift", 0.0), ("synth:agrawal-drift", 0.2), ("synth:rbf-drift", 0.0)],
)
def test_learning_through_the_predictor_grows_rivers_own_tree(
    leaf_prediction: str, stream: str, drop: float
) -> None:
    nominal = ["elevel", "car", "zipcode"] if "agrawal" in stream else None
    ours = tree.HoeffdingTreeClassifier(
        leaf_prediction=leaf_prediction, nominal_attributes=nominal, **SCARCE
    )
    rivers = ours.clone()
    predictor = TreePredictor()
    rng = random.Random(1)
    for i, (x, y) in enumerate(parse_stream(stream, n_events=3000).events(3)):
        if drop:
            x = {k: v for k, v in x.items() if rng.random() > drop}
        # Predicted first, as the learner does: the adaptive leaf's check reads these terms.
        # River's own prediction writes into text features' counts; the predictor does not.
        with writing_nothing:
            assert predictor.proba_and_leaf(ours, x)[0] == rivers.predict_proba_one(x)
        if rng.random() < 0.5:
            predictor.learn(ours, x, y)
            rivers.learn_one(x, y)
        if i % 1000 == 999:
            assert _state(ours) == _state(rivers)  # every count, mean, variance and split
    assert ours.n_leaves > 10
    assert _state(ours) == _state(rivers)


def test_learning_without_a_prediction_first_and_into_an_empty_tree() -> None:
    ours = tree.HoeffdingTreeClassifier(**SCARCE)
    rivers = ours.clone()
    predictor = TreePredictor()
    for x, y in parse_stream("synth:sea-drift", n_events=2000).events(0):
        predictor.learn(ours, x, y)
        rivers.learn_one(x, y)
    assert ours.n_leaves > 3
    assert _state(ours) == _state(rivers)


def test_a_leaf_reactivated_with_fresh_splitters_is_not_served_stale_terms() -> None:
    model, data = _grown("synth:agrawal-drift", 600)
    predictor = TreePredictor()
    x = data[0][0]
    predictor.proba_and_leaf(model, x)
    before, leaf = predictor.proba_and_leaf(model, x)
    assert leaf in predictor._leaves
    leaf.deactivate()
    assert predictor.proba_and_leaf(model, x)[0] == model.predict_proba_one(x)
    leaf.activate()  # same weight, new (empty) splitters: the priors alone
    after = predictor.proba_and_leaf(model, x)[0]
    assert after == model.predict_proba_one(x)
    assert after != before


def test_a_pickled_predictor_comes_back_empty_in_its_mode() -> None:
    model, data = _grown("synth:sea-drift", 300)
    for pooled in (False, True):
        predictor = TreePredictor(pooled=pooled)
        for x, _ in data:
            predictor.proba_and_leaf(model, x)
        assert len(predictor._leaves) == model.n_leaves
        back = pickle.loads(pickle.dumps(predictor))
        assert len(back._leaves) == 0 and back.pooled is pooled


def _well_observed(leaf: Any) -> bool:
    """Whether every class of ``leaf`` has a positive variance for every feature."""
    return all(
        g._var.mean.n > 1 and g._var.get() > 0
        for splitter in leaf.splitters.values()
        for g in splitter._att_dist_per_class.values()
    )


@pytest.mark.parametrize(
    ("stream", "at_least_same", "at_least_different"),
    [("synth:rbf-drift", 1000, 20), ("river:ImageSegments", 0, 1000)],
)
def test_pooled_is_rivers_own_where_every_class_is_observed_and_differs_elsewhere(
    stream: str, at_least_same: int, at_least_different: int
) -> None:
    model = tree.HoeffdingTreeClassifier(leaf_prediction="nb", **SCARCE)
    river, pooled = TreePredictor(), TreePredictor(pooled=True)
    rng = random.Random(3)
    same = differ = 0
    for x, y in parse_stream(stream, n_events=2000).events(0):
        exact, leaf = river.proba_and_leaf(model, x)
        ours = pooled.proba_and_leaf(model, x)[0]
        if leaf is not None and leaf.splitters and _well_observed(leaf):
            assert ours == exact
            same += 1
        elif ours != exact:
            differ += 1
        if rng.random() < 0.2:
            model.learn_one(x, y)
    # ImageSegments' 7 classes always leave some class of a leaf seen once at most.
    assert same >= at_least_same and differ >= at_least_different


def _without_nb_scores(model: tree.HoeffdingTreeClassifier) -> bytes:
    for leaf in model._find_leaves():
        leaf._mc_correct_weight = leaf._nb_correct_weight = 0.0
    return _state(model)


def test_pooled_learning_grows_rivers_tree_but_scores_the_leaves_naive_bayes_its_way() -> None:
    ours = tree.HoeffdingTreeClassifier(**SCARCE)
    rivers = ours.clone()
    predictor = TreePredictor(pooled=True)
    for x, y in parse_stream("river:ImageSegments", n_events=2310).events(0):
        predictor.proba_and_leaf(ours, x)
        predictor.learn(ours, x, y)
        rivers.learn_one(x, y)
    scores = sorted(leaf._nb_correct_weight for leaf in ours._find_leaves())
    assert scores != sorted(leaf._nb_correct_weight for leaf in rivers._find_leaves())
    assert _without_nb_scores(ours) == _without_nb_scores(rivers)  # same splits and counts


def test_the_learner_decides_with_pooled_naive_bayes_and_the_leaf_of_the_same_walk() -> None:
    learner = ActiveLearner("hoeffding-tree", "variable-uncertainty", budget=0.2)
    reference = TreePredictor(pooled=True)
    for x, y in parse_stream("synth:agrawal-drift", n_events=3000).events(1):
        decision = learner.decide(x)
        model: Any = learner.model
        assert decision.proba == reference.proba_and_leaf(model, x)[0]
        assert decision.score == leaf_impurity(model, x)
        if decision.queried:
            learner.learn(x, y, decision.prediction)
    assert learner.n_learned > 300
    restored = ActiveLearner.restore(learner.snapshot())
    x = {
        "salary": 50_000.0,
        "commission": 0,
        "age": 40,
        "elevel": 2,
        "car": 3,
        "zipcode": 1,
        "hvalue": 200_000.0,
        "hyears": 10,
        "loan": 100_000.0,
    }
    assert restored.decide(x).proba == reference.proba_and_leaf(learner.model, x)[0]


@pytest.mark.parametrize("pooled", [False, True])
@pytest.mark.parametrize("leaf_prediction", ["nba", "nb", "mc"])
@pytest.mark.parametrize(
    ("stream", "drop"),
    [("synth:agrawal-drift", 0.0), ("synth:agrawal-drift", 0.2), ("river:ImageSegments", 0.0)],
)
def test_a_batch_predicted_at_once_is_predicted_as_each_event_alone(
    pooled: bool, leaf_prediction: str, stream: str, drop: float
) -> None:
    """proba_many, batch by batch as serve polls them, with learning between batches:
    every probability equal (``==``, in the same key order) and the same leaf."""
    nominal = ["elevel", "car", "zipcode"] if "agrawal" in stream and drop else None
    model = tree.HoeffdingTreeClassifier(
        leaf_prediction=leaf_prediction, nominal_attributes=nominal, **SCARCE
    )
    bulk, alone = TreePredictor(pooled=pooled), TreePredictor(pooled=pooled)
    rng = random.Random(5)
    data = list(parse_stream(stream, n_events=2310).events(2))
    if drop:
        data = [({k: v for k, v in x.items() if rng.random() > drop}, y) for x, y in data]
    for start in range(0, len(data), 50):
        batch = data[start : start + 50]
        got = bulk.proba_many(model, [x for x, _ in batch])
        for (x, _), (proba, leaf) in zip(batch, got, strict=True):
            expected, expected_leaf = alone.proba_and_leaf(model, x)
            assert proba == expected and list(proba) == list(expected)
            assert leaf is expected_leaf
        for x, y in batch:
            if rng.random() < 0.3:
                bulk.learn(model, x, y)
    assert model.n_leaves > 3


@pytest.mark.parametrize("criterion", ["gini", "info_gain", "hellinger"])
@pytest.mark.parametrize("stream", ["synth:agrawal-drift", "river:ImageSegments"])
def test_split_attempts_through_the_predictor_split_as_river_does(
    criterion: str, stream: str
) -> None:
    """Split suggestions are computed for less, to the same tree, for every criterion:
    the same splits at the same thresholds, every count, mean and variance."""
    params = {**SCARCE, "split_criterion": criterion}
    ours = tree.HoeffdingTreeClassifier(**params)
    rivers = ours.clone()
    predictor = TreePredictor()
    for x, y in parse_stream(stream, n_events=2310).events(1):
        predictor.learn(ours, x, y)
        rivers.learn_one(x, y)
    assert ours.n_leaves > 5
    assert _state(ours) == _state(rivers)


def _sparse_events(n: int, seed: int, tags: bool) -> list[tuple[dict[str, Any], str]]:
    """Bag-of-words-like events: a few of many features each, words and tags first seen all
    along, classes first seen late, some feature values repeated (no variance yet)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        n_classes = 2 if i < n // 3 else 5
        y = f"c{rng.randrange(n_classes)}"
        x = {
            f"w{int(rng.paretovariate(0.6)) % 400}": float(rng.choice((1, 1, 2, 3)))
            for _ in range(6)
        }
        x["signal"] = rng.gauss(int(y[1:]), 1.0)
        if tags and rng.random() < 0.3:  # text: nominal splitters, some first seen late
            x[f"tag{rng.randrange(40)}"] = rng.choice("ab")
        events.append((x, y))
    return events


def _dense(model: tree.HoeffdingTreeClassifier, x: dict[str, Any], pooled: bool) -> Any:
    """The probabilities of a predictor reading the leaf anew and every one of its terms."""
    from stream_al.core import tree_predict

    sparse, tree_predict._SPARSE = tree_predict._SPARSE, 10**9
    try:
        return TreePredictor(pooled=pooled).proba_and_leaf(model, x)[0]
    finally:
        tree_predict._SPARSE = sparse


@pytest.mark.parametrize("tags", [False, True])
@pytest.mark.parametrize("pooled", [False, True])
def test_terms_updated_label_by_label_equal_terms_read_anew(pooled: bool, tags: bool) -> None:
    # A leaf's terms are patched for the features each label changes; they must stay the
    # terms a predictor reading the leaf for the first time computes, whatever the leaf
    # learns: sparse features, new features and classes, labels learned behind its back.
    model = tree.HoeffdingTreeClassifier(grace_period=300, delta=0.2, tau=0.1)
    predictor = TreePredictor(pooled=pooled)
    rng = random.Random(5)
    patched = 0
    events = _sparse_events(3000, seed=2, tags=tags)
    for i, (x, y) in enumerate(events):
        if i % 100 == 99:  # a poll batch predicted at once, from the same terms
            batch = [x for x, _ in events[i - 30 : i]]
            got = predictor.proba_many(model, batch)
            assert [proba for proba, _ in got] == [_dense(model, x, pooled) for x in batch]
        proba, leaf = predictor.proba_and_leaf(model, x)
        assert proba == _dense(model, x, pooled)  # a sparse event: its own terms only
        if not pooled:
            assert proba == model.predict_proba_one(x)
        if rng.random() < 0.5:
            if i % 50 == 0:
                model.learn_one(x, y)  # unseen by the predictor: read anew
                continue
            cached = None if leaf is None else predictor._leaves.get(leaf)
            predictor.learn(model, x, y)
            after, leaf = predictor.proba_and_leaf(model, x)
            assert after == _dense(model, x, pooled)
            patched += cached is not None and predictor._leaves.get(leaf) is cached
    assert patched > 1000
    assert model.n_leaves > 1
    leaves = list(predictor._leaves.values())
    assert max(len(cached.places) for cached in leaves) > 200  # a leaf knew many features


@pytest.mark.parametrize(
    ("criterion", "stream"),
    [
        ("gini", "river:ImageSegments"),
        ("info_gain", "river:ImageSegments"),
        ("hellinger", "synth:hyperplane"),  # two classes only
    ],
)
def test_each_split_suggestion_equals_rivers_float_for_float(criterion: str, stream: str) -> None:
    # A merit a little off rarely changes which split wins, so the grown trees alone would
    # not show it: every suggestion of every splitter is compared with River's own.
    from stream_al.core.tree_predict import _gaussian_suggestion

    model = tree.HoeffdingTreeClassifier(grace_period=10_000, split_criterion=criterion)
    for x, y in parse_stream(stream, n_events=600).events(0):
        model.learn_one(x, y)
    leaf = model._root
    compared = 0
    for feature, splitter in leaf.splitters.items():
        river = splitter.best_evaluated_split_suggestion(
            model._new_split_criterion(), leaf.stats, feature, model.binary_split
        )
        ours = _gaussian_suggestion(
            splitter, model._new_split_criterion(), leaf.stats, feature, model.binary_split
        )
        assert (ours.merit, ours.split_info, ours.children_stats) == (
            river.merit,
            river.split_info,
            river.children_stats,
        )
        compared += river.merit > 0
    assert compared >= 5


def _nominal_events(n: int, seed: int) -> list[tuple[dict[str, Any], str]]:
    """Three classes, a numeric feature and text features of 6 to 400 values (some seen
    once), the class weakly tied to the values: leaves keep many values of each; and a
    rare fourth class, always with the same values and without "mid"."""
    rng = random.Random(seed)
    events = []
    for _ in range(n):
        y = rng.choice("abc")
        x: dict[str, Any] = {"num": rng.gauss("abc".index(y), 2.0)}
        if rng.random() < 0.002:  # a rare class, always the same values, never a "mid"
            events.append(({"num": 0.0, "small": "small0", "large": "large0"}, "d"))
            continue
        for name, values in (("small", 6), ("mid", 60), ("large", 400)):
            v = rng.randrange(values)
            if rng.random() < 0.3:
                v = (v // 3) * 3 + "abc".index(y)  # a little of the class in the value
            x[name] = f"{name}{v}"
        if rng.random() < 0.2:
            del x["mid"]  # missing now and then
        events.append((x, y))
    return events


def _suggestion(branch: Any) -> Any:
    """Everything a suggestion holds, with the order of each branch's class counts."""
    return (
        branch.merit,
        branch.feature,
        branch.split_info,
        [list(stats.items()) for stats in branch.children_stats or []],
        branch.numerical_feature,
        branch.multiway_split,
    )


@pytest.mark.parametrize("criterion", ["gini", "info_gain", "hellinger"])
@pytest.mark.parametrize("binary_only", [False, True])
def test_each_nominal_split_suggestion_equals_rivers_float_for_float(
    criterion: str, binary_only: bool
) -> None:
    # River sums every value's counts for each value's binary split; ours subtracts from
    # class totals: the merits, counts and their order must still be River's exactly.
    from stream_al.core.tree_predict import _nominal_suggestion

    model = tree.HoeffdingTreeClassifier(grace_period=10_000, split_criterion=criterion)
    compared = 0
    for i, (x, y) in enumerate(_nominal_events(3000, seed=4)):
        model.predict_proba_one(x)  # gives the rare class empty counts of "mid" (River's)
        model.learn_one(x, y)
        if i % 500 != 499:
            continue
        leaf = model._root
        for feature, splitter in leaf.splitters.items():
            if feature == "num":
                continue
            args = (model._new_split_criterion(), leaf.stats, feature, binary_only)
            river = splitter.best_evaluated_split_suggestion(*args)
            assert _suggestion(_nominal_suggestion(splitter, *args)) == _suggestion(river)
            compared += 1
    assert compared == 18
    assert model._root.splitters["mid"]._att_dist_per_class["d"] == {}
    assert len(model._root.splitters["large"]._att_values) == 400


def test_a_nominal_suggestion_of_fractional_counts_is_rivers_own() -> None:
    # Sums of 1.1s and 1.2s round: the rest of a class is not its total less a count.
    from stream_al.core.tree_predict import _nominal_suggestion

    model = tree.HoeffdingTreeClassifier(grace_period=10_000)
    for i, (x, y) in enumerate(_nominal_events(1000, seed=5)):
        model.learn_one(x, y, w=1.0 + 0.1 * (i % 3))
        if i % 100 != 99:
            continue
        leaf = model._root
        for feature in ("small", "mid", "large"):
            args = (model._new_split_criterion(), leaf.stats, feature, True)
            river = leaf.splitters[feature].best_evaluated_split_suggestion(*args)
            ours = _nominal_suggestion(leaf.splitters[feature], *args)
            assert _suggestion(ours) == _suggestion(river)


@pytest.mark.parametrize("criterion", ["gini", "info_gain"])
@pytest.mark.parametrize("binary_split", [False, True])
def test_split_attempts_on_many_valued_text_features_split_as_river_does(
    criterion: str, binary_split: bool
) -> None:
    params = {**SCARCE, "split_criterion": criterion, "binary_split": binary_split}
    ours = tree.HoeffdingTreeClassifier(**params)
    rivers = ours.clone()
    predictor = TreePredictor()
    for x, y in _nominal_events(3000, seed=6):
        predictor.learn(ours, x, y)
        rivers.learn_one(x, y)
    assert ours.n_leaves > 5
    assert _state(ours) == _state(rivers)


def _branches(model: tree.HoeffdingTreeClassifier) -> list[Any]:
    todo, branches = [model._root], []
    while todo:
        node = todo.pop()
        if isinstance(node, DTBranch):
            branches.append(node)
            todo += [child for child in node.children if child is not None]
    return branches


def _routed_events(n: int, seed: int) -> list[tuple[dict[str, Any], str]]:
    """A text feature of four values as likely as each other, which the class follows (a
    root of four children whose weights overtake one another), a numeric feature for the
    splits below, and events that lack the text feature or bring a value first seen."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        v = rng.randrange(4)
        y = "ab"[v % 2] if rng.random() < 0.8 else "c"
        x: dict[str, Any] = {"v": f"v{v}", "num": rng.gauss("abc".index(y), 1.0)}
        if rng.random() < 0.3:
            del x["v"]
        elif rng.random() < 0.05:
            x["v"] = f"new{i}"
        events.append((x, y))
    return events


@pytest.mark.parametrize("split_criterion", ["gini", "info_gain"])
def test_the_heaviest_child_stays_rivers_as_the_tree_learns(split_criterion: str) -> None:
    # An event that lacks a branch's feature, or brings a value the branch has not seen,
    # goes down the branch's heaviest child: the predictor keeps it from label to label
    # instead of weighing every child anew. It must stay River's whatever the tree
    # learns: new values (new children), splits below a branch, labels learned behind
    # the predictor's back.
    params = {**SCARCE, "split_criterion": split_criterion}
    model = tree.HoeffdingTreeClassifier(**params)
    predictor = TreePredictor()
    kept = changed = 0
    last: dict[int, Any] = {}
    for i, (x, y) in enumerate(_routed_events(4000, seed=7)):
        proba, leaf = predictor.proba_and_leaf(model, x)
        assert proba == model.predict_proba_one(x)
        root = model._root
        assert leaf is (root.traverse(x) if isinstance(root, DTBranch) else root)
        if i % 10 == 0:
            model.learn_one(x, y)  # unseen by the predictor
        else:
            predictor.learn(model, x, y)
        if i % 3:
            continue
        for branch in _branches(model):
            known = predictor._heaviest.get(branch)
            kept += known is not None and known[0] == model._train_weight_seen_by_model
            heaviest = branch.most_common_path()[1]
            assert predictor._heaviest_child(model, branch) is heaviest
            changed += last.get(id(branch), heaviest) is not heaviest
            last[id(branch)] = heaviest
    assert kept > 20  # kept across labels, not only weighed anew
    assert changed > 20  # and the heaviest child changed as the tree learned
    assert type(model._root).__name__ == "NominalMultiwayBranch"
    assert len(model._root.children) > 50


def test_the_heaviest_of_close_children_follows_every_label_as_rivers_does() -> None:
    # Four children of close weights, left leaves: each label may make another the
    # heaviest (ties go to the first), and a label learned behind the predictor's back
    # leaves what it knew stale.
    model = tree.HoeffdingTreeClassifier(**SCARCE)
    predictor = TreePredictor()
    rng = random.Random(11)

    def event() -> tuple[dict[str, Any], str]:
        v = rng.randrange(4)
        root = model._root
        if isinstance(root, DTBranch) and rng.random() < 0.7:  # the lightest: weights close
            weights = [root.children[root._mapping[f"v{v}"]].total_weight for v in range(4)]
            v = weights.index(min(weights))
        return {"v": f"v{v}", "num": rng.gauss(0.0, 1.0)}, "ab"[v % 2]

    while not isinstance(model._root, DTBranch):
        predictor.learn(model, *event())
    model.grace_period = 10**9  # the root's children stay leaves
    lacking = {"num": 0.0}
    changed = 0
    heaviest = model._root.most_common_path()[1]
    for i in range(3000):
        x, y = event()
        if i % 7 == 0:
            model.learn_one(x, y)
        else:
            predictor.learn(model, x, y)
        if i % 5 == 0:  # a label without a prediction in between
            predictor.learn(model, *event())
        leaf = predictor.proba_and_leaf(model, lacking)[1]
        assert leaf is model._root.traverse(lacking)
        changed += leaf is not heaviest
        heaviest = leaf
    assert len(model._root.children) == 4
    assert changed > 300
