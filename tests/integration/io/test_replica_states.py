"""The replicas' states in Redis (``P:replica:{replica}``, ``P:replicas``): what
``stream-al status`` reads, with Redis's TTL and Redis's clock."""

from __future__ import annotations

import time

import redis

from stream_al.io.base import ReplicaState
from stream_al.io.redis import RedisStore
from tests.integration.deployment import wait_for

PREFIX = "states"


def test_a_state_lives_its_ttl_then_the_replica_is_silent_until_forgotten(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, PREFIX)
    ready = ReplicaState(True, "", 10.0, 20.0)
    store.put_replica_state("r1", ready, ttl_seconds=0.3, forget_seconds=3600)
    store.put_replica_state("r2", ReplicaState(False, "stopped", 5.0, 5.0, True), 3600, 3600)
    r1, r2 = store.replica_states()
    assert (r1.replica, r1.state, r2.replica) == ("r1", ready, "r2")
    assert r2.state is not None and r2.state.stopped and r1.silent_for < 1.0
    wait_for(lambda: store.replica_states()[0].state is None, 5, what="r1's state to expire")
    assert store.replica_states()[0].silent_for >= 0.3
    # A replica silent for longer than forget_seconds leaves the list at the next write.
    time.sleep(0.05)
    store.put_replica_state("r3", ready, ttl_seconds=10, forget_seconds=0.04)
    assert [s.replica for s in store.replica_states()] == ["r3"]


def test_a_state_serve_did_not_write_is_said_unreadable_not_raised(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, PREFIX)
    for replica in ("r1", "r2"):
        store.put_replica_state(replica, ReplicaState(True, "", 0.0, 0.0), 60, 3600)
    redis_client.set(f"{PREFIX}:replica:r1", "not json")
    redis_client.delete(f"{PREFIX}:replica:r2")
    redis_client.hset(f"{PREFIX}:replica:r2", "a", "b")
    r1, r2 = store.replica_states()
    assert r1.state is None and r1.unreadable.startswith("not a replica's state")
    assert r2.state is None and "WRONGTYPE" in r2.unreadable
