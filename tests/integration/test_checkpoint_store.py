"""Checkpoints on real Redis: found through their index, and the train log trimmed up to
the oldest of them."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from stream_al.io.base import Checkpoint
from stream_al.io.redis import RedisStore


def _log(client: redis.Redis, store: RedisStore, n: int) -> list[str]:
    pipe = client.pipeline()
    for _ in range(n):
        pipe.xadd(store.keys.train_log, {"item": "{}", "label": "{}"})
    return [i.decode() for i in pipe.execute()]


def _checkpoint(replica: str, train_log_id: str | None) -> Checkpoint:
    return Checkpoint(replica, train_log_id, b"model", "sig", 1.0)


def test_the_newest_checkpoint_and_the_trim_come_from_the_index(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, prefix="ck")
    ids = _log(redis_client, store, 1000)
    store.save(_checkpoint("r1", ids[600]))
    store.save(_checkpoint("r2", ids[900]))
    for i in range(500):  # the keyspace a busy deployment has: not scanned for checkpoints
        redis_client.set(store.keys.labeled(f"item-{i}"), 1)
    assert redis_client.smembers(store.keys.checkpoints) == {b"r1", b"r2"}
    newest = store.newest()
    assert newest is not None and newest.replica == "r2"
    # Redis trims whole nodes of the stream: up to r1's entry, never past it.
    trimmed = store.trim_train_log()
    assert 0 < trimmed <= 600
    assert redis_client.xlen(store.keys.train_log) == 1000 - trimmed
    assert redis_client.xrange(store.keys.train_log, min=ids[600], max=ids[600])


def test_checkpoints_saved_before_the_index_are_found_once_and_indexed(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore(redis_client, prefix="ck")
    ids = _log(redis_client, store, 1000)
    # A checkpoint as an earlier version wrote it: the hash alone, and the oldest one.
    redis_client.hset(store.keys.checkpoint("old"), mapping={"train_log_id": ids[300]})
    store.save(_checkpoint("new", ids[900]))
    trimmed = store.trim_train_log()
    assert 0 < trimmed <= 300
    assert redis_client.smembers(store.keys.checkpoints) == {b"old", b"new"}

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the keyspace was scanned again")

    monkeypatch.setattr(redis_client, "scan_iter", no_scan)
    newest = store.newest()
    assert newest is not None and newest.replica == "new"


def test_a_deleted_checkpoint_leaves_the_index_and_does_not_hold_the_log(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, prefix="ck")
    ids = _log(redis_client, store, 1000)
    store.save(_checkpoint("gone", None))  # before any entry: the whole log is kept
    store.save(_checkpoint("kept", ids[800]))
    assert store.trim_train_log() == 0
    redis_client.delete(store.keys.checkpoint("gone"))  # as a forced model import does
    assert store.trim_train_log() > 0
    assert redis_client.smembers(store.keys.checkpoints) == {b"kept"}


def test_a_key_that_holds_no_checkpoint_serve_wrote_is_ignored_with_a_warning(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Hand-written hashes under the checkpoint keys: each raised (ValueError, WRONGTYPE)
    # at every trim of the train log, so serve stopped once a minute, and a new replica or
    # a replica with such a checkpoint of its own stopped at start.
    store = RedisStore(redis_client, prefix="ck")
    ids = _log(redis_client, store, 1000)
    store.save(_checkpoint("good", ids[700]))
    bad = {
        "id": {"train_log_id": "garbage", "data": "x", "signature": "s", "created_at": "1"},
        "huge-id": {"train_log_id": f"{2**64}-0", "data": "x", "signature": "s"},
        "time": {"train_log_id": ids[900], "data": "x", "signature": "s", "created_at": "abc"},
        "bytes": {"train_log_id": b"\xff-0", "data": "x", "signature": "s"},
    }
    for replica, fields in bad.items():
        redis_client.hset(store.keys.checkpoint(replica), mapping=fields)
    redis_client.set(store.keys.checkpoint("string"), "not a hash")
    redis_client.sadd(store.keys.checkpoints, *bad, "string")
    for replica in [*bad, "string"]:
        assert store.load(replica) is None, replica
    newest = store.newest()
    assert newest is not None and newest.replica == "good"
    assert 0 < store.trim_train_log() <= 700  # up to the good one's entry
    for replica in [*bad, "string"]:
        assert f"ck:checkpoint:{replica} is not a checkpoint this version can read" in caplog.text


def test_a_name_in_the_checkpoint_index_that_is_not_utf8_is_passed_over_with_a_warning(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Added by hand: no replica is named so (a replica id is text), yet its decoding raised
    # at every trim of the train log, and in the scan of an index not made yet.
    ids = _log(redis_client, RedisStore(redis_client, prefix="ck"), 1000)
    RedisStore(redis_client, prefix="ck").save(_checkpoint("good", ids[700]))
    redis_client.sadd("ck:checkpoints", b"\xff")
    redis_client.hset(b"ck:checkpoint:\xfe", mapping={"train_log_id": ids[10]})
    store = RedisStore(redis_client, prefix="ck")  # a new process: it scans once
    newest = store.newest()
    assert newest is not None and newest.replica == "good"
    assert 0 < store.trim_train_log() <= 700
    assert "b'\\xff' (in ck:checkpoints) is not a checkpoint" in caplog.text
    assert "b'ck:checkpoint:\\xfe' (in ck:checkpoints) is not a checkpoint" in caplog.text


def test_the_label_stream_drops_what_serve_is_done_with_and_keeps_the_rest(
    redis_client: redis.Redis,
) -> None:
    # It grew by every label for ever: a transport, not a record (the train log is one).
    store = RedisStore(redis_client, prefix="lt")
    assert store.trim_labels(0) == 0  # no stream yet
    pipe = redis_client.pipeline()
    for i in range(300):
        pipe.xadd(store.keys.labels, {"label": f'{{"id": "{i}", "label": "a"}}'})
    ids = [i.decode() for i in pipe.execute()]
    read = [entry_id for entry_id, _ in store.read_labels(200)]
    assert read == ids[:200]
    for entry_id in read:
        if entry_id != ids[10]:  # one read and not done with yet: its replica died, say
            store.reject_label(entry_id, "{}")
    assert store.trim_labels(3600) == 0  # all younger than an hour
    assert store.trim_labels(0) == 10  # up to the one still pending, not past it
    store.reject_label(ids[10], "{}")
    assert store.trim_labels(0) == 190  # up to the last one read: 100 never read are kept
    remaining = [e[0].decode() for e in redis_client.xrange(store.keys.labels)]
    assert remaining == ids[200:]
    assert [entry_id for entry_id, _ in store.read_labels(500)] == ids[200:]


def test_a_redis_that_hides_its_configuration_is_used_with_a_warning(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Managed Redis services often refuse CONFIG: the eviction check cannot be made there.
    redis_client.acl_setuser(
        "no-config", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-config"]
    )
    try:
        where = redis_client.connection_pool.connection_kwargs
        client = redis.Redis(
            host=where["host"], port=where["port"], username="no-config", password="pw"
        )
        store = RedisStore(client, prefix="cfg")
        store.ensure_groups_ok()  # no error: it goes on
        assert "cannot read maxmemory-policy" in caplog.text and "noeviction" in caplog.text
        client.close()
    finally:
        redis_client.acl_deluser("no-config")


def test_labels_another_replica_acknowledges_during_the_trim_do_not_stop_it(
    redis_client: redis.Redis,
) -> None:
    # XINFO GROUPS counted a pending label, the replica holding it acknowledged it before
    # XPENDING (it came back from a pause, say): XPENDING names no oldest entry then, and
    # the trim raised DataError (XTRIM without MINID), which stopped serve.
    r1 = RedisStore(redis_client, prefix="race", consumer="r1")
    other = redis.Redis(
        connection_pool=redis.ConnectionPool(**redis_client.connection_pool.connection_kwargs)
    )
    r2 = RedisStore(other, prefix="race", consumer="r2")
    r1.ensure_groups()
    ids = [redis_client.xadd(r1.keys.labels, {"label": '{"id": "a", "label": 1}'}).decode()]
    ids += [redis_client.xadd(r1.keys.labels, {"label": '{"id": "b", "label": 1}'}).decode()]
    assert [entry_id for entry_id, _ in r2.read_labels(10)] == ids
    xinfo_groups = redis_client.xinfo_groups

    def groups_then_r2_is_done(key: str) -> object:
        groups = xinfo_groups(key)
        for entry_id in ids:  # the other replica, on its own connection
            r2.reject_label(entry_id, "{}")
        return groups

    redis_client.xinfo_groups = groups_then_r2_is_done  # type: ignore[method-assign]
    assert r1.trim_labels(0) == 2
    assert redis_client.xlen(r1.keys.labels) == 0
    other.close()
