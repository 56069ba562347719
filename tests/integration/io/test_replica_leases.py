"""The replica ids' leases in Redis (``P:lease:{replica}``): taken where absent, kept alive
only by their holder, lapsing by Redis's TTL, deleted only by their holder."""

from __future__ import annotations

import redis

from stream_al.io.base import LeaseHolder
from stream_al.io.redis import RedisStore
from tests.integration.deployment import wait_for

PREFIX = "leases"


def test_a_lease_is_taken_kept_by_its_holder_only_and_lapses_by_its_ttl(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, PREFIX)
    key = f"{PREFIX}:lease:r1"
    redis_client.delete(key)
    assert store.take_lease("r1", "a", 0.5) == "taken"
    assert store.take_lease("r1", "a", 30.0) == "kept"
    other = store.take_lease("r1", "b", 30.0)
    assert isinstance(other, LeaseHolder) and other.holder == "a"
    assert 29.0 < other.seconds_left <= 30.0
    assert redis_client.get(key) == b"a"  # the other's attempt changed nothing
    assert not store.drop_lease("r1", "b") and redis_client.get(key) == b"a"
    assert store.take_lease("r1", "a", 0.3) == "kept"
    wait_for(lambda: redis_client.get(key) is None, 5, what="the lease to lapse")
    assert store.take_lease("r1", "b", 30.0) == "taken"
    assert not store.drop_lease("r1", "a")
    assert store.drop_lease("r1", "b") and redis_client.get(key) is None
