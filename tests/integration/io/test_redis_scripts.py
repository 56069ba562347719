"""serve's Lua scripts on a real Redis: no round trip to ask whether they exist, and a
Redis that forgot them (a restart empties its script cache) still runs each call once."""

from __future__ import annotations

import json

import pytest
import redis

from stream_al.io.base import WrongType
from stream_al.io.redis import RedisStore
from stream_al.schemas import Label
from tests.integration.io.items import item_request

PREFIX = "scripts"


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


@pytest.fixture
def stores(redis_client: redis.Redis) -> tuple[RedisStore, RedisStore]:
    """serve's store and a worker's (annotator ``ann``) on the test database."""
    serve = RedisStore(redis_client, PREFIX, consumer="serve-1")
    serve.ensure_groups()
    return serve, RedisStore(redis_client, PREFIX, consumer="ann")


def test_a_batch_of_enqueues_and_joins_does_not_ask_whether_the_scripts_exist(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    serve, worker = stores
    # One item through first: a fresh Redis answers each script's first EVALSHA NOSCRIPT.
    assert serve.enqueue_many([item_request("warm")]) == [True]
    _answer(worker, 1)
    assert _join(serve) == ["learned"]
    before = _calls(redis_client, "script|exists"), _calls(redis_client, "evalsha")
    assert serve.enqueue_many([item_request(f"i{k}") for k in range(5)]) == [True] * 5
    _answer(worker, 5)
    assert _join(serve) == ["learned"] * 5
    after = _calls(redis_client, "script|exists"), _calls(redis_client, "evalsha")
    assert after[0] == before[0]  # not one SCRIPT EXISTS
    assert after[1] - before[1] == 5 + 5  # one EVALSHA per enqueue and per join


def test_after_redis_forgets_its_scripts_each_enqueue_and_join_runs_once(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    serve, worker = stores
    assert serve.enqueue_many([item_request("a")]) == [True]
    redis_client.script_flush()
    assert serve.enqueue_many([item_request("b"), item_request("c"), item_request("a")]) == [
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


def test_an_item_key_of_another_type_answers_for_that_item_only_and_changes_nothing(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    # Another program's hash under the prefix: a plain error reply for it failed the
    # whole batch (serve exited 1, and again at every restart).
    serve, worker = stores
    redis_client.hset(f"{PREFIX}:pending:e5", "a", "b")
    redis_client.sadd(f"{PREFIX}:labeled:e6", "x")
    replies = serve.enqueue_many([item_request(k) for k in ("e4", "e5", "e6", "e7")])
    assert replies == [
        True,
        WrongType(f"{PREFIX}:pending:e5", "hash", "string"),
        WrongType(f"{PREFIX}:labeled:e6", "set", "string"),
        True,
    ]
    assert serve.queue_depth() == 2 and serve.pending_count() == 2
    _answer(worker, 2)
    redis_client.delete(f"{PREFIX}:pending:e7")
    redis_client.hset(f"{PREFIX}:pending:e7", "a", "b")  # gone wrong while it waited
    redis_client.set(f"{PREFIX}:votes:e4", "x")
    waiting = [(e, json.loads(raw)["id"], raw) for e, raw in serve.read_labels(100)]
    assert [w[1] for w in waiting] == ["e4", "e7"]
    assert serve.join_many(waiting) == [
        WrongType(f"{PREFIX}:votes:e4", "string", "hash"),
        WrongType(f"{PREFIX}:pending:e7", "hash", "string"),
    ]
    assert serve.read_train_log(None, 10) == []  # nothing joined, nothing acknowledged
    assert redis_client.xpending(f"{PREFIX}:labels", "serve")["pending"] == 2
    redis_client.delete(f"{PREFIX}:votes:e4")
    assert [outcome for outcome, _ in serve.join_many(waiting[:1])] == ["learned"]


def test_a_label_answer_key_another_program_wrote_stops_only_that_label(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    serve, worker = stores
    assert serve.enqueue_many([item_request("a"), item_request("b")]) == [True, True]
    _answer(worker, 2)
    waiting = [(e, json.loads(raw)["id"], raw) for e, raw in serve.read_labels(100)]
    [entry_a, entry_b] = [entry_id for entry_id, _, _ in waiting]
    redis_client.hset(f"{PREFIX}:joined:{entry_a}", "a", "b")
    redis_client.set(f"{PREFIX}:joined:{entry_b}", "no answer of ours")
    [wrong, (outcome, _)] = serve.join_many(waiting)
    assert wrong == WrongType(f"{PREFIX}:joined:{entry_a}", "hash", "string")
    assert outcome == "learned"  # a string the join did not write is no answer
    assert [json.loads(e.label)["id"] for e in serve.read_train_log(None, 10)] == ["b"]
    redis_client.delete(f"{PREFIX}:joined:{entry_a}")
    assert [outcome for outcome, _ in serve.join_many(waiting)] == ["learned", "learned"]
    assert len(serve.read_train_log(None, 10)) == 2  # b answered again, not joined again


def test_the_items_asked_already_are_those_pending_or_labeled_in_one_round_trip(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    serve, worker = stores
    assert serve.enqueue_many([item_request("answered"), item_request("ünï")]) == [True] * 2
    _answer(worker, 2)
    assert _join(serve) == ["learned", "learned"]  # their pending items gone, labeled
    assert serve.enqueue_many([item_request("waiting")]) == [True]
    redis_client.hset(f"{PREFIX}:pending:foreign", "a", "b")  # another program's key
    serve.asked(["warm"])  # a Redis that forgot its scripts answers the first NOSCRIPT
    before = _calls(redis_client, "evalsha")
    ids = ["waiting", "answered", "new", "foreign", "ünï", "ünï cödé"]
    assert serve.asked(ids) == {"waiting", "answered", "ünï"}
    assert _calls(redis_client, "evalsha") - before == 1
    assert serve.asked([]) == set()


def test_an_item_the_workers_dropped_stays_asked_until_its_pending_item_would_have_expired(
    redis_client: redis.Redis, stores: tuple[RedisStore, RedisStore]
) -> None:
    # Its pending key deleted, nothing said it was asked: its event consumed again was
    # asked, queued and charged again.
    serve, worker = stores
    assert serve.enqueue_many([item_request("dropped"), item_request("undated")]) == [True] * 2
    pending_ms = redis_client.pttl(f"{PREFIX}:pending:dropped")
    redis_client.persist(f"{PREFIX}:pending:undated")  # no deadline to keep: no mark
    for entry_id, raw in worker.take("ann", 2, block_ms=0):
        worker.drop(entry_id, json.loads(raw)["id"])
    assert serve.pending_count() == 0 and serve.queue_stats()["skipped"] == 2
    assert redis_client.get(f"{PREFIX}:pending:dropped") is None
    assert serve.asked(["dropped", "undated", "new"]) == {"dropped"}
    # The mark is a byte, and lives no longer than the pending item would have.
    assert redis_client.strlen(f"{PREFIX}:dropped:dropped") == 1
    assert 0 < redis_client.pttl(f"{PREFIX}:dropped:dropped") <= pending_ms
    assert redis_client.exists(f"{PREFIX}:dropped:undated") == 0
    redis_client.delete(f"{PREFIX}:dropped:dropped")  # as its TTL does
    assert serve.asked(["dropped"]) == set()
