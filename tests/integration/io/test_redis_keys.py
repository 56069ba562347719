"""Keys another program wrote under stream-al's prefix, with a type stream-al does not keep
there: a key of the deployment is a setting to fix naming it (at start, or wherever it is
met), and a script meets one before its first write, so it changes nothing."""

from __future__ import annotations

import json

import pytest
import redis

from stream_al.errors import ConfigurationError
from stream_al.io.redis import RedisStore
from stream_al.io.redis_keys import RedisKeys
from tests.integration.io.items import item_request

PREFIX = "keys"
TYPES = RedisKeys(PREFIX).types


def _write_other_type(client: redis.Redis, key: str) -> str:
    """Put a value of another type than stream-al's at ``key``; that type."""
    client.delete(key)
    if TYPES[key] == "string":
        client.hset(key, "a", "b")
        return "hash"
    client.set(key, "x")
    return "string"


@pytest.mark.parametrize("key", sorted(TYPES))
def test_a_deployment_key_of_another_type_is_refused_at_start_naming_it(
    redis_client: redis.Redis, key: str
) -> None:
    # It failed the start with "WRONGTYPE Operation against a key holding the wrong kind
    # of value", naming no key (exit 1, at every start), or later at its first use.
    found = _write_other_type(redis_client, key)
    with pytest.raises(ConfigurationError) as refused:
        RedisStore(redis_client, PREFIX).ensure_groups_ok()
    message = str(refused.value)
    assert f"redis key {key} holds a {found}, not the {TYPES[key]} stream-al keeps" in message
    assert f"another program writes under STREAM_AL_REDIS__PREFIX ({PREFIX})" in message
    assert f"redis-cli DEL {key}" in message
    redis_client.delete(key)
    assert RedisStore(redis_client, PREFIX).ensure_groups_ok()


def test_every_deployment_key_of_another_type_is_named_at_once(
    redis_client: redis.Redis,
) -> None:
    for key in (f"{PREFIX}:state_id", f"{PREFIX}:audit"):
        _write_other_type(redis_client, key)
    with pytest.raises(ConfigurationError, match=f"DEL {PREFIX}:audit {PREFIX}:state_id"):
        RedisStore(redis_client, PREFIX).ensure_groups()


def test_a_deployment_key_turned_another_type_while_running_is_named_where_it_is_met(
    redis_client: redis.Redis,
) -> None:
    serve = RedisStore(redis_client, PREFIX, consumer="serve-1")
    serve.ensure_groups()
    _write_other_type(redis_client, f"{PREFIX}:queue_stats")
    with pytest.raises(ConfigurationError, match=f"redis key {PREFIX}:queue_stats holds a str"):
        serve.queue_stats()
    redis_client.delete(f"{PREFIX}:queue_stats")
    # A script meets it before its first write: no pending item without its queue entry.
    _write_other_type(redis_client, f"{PREFIX}:pending_index")
    with pytest.raises(ConfigurationError, match=f"{PREFIX}:pending_index holds a string"):
        serve.enqueue_many([item_request("a")])
    assert redis_client.keys(f"{PREFIX}:pending:*") == [] and serve.queue_depth() == 0
    redis_client.delete(f"{PREFIX}:pending_index")
    assert serve.enqueue_many([item_request("a")]) == [True]
    worker = RedisStore(redis_client, PREFIX, consumer="ann")
    [(entry_id, _)] = worker.take("ann", 1, block_ms=0)
    worker.complete(entry_id, json.dumps({"id": "a", "label": True}))
    # A join that would delete the pending item and then fail to log it: a label lost.
    _write_other_type(redis_client, f"{PREFIX}:train_log")
    [(label_id, label)] = serve.read_labels(10)
    with pytest.raises(ConfigurationError, match=f"{PREFIX}:train_log holds a string"):
        serve.join_many([(label_id, "a", str(label))])
    assert redis_client.exists(f"{PREFIX}:pending:a") and serve.pending_count() == 1
    redis_client.delete(f"{PREFIX}:train_log")
    [(outcome, _)] = serve.join_many([(label_id, "a", str(label))])
    assert outcome == "learned"


def test_a_state_id_turned_another_type_is_named_at_serve_s_next_state_check(
    redis_client: redis.Redis,
) -> None:
    serve = RedisStore(redis_client, PREFIX, consumer="serve-1")
    serve.ensure_groups()
    _write_other_type(redis_client, f"{PREFIX}:state_id")
    with pytest.raises(ConfigurationError, match=f"redis key {PREFIX}:state_id holds a hash"):
        serve.read_labels(10)
