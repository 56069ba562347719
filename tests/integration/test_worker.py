"""The label queue on real Redis: items a worker took are never lost."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream_al.io.redis import RedisStore
from stream_al.labeling.base import Oracle
from stream_al.labeling.worker import Worker
from stream_al.runtime.backoff import rerun_until_done
from tests.integration.conftest import RedisServer
from tests.integration.deployment import Deployment, wait_for


def _queue_items(deployment: Deployment, n: int) -> RedisStore:
    store = deployment.store()
    store.ensure_groups()
    for i in range(n):
        item = json.dumps({"id": f"i{i}", "features": {"x": i}, "prediction": None})
        assert store.enqueue(f"i{i}", "{}", item, 600)
    return store


def _labeled_ids(deployment: Deployment) -> list[str]:
    entries = deployment.redis().xrange(f"{deployment.prefix}:labels")
    return [json.loads(fields[b"label"])["id"] for _, fields in entries]


def test_items_held_by_a_worker_that_died_are_taken_over(
    deployment: Deployment, tmp_path: Path
) -> None:
    store = _queue_items(deployment, 6)
    dead = RedisStore(deployment.redis(), prefix=deployment.prefix)
    taken = dead.take("dead-worker", 4, block_ms=0)  # and then it dies, labeling nothing
    assert len(taken) == 4
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n" + "".join(f"i{i},{i % 2}\n" for i in range(6)))
    # The deployment's workers take over items idle for 5 s.
    worker = deployment.worker(truth, "alive", "--idle-exit", "15")
    wait_for(
        lambda: sorted(_labeled_ids(deployment)) == [f"i{i}" for i in range(6)],
        60,
        what="all six labeled, the dead worker's four included",
    )
    assert store.queue_depth() == 0
    assert worker.popen.wait(60) == 0


def test_a_restarted_worker_gets_its_own_items_back_first(
    deployment: Deployment, tmp_path: Path
) -> None:
    _queue_items(deployment, 3)
    first = RedisStore(deployment.redis(), prefix=deployment.prefix)
    assert len(first.take("w-stable", 2, block_ms=0)) == 2  # then it crashes
    restarted = RedisStore(deployment.redis(), prefix=deployment.prefix)
    again = restarted.take("w-stable", 10, block_ms=0)
    assert [json.loads(item)["id"] for _, item in again] == ["i0", "i1"]
    for entry_id, item in again:
        restarted.complete(entry_id, json.dumps({"id": json.loads(item)["id"], "label": 1}))
    assert sorted(_labeled_ids(deployment)) == ["i0", "i1"]
    assert restarted.depth() == 1


def test_queue_entries_that_are_not_items_do_not_stop_a_worker_or_its_restart(
    deployment: Deployment, tmp_path: Path
) -> None:
    store = _queue_items(deployment, 2)
    r, queue = deployment.redis(), f"{deployment.prefix}:queue"
    for raw in (b"\xff\xfe{", b"[1, 2]", b'{"features": {}}', b"null", b"x\nFORGED ERROR line"):
        r.xadd(queue, {"item": raw})
    RedisStore(r, prefix=deployment.prefix).take("w-bad", 10, block_ms=0)  # held: they
    # come back to this worker first when it starts again
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\ni0,a\ni1,b\n")
    worker = deployment.worker(truth, "w-bad", "--idle-exit", "3")
    assert worker.popen.wait(60) == 0
    assert sorted(_labeled_ids(deployment)) == ["i0", "i1"] and store.queue_depth() == 0
    assert worker.output().count("dropped unlabeled") == 5
    assert "\nFORGED" not in worker.output()  # the entry's text quoted on its own line


def _idle_ms(deployment: Deployment, entry_id: str) -> int:
    slot, _, stream_id = entry_id.rpartition("/")
    key = f"{deployment.prefix}:queue" + (f":{slot}" if slot else "")
    [info] = deployment.redis().xpending_range(key, "workers", stream_id, stream_id, 1)
    return int(info["time_since_delivered"])


def test_items_a_worker_keeps_are_not_taken_over_and_others_are(
    deployment: Deployment,
) -> None:
    _queue_items(deployment, 3)
    holder = RedisStore(deployment.redis(), prefix=deployment.prefix)
    held = holder.take("holder", 3, block_ms=0)
    kept, dropped = [e for e, _ in held[:2]], held[2][0]
    wait_for(lambda: _idle_ms(deployment, dropped) >= 600, 10, what="the items to sit idle")
    assert holder.keep("holder", kept) == 2
    assert all(_idle_ms(deployment, e) < 600 for e in kept)

    other = RedisStore(deployment.redis(), prefix=deployment.prefix, claim_idle_seconds=0.6)
    taken = other.take("other", 10, block_ms=0)
    assert [e for e, _ in taken] == [dropped]  # only the item nobody kept
    # Keeping an item another worker has taken over leaves it with that worker.
    assert holder.keep("holder", [dropped]) == 0
    assert other.keep("other", [dropped]) == 1


def test_a_skipped_item_goes_to_another_worker(deployment: Deployment, tmp_path: Path) -> None:
    store = _queue_items(deployment, 3)
    skipper = tmp_path / "knows-nothing.csv"
    skipper.write_text("id,label\n")
    knows_all = tmp_path / "truth.csv"
    knows_all.write_text("id,label\n" + "".join(f"i{i},{i % 2}\n" for i in range(3)))
    first = deployment.worker(skipper, "skipper", "--max-items", "3")
    assert first.popen.wait(60) == 0
    assert store.queue_depth() == 3  # all three given back
    second = deployment.worker(knows_all, "knows", "--idle-exit", "3")
    assert second.popen.wait(60) == 0
    assert sorted(_labeled_ids(deployment)) == ["i0", "i1", "i2"]


def test_a_skipped_item_waits_for_a_labeler_who_comes_a_moment_later(
    deployment: Deployment, tmp_path: Path
) -> None:
    # A worker alone for a moment dropped a skipped item after three give-backs, within
    # milliseconds: the labeler who came a second later (or whose connection dropped for
    # one) never saw it.
    store = _queue_items(deployment, 1)
    queue = f"{deployment.prefix}:queue"
    [(first, _)] = deployment.redis().xrange(queue)
    skipper = tmp_path / "knows-nothing.csv"
    skipper.write_text("id,label\n")
    alone = deployment.worker(skipper, "skipper", "--idle-exit", "3")
    wait_for(  # skipped and given back: a new entry for it
        lambda: [e for e, _ in deployment.redis().xrange(queue)] not in ([], [first]),
        30,
        what="i0 skipped and given back",
    )
    knows = tmp_path / "truth.csv"
    knows.write_text("id,label\ni0,1\n")
    later = deployment.worker(knows, "knows", "--idle-exit", "3")
    assert later.popen.wait(60) == 0
    assert alone.popen.wait(60) == 0
    assert _labeled_ids(deployment) == ["i0"]
    assert store.queue_stats()["skipped"] == 0 and store.queue_depth() == 0


def test_a_skipped_item_nobody_takes_leaves_the_queue_and_the_pending_items(
    deployment: Deployment, tmp_path: Path
) -> None:
    store = _queue_items(deployment, 2)
    assert store.pending_count() == 2
    knows_only_i1 = tmp_path / "partial.csv"
    knows_only_i1.write_text("id,label\ni1,1\n")
    # Alone in its tier, the worker gives i0 back for a minute, then drops it: no longer
    # pending, so the "no labels learned while items wait" alert cannot fire for it.
    alone = deployment.worker(knows_only_i1, "alone", "--idle-exit", "3")
    assert alone.popen.wait(120) == 0
    assert _labeled_ids(deployment) == ["i1"]
    assert store.queue_depth() == 0 and store.queue_stats()["skipped"] == 1
    assert store.pending_count() == 1  # i1 waits for serve to join its label; i0 is gone
    assert store.asked(["i0", "i1"]) == {"i0", "i1"}  # i0's event come again asks nothing


def test_a_truth_file_with_a_label_no_model_learns_is_refused_at_start_naming_the_line(
    deployment: Deployment, tmp_path: Path
) -> None:
    # A list stopped the worker ("failed: TypeError: unhashable type: 'list'"); 1.5, null
    # or NaN were written, each a dead letter in Redis, its item left pending unlabeled.
    store = _queue_items(deployment, 2)
    truth = tmp_path / "truth.jsonl"
    for label in ("[1]", "1.5", "null", "NaN"):
        truth.write_text(f'{{"id": "i0", "label": "a"}}\n{{"id": "i1", "label": {label}}}\n')
        worker = deployment.worker(truth, "w-file", "--idle-exit", "3")
        assert worker.popen.wait(60) == 2, worker.output()
        assert "truth.jsonl: line 2: label " in worker.output(), worker.output()
        assert "a label is text, an integer or a boolean" in worker.output()
    assert _labeled_ids(deployment) == [] and store.queue_depth() == 2


class _KillsRedis(Oracle):
    """Answers at once, a batch at a time, as the file oracle does; at its ``kill_at``-th
    answer it kills the worker's Redis (-9, every write on disk already) and starts it again
    a second later, so that writing that answer fails and the run ends with the rest of its
    batch in hand."""

    name = "kills"
    batch = 10

    def __init__(self, server: RedisServer, kill_at: int) -> None:
        self.server, self.kill_at = server, kill_at
        self.asked: list[str] = []
        self.restarted = threading.Event()

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        self.asked.append(item["id"])
        if len(self.asked) == self.kill_at:
            self.server.kill()
            threading.Timer(1.0, self._start).start()
        return "yes"

    def _start(self) -> None:
        self.server.start()
        self.restarted.set()


def test_a_worker_whose_redis_went_away_mid_batch_labels_the_rest_of_it_at_once(
    deployment: Deployment, redis_server: Callable[..., RedisServer]
) -> None:
    # The run that failed dropped the 7 items after the answer it could not write from
    # its hands; the next run read new items only, and those 7 waited, taken by nobody,
    # until the claim-idle time (300 s by default) made them anyone's, this worker's too.
    server = redis_server(durable=True)
    deployment.redis_url = server.url
    _queue_items(deployment, 10)
    store = RedisStore(deployment.redis(), prefix=deployment.prefix, claim_idle_seconds=300)
    oracle = _KillsRedis(server, kill_at=3)
    worker = Worker(store, oracle, "w-cut", batch=oracle.batch)
    runs: list[float] = []

    def run() -> Any:
        runs.append(time.monotonic())
        return worker.run(idle_exit=1.0)

    started = time.monotonic()
    rerun_until_done(run)
    assert oracle.restarted.wait(10) and len(runs) >= 2  # the outage ended the first run
    assert sorted(_labeled_ids(deployment)) == sorted(f"i{i}" for i in range(10))
    assert time.monotonic() - started < 60 and store.queue_depth() == 0
    assert oracle.asked[:3] == ["i0", "i1", "i2"] and len(oracle.asked) == 11  # i2 again
