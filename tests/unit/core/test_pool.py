"""Ranking a pool in bounded memory and picking a diverse batch."""

from __future__ import annotations

import itertools

from stream_al.core.pool import (
    Candidate,
    FeatureStats,
    Ranked,
    diverse_batch,
    farthest_first,
    mean_pairwise_distance,
    rank_pool,
)
from stream_al.data.streams import parse_stream
from tests.unit.stubs import agrawal_tree


def _cands(points: list[tuple[float, float]], scores: list[float]) -> Ranked:
    stats = FeatureStats()
    candidates = []
    for n, ((x, y), s) in enumerate(zip(points, scores, strict=True)):
        features = {"x": x, "y": y}
        stats.update(features)
        candidates.append(Candidate(f"c{n}", features, None, {}, s))
    return Ranked(candidates, stats, len(points))


def test_rank_pool_keeps_the_most_uncertain_rows_in_bounded_memory() -> None:
    learner = agrawal_tree()
    rows = [
        (f"r{n}", x)
        for n, (x, _) in enumerate(parse_stream("synth:agrawal-drift", n_events=3000).events(9))
    ]
    seen: list[int] = []
    ranked = rank_pool(learner, iter(rows), candidates=50, progress=seen.append, every=1000)
    assert ranked.scanned == 3000 and len(ranked.candidates) == 50 and seen == [1000, 2000, 3000]
    scores = sorted((learner.assess(x)[2] for _, x in rows), reverse=True)
    assert [c.score for c in ranked.candidates] == scores[:50]  # the top 50, best first
    # Nothing was spent or learned: the learner decides as before.
    assert learner.n_events == 0 and learner.budget.spent == 0.0


def test_rows_without_features_or_of_another_kind_are_counted_not_scored() -> None:
    # A row with text where the model learned numbers was scored (and could be queued,
    # its label then refused by the learner: a labeler's answer wasted).
    rows = [("a", {}), ("b", {"age": 30.0}), ("c", {"age": "thirty"})]
    ranked = rank_pool(agrawal_tree(200), rows, candidates=5)
    assert ranked.unscored == 2 and [c.item_id for c in ranked.candidates] == ["b"]


def test_farthest_first_spreads_the_batch_over_the_clusters() -> None:
    # Three tight clusters; the most uncertain rows all sit in the first one.
    points = [(0.0, 0.01 * i) for i in range(10)] + [(5.0, 5.0), (5.0, 5.1), (-5.0, 5.0)]
    scores = [0.5] * 10 + [0.45, 0.45, 0.44]
    ranked = _cands(points, scores)
    batch = diverse_batch(ranked, 3)
    ids = {c.item_id for c in batch}
    assert {"c0", "c12"} <= ids and len(ids & {"c10", "c11"}) == 1  # one from each cluster
    top = ranked.candidates[:3]
    assert mean_pairwise_distance(batch, ranked.stats) > mean_pairwise_distance(top, ranked.stats)


def test_farthest_first_weights_distance_by_uncertainty() -> None:
    # A far but certain row loses to a nearer, much less certain one.
    ranked = _cands([(0.0, 0.0), (10.0, 0.0), (4.0, 0.0)], [0.5, 0.01, 0.5])
    assert list(itertools.islice(farthest_first(ranked.candidates, ranked.stats), 2)) == [0, 2]


def test_farthest_first_orders_every_candidate_once_and_categoricals_count() -> None:
    stats = FeatureStats()
    candidates = []
    for n, colour in enumerate(["red", "red", "blue", "green"]):
        stats.update({"c": colour})
        candidates.append(Candidate(f"i{n}", {"c": colour}, None, {}, 0.5))
    order = list(farthest_first(candidates, stats))
    assert sorted(order) == [0, 1, 2, 3] and order[:3] == [0, 2, 3]
