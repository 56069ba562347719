"""serve's Lua scripts on a real Redis: no round trip to ask whether they exist, and a
Redis that forgot them (a restart empties its script cache) still runs each call once."""

from __future__ import annotations

import json
import time

import redis

from stream_al.core.routing import Routing
from stream_al.io.base import EnqueueRequest
from stream_al.io.redis import RedisStore
from stream_al.schemas import Label
from stream_al.service.routing import queue_request

PREFIX = "scripts"


def _request(item_id: str) -> EnqueueRequest:
    return queue_request(
        item_id=item_id,
        features={"x": 1.0},
        prediction=True,
        proba={True: 0.6, False: 0.4},
        score=0.4,
        reason="uncertain",
        threshold=None,
        strategy="test",
        enqueued_at=time.time(),
        model_version=0,
        routing=Routing(),
        label_ttl=600,
    )


def _answer(worker: RedisStore, n: int) -> None:
    for entry_id, raw in worker.take("ann", n, block_ms=0):
        item_id = json.loads(raw)["id"]
        worker.complete(entry_id, Label(id=item_id, label=True, annotator="ann").model_dump_json())


def _join(serve: RedisStore) -> list[str]:
    waiting = [(e, json.loads(raw)["id"], raw) for e, raw in serve.read_labels(100)]
    return [outcome for outcome, _ in serve.join_many(waiting)]


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


def test_a_batch_of_enqueues_and_joins_does_not_ask_whether_the_scripts_exist(
    redis_client: redis.Redis,
) -> None:
    serve = RedisStore(redis_client, PREFIX, consumer="serve-1")
    serve.ensure_groups()
    worker = RedisStore(redis_client, PREFIX, consumer="ann")
    # One item through first: a fresh Redis answers each script's first EVALSHA NOSCRIPT.
    assert serve.enqueue_many([_request("warm")]) == [True]
    _answer(worker, 1)
    assert _join(serve) == ["learned"]
    before = _calls(redis_client, "script|exists"), _calls(redis_client, "evalsha")
    assert serve.enqueue_many([_request(f"i{k}") for k in range(5)]) == [True] * 5
    _answer(worker, 5)
    assert _join(serve) == ["learned"] * 5
    after = _calls(redis_client, "script|exists"), _calls(redis_client, "evalsha")
    assert after[0] == before[0]  # not one SCRIPT EXISTS
    assert after[1] - before[1] == 5 + 5  # one EVALSHA per enqueue and per join


def test_after_redis_forgets_its_scripts_each_enqueue_and_join_runs_once(
    redis_client: redis.Redis,
) -> None:
    serve = RedisStore(redis_client, PREFIX, consumer="serve-1")
    serve.ensure_groups()
    worker = RedisStore(redis_client, PREFIX, consumer="ann")
    assert serve.enqueue_many([_request("a")]) == [True]
    redis_client.script_flush()
    assert serve.enqueue_many([_request("b"), _request("c"), _request("a")]) == [
        True,
        True,
        False,  # "a" is pending already: refused, as before the flush
    ]
    assert serve.queue_depth() == 3 and serve.pending_count() == 3
    _answer(worker, 3)
    redis_client.script_flush()
    assert _join(serve) == ["learned"] * 3
    learned = [json.loads(e.label)["id"] for e in serve.read_train_log(None, 100)]
    assert sorted(learned) == ["a", "b", "c"]  # each once
    assert serve.queue_depth() == 0 and serve.pending_count() == 0
