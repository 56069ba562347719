"""Pool mode: reading a pool, ranking it in bounded memory, the diverse batch, queueing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from stream_al.config import Settings
from stream_al.core.learner import ActiveLearner
from stream_al.core.routing import Routing
from stream_al.data.pools import (
    Candidate,
    FeatureStats,
    Ranked,
    diverse_batch,
    farthest_first,
    iter_csv_pool,
    mean_pairwise_distance,
    parse_pool,
    rank_pool,
)
from stream_al.data.streams import parse_stream
from stream_al.io.memory import MemoryStore
from stream_al.service.select import SelectOptions, queue_batch, select


def _trained(n: int = 2000) -> ActiveLearner:
    learner = ActiveLearner("hoeffding-tree", "split", budget=0.1, seed=0)
    for x, y in parse_stream("synth:agrawal-drift", n_events=n).events(3):
        learner.learn(x, y, learner.predict(x))
    return learner


def _pool_csv(path: Path, rows: int, seed: int = 5) -> Path:
    events = list(parse_stream("synth:agrawal-drift", n_events=rows).events(seed))
    columns = list(events[0][0])
    lines = [",".join(["id", *columns, "label"])]
    for n, (x, y) in enumerate(events):
        lines.append(",".join([f"p{n}", *[str(x[c]) for c in columns], str(y)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_pool_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such pool file"):
        parse_pool(f"csv:{tmp_path / 'missing.csv'}")
    with pytest.raises(ValueError, match="csv:PATH or topic:NAME"):
        parse_pool("s3://bucket/pool")
    assert parse_pool("topic:t").kind == "topic"


def test_csv_pool_types_values_drops_the_label_and_keeps_ids(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("id,x,colour,label\na,1.5,red,1\nb,,blue,0\nc,nan,,1\n")
    rows = list(iter_csv_pool(path, drop=["label"]))
    assert rows == [("a", {"x": 1.5, "colour": "red"}), ("b", {"colour": "blue"}), ("c", {})]
    no_ids = tmp_path / "noid.csv"
    no_ids.write_text("x\n1\n2\n")
    assert [i for i, _ in iter_csv_pool(no_ids)] == ["pool:noid:1", "pool:noid:2"]


def test_csv_pool_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("id,x\na,1\nb,2,3\n")
    with pytest.raises(ValueError, match=r"pool.csv:3: 3 cells, the header has 2"):
        list(iter_csv_pool(path))
    with pytest.raises(ValueError, match="column 'label' is not in"):
        list(iter_csv_pool(path, drop=["label"]))
    with pytest.raises(ValueError, match="id column 'key' is not in"):
        list(iter_csv_pool(path, id_column="key"))


def test_rank_pool_keeps_the_most_uncertain_rows_in_bounded_memory() -> None:
    learner = _trained()
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


def test_rows_without_features_are_counted_not_scored() -> None:
    ranked = rank_pool(_trained(200), [("a", {}), ("b", {"age": 30.0})], candidates=5)
    assert ranked.unscored == 1 and [c.item_id for c in ranked.candidates] == ["b"]


def _cands(points: list[tuple[float, float]], scores: list[float]) -> Ranked:
    stats = FeatureStats()
    candidates = []
    for n, ((x, y), s) in enumerate(zip(points, scores, strict=True)):
        features = {"x": x, "y": y}
        stats.update(features)
        candidates.append(Candidate(f"c{n}", features, None, {}, s))
    return Ranked(candidates, stats, len(points))


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


def test_queue_batch_queues_k_distinct_items_and_skips_those_queued_before() -> None:
    learner = _trained(500)
    rows = [
        (f"p{n}", x)
        for n, (x, _) in enumerate(parse_stream("synth:sea-drift", n_events=400).events(2))
    ]
    store = MemoryStore()
    ranked = rank_pool(learner, rows, candidates=100)
    first, passed = queue_batch(store, learner, ranked, 10, Routing(), 3600.0, now=1.0)
    assert len({c.item_id for c in first}) == 10 and passed == 0 and store.queue_depth() == 10
    again, passed = queue_batch(store, learner, ranked, 10, Routing(), 3600.0, now=2.0)
    assert passed == 10 and not {c.item_id for c in again} & {c.item_id for c in first}
    items = [json.loads(raw) for _, raw in store.take("w", 100, 0)]
    assert len(items) == 20 and {i["source"] for i in items} == {"pool"}
    assert all(i["reason"] == "pool" and i["explanation"]["pool"] for i in items)


def test_select_refuses_a_batch_the_queue_has_no_room_for(tmp_path: Path) -> None:
    settings = Settings()
    settings.service.max_queue_depth = 5
    options = SelectOptions(pool=f"csv:{_pool_csv(tmp_path / 'p.csv', 50)}", k=10, target="label")
    with pytest.raises(ValueError, match="room for 5 items"):
        select(options, settings, MemoryStore(), _trained(300))  # type: ignore[arg-type]


def test_select_dry_run_reports_without_queueing(tmp_path: Path) -> None:
    options = SelectOptions(
        pool=f"csv:{_pool_csv(tmp_path / 'p.csv', 500)}", k=20, target="label", dry_run=True
    )
    store = MemoryStore()
    report = select(options, Settings(), store, _trained(300))  # type: ignore[arg-type]
    assert report["queued"] == 0 and len(set(report["ids"])) == 20 and store.queue_depth() == 0
    assert report["scanned"] == 500 and report["candidates"] == 500  # max(10 k, 1000) > pool
