from __future__ import annotations

import copy
import pickle
import random
from typing import Any

import pytest

from stream_al.core.density import DensityEstimator, DensityWeight


def _blob(n: int, seed: int = 0, n_features: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{f"f{j}": rng.gauss(0.0, 1.0) for j in range(n_features)} for _ in range(n)]


def _fed(weight: DensityWeight, events: list[dict[str, Any]]) -> DensityWeight:
    for x in events:
        weight.weight(x)
        weight.observe(x)
    return weight


def test_an_isolated_outlier_weighs_much_less_than_a_point_of_the_blob() -> None:
    w = _fed(DensityWeight(), _blob(1000))
    centre = {f"f{j}": 0.1 for j in range(5)}
    outlier = {f"f{j}": 8.0 for j in range(5)}
    assert w.weight(centre) == 1.0
    assert w.weight(outlier) < 0.2
    assert w.weight(outlier) < w.weight({f"f{j}": 2.0 for j in range(5)}) < 1.0


def test_typical_points_keep_their_score_and_every_weight_is_in_0_1() -> None:
    events = _blob(3000, seed=1)
    w = _fed(DensityWeight(), events[:1000])
    weights = []
    for x in events[1000:]:
        weights.append(w.weight(x))
        w.observe(x)
    assert all(0.0 < v <= 1.0 for v in weights)
    assert sorted(weights)[len(weights) // 2] > 0.95  # the median point is not penalised
    assert sum(weights) / len(weights) > 0.8


def test_beta_sharpens_the_weight_and_zero_turns_it_off() -> None:
    events = _blob(500)
    outlier = {f"f{j}": 4.0 for j in range(5)}
    w1 = _fed(DensityWeight(beta=1.0), events).weight(outlier)
    w2 = _fed(DensityWeight(beta=2.0), events).weight(outlier)
    assert w2 == pytest.approx(w1**2)
    off = _fed(DensityWeight(beta=0.0), events)
    assert off.weight(outlier) == 1.0
    assert off.estimator.seen == 0  # no work at all


def test_memory_is_bounded() -> None:
    w = DensityWeight(size=200)
    for x in _blob(10_000, n_features=3):
        w.weight(x)
        w.observe(x)
    est = w.estimator
    assert est.stored == 200
    assert est.seen == 10_000
    assert est._buf.shape == (3, 200)
    assert len(pickle.dumps(w)) < 30_000


def test_cold_start_weighs_one_until_k_points_are_stored() -> None:
    w = DensityWeight(k=10)
    far = {"a": 1e6}
    for i in range(10):
        assert w.weight(far) == 1.0
        w.observe({"a": float(i)})
    assert w.weight(far) < 0.01


def test_deterministic_given_the_seed() -> None:
    events = _blob(2000, seed=3)

    def weights(seed: int) -> list[float]:
        w = DensityWeight(seed=seed, rate=0.5)
        out = []
        for x in events:
            out.append(w.weight(x))
            w.observe(x)
        return out

    assert weights(7) == weights(7)
    assert weights(7) != weights(8)


def test_pickle_round_trip_gives_identical_subsequent_weights() -> None:
    events = _blob(1500, seed=4)
    w = _fed(DensityWeight(rate=0.7, seed=2), events[:700])
    w.weight(events[700])  # a cached event must not leak into the snapshot
    restored = pickle.loads(pickle.dumps(w))
    twin = copy.deepcopy(w)
    for x in events[700:]:
        expected = w.weight(x)
        assert restored.weight(x) == expected
        assert twin.weight(x) == expected
        w.observe(x)
        restored.observe(x)
        twin.observe(x)


def test_scoring_before_observing_changes_nothing() -> None:
    # update() reuses the distances of density() on the same event: same state either way.
    events = _blob(800, seed=5)
    scored, plain = DensityEstimator(), DensityEstimator()
    for x in events:
        scored.density(x)
        scored.update(x)
        plain.update(x)
    probe = {f"f{j}": 1.5 for j in range(5)}
    assert scored.reference == plain.reference
    assert scored.density(probe) == plain.density(probe)


def test_scale_differences_do_not_dominate() -> None:
    events = _blob(800, seed=6, n_features=2)
    scaled = [{"f0": x["f0"] * 1000.0, "f1": x["f1"]} for x in events]
    a, b = _fed(DensityWeight(), events), _fed(DensityWeight(), scaled)
    # Far out in the small-scale feature: an outlier, whatever the other feature's unit.
    assert b.weight({"f0": 0.0, "f1": 6.0}) == pytest.approx(
        a.weight({"f0": 0.0, "f1": 6.0}), rel=1e-6
    )
    assert b.weight({"f0": 0.0, "f1": 6.0}) < 0.3


def test_text_and_missing_values_are_ignored_without_error() -> None:
    rng = random.Random(8)
    w = DensityWeight()
    for i in range(500):
        w.observe(
            {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "colour": rng.choice("rgb"), "f": i % 2}
        )
    assert w.estimator.features == ("a", "b", "f")
    assert w.weight({"a": 0.0, "b": 0.0, "colour": "purple", "f": True}) == 1.0
    # Missing, None, text or NaN in a numeric feature: left out, the rest still counts.
    for missing in ({}, {"b": None}, {"b": "n/a"}, {"b": float("nan")}):
        assert w.weight({"a": 0.0, "f": 0, **missing}) == 1.0
        assert w.weight({"a": 9.0, "f": 0, **missing}) < 0.3
    assert w.weight({"colour": "r"}) == 1.0  # nothing numeric to measure
    w.observe({"a": None, "b": "x", "new": 5.0})  # features first seen later are ignored
    assert w.estimator.features == ("a", "b", "f")


def test_only_text_features_weigh_one() -> None:
    w = DensityWeight()
    for c in "abcdefghijklmnop":
        w.observe({"colour": c})
    assert w.weight({"colour": "z"}) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"beta": -1.0}, {"k": 0}, {"size": 5, "k": 10}, {"rate": 0.0}, {"rate": 1.5}],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DensityWeight(**kwargs)
