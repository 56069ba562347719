"""stream-al select: queueing a diverse batch of a pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_al.config import Settings
from stream_al.core.pool import (
    rank_pool,
)
from stream_al.core.routing import Routing
from stream_al.data.streams import parse_stream
from stream_al.io.memory import MemoryStore
from stream_al.service.select import SelectOptions, queue_batch, select
from tests.unit.stubs import agrawal_tree


def _pool_csv(path: Path, rows: int, seed: int = 5) -> Path:
    events = list(parse_stream("synth:agrawal-drift", n_events=rows).events(seed))
    columns = list(events[0][0])
    lines = [",".join(["id", *columns, "label"])]
    for n, (x, y) in enumerate(events):
        lines.append(",".join([f"p{n}", *[str(x[c]) for c in columns], str(y)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_queue_batch_queues_k_distinct_items_and_skips_those_queued_before() -> None:
    learner = agrawal_tree(500)
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
        select(options, settings, MemoryStore(), agrawal_tree(300))  # type: ignore[arg-type]


def test_select_dry_run_reports_without_queueing(tmp_path: Path) -> None:
    options = SelectOptions(
        pool=f"csv:{_pool_csv(tmp_path / 'p.csv', 500)}", k=20, target="label", dry_run=True
    )
    store = MemoryStore()
    report = select(options, Settings(), store, agrawal_tree(300))  # type: ignore[arg-type]
    assert report["queued"] == 0 and len(set(report["ids"])) == 20 and store.queue_depth() == 0
    assert report["scanned"] == 500 and report["candidates"] == 500  # max(10 k, 1000) > pool


def test_a_dry_run_passes_over_what_a_real_run_passes_over_and_picks_what_it_queues(
    tmp_path: Path,
) -> None:
    pool, learner = f"csv:{_pool_csv(tmp_path / 'p.csv', 500)}", agrawal_tree(300)
    store = MemoryStore()
    first = select(SelectOptions(pool=pool, k=10, target="label"), Settings(), store, learner)  # type: ignore[arg-type]
    dry = SelectOptions(pool=pool, k=10, target="label", dry_run=True)
    rehearsed = select(dry, Settings(), store, learner)  # type: ignore[arg-type]
    assert rehearsed["already_queued_or_labeled"] == 10 and store.queue_depth() == 10
    assert not set(rehearsed["ids"]) & set(first["ids"]) and len(set(rehearsed["ids"])) == 10
    real = select(SelectOptions(pool=pool, k=10, target="label"), Settings(), store, learner)  # type: ignore[arg-type]
    assert real["ids"] == rehearsed["ids"] and real["already_queued_or_labeled"] == 10


def test_select_does_not_queue_again_an_item_the_workers_dropped(tmp_path: Path) -> None:
    pool, learner = f"csv:{_pool_csv(tmp_path / 'p.csv', 500)}", agrawal_tree(300)
    store = MemoryStore()
    first = select(SelectOptions(pool=pool, k=5, target="label"), Settings(), store, learner)  # type: ignore[arg-type]
    for entry_id, raw in store.take("w", 100, 0):  # the worker drops them, unlabeled
        store.drop(entry_id, json.loads(raw)["id"])
    assert store.queue_depth() == 0
    again = select(SelectOptions(pool=pool, k=5, target="label"), Settings(), store, learner)  # type: ignore[arg-type]
    assert again["already_queued_or_labeled"] == 5 and not set(again["ids"]) & set(first["ids"])


def test_select_skips_pool_rows_wider_than_serve_takes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Labeled, such a row would slow serve as a wide event does (max_features).
    settings = Settings()
    settings.service.max_features = 9  # agrawal's rows have 9 features
    pool = tmp_path / "p.csv"
    _pool_csv(pool, 300)
    lines = pool.read_text().splitlines()
    header, rows = lines[0].split(","), lines[1:]
    wide = [f"{row},1" for row in rows[:100]]  # a tenth feature for the first 100 rows
    narrow = [f"{row}," for row in rows[100:]]  # left empty: not a feature of the row
    pool.write_text("\n".join([",".join([*header, "extra"]), *wide, *narrow]) + "\n")
    options = SelectOptions(pool=f"csv:{pool}", k=20, target="label", dry_run=True)
    report = select(options, settings, MemoryStore(), agrawal_tree(300))  # type: ignore[arg-type]
    assert report["scanned"] == 200 and not {f"p{n}" for n in range(100)} & set(report["ids"])
    assert "skipped 100 rows with more than 9 features" in caplog.text


def test_select_skips_pool_rows_whose_id_no_label_can_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # serve reads a label's id in 1 to 256 characters: such an item, queued, is labeled for
    # nothing (its label is dead-lettered as invalid and it stays pending until it expires).
    pool = tmp_path / "p.csv"
    _pool_csv(pool, 300)
    lines = pool.read_text().splitlines()
    bad = {1: "", 2: "i" * 257}  # rows p0 and p1
    for at, item_id in bad.items():
        lines[at] = item_id + lines[at][lines[at].index(",") :]
    pool.write_text("\n".join(lines) + "\n")
    options = SelectOptions(pool=f"csv:{pool}", k=300, target="label", candidates=300)
    store = MemoryStore()
    report = select(options, Settings(), store, agrawal_tree(300))  # type: ignore[arg-type]
    assert report["scanned"] == 298 and report["queued"] == 298
    assert not set(bad.values()) & set(report["ids"])
    assert "select: skipped row 1: its id is empty" in caplog.text
    assert "select: skipped row 2: its id has 257 characters, more than 256" in caplog.text
    assert "skipped 2 rows whose id no label can name" in caplog.text


def test_a_pool_topic_s_null_features_are_missing_and_an_event_of_nulls_only_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As serve reads an event: null is a missing value, left out of the row's features.
    from stream_al.service.select import _pool_rows

    records = [
        ("pool:0:0", b'{"id": "a", "features": {"x": 1.0, "age": null}}'),
        ("pool:0:1", b'{"id": "b", "features": {"age": null}}'),
    ]
    monkeypatch.setattr("stream_al.io.kafka.read_topic", lambda kafka, topic: iter(records))
    assert list(_pool_rows("topic:pool", Settings(), None, None)) == [("a", {"x": 1.0})]
    assert "select: skipped pool:0:1: Value error, no feature has a value (every one" in caplog.text
