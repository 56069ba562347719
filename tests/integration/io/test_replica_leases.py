"""The replica ids' leases in Redis (``P:lease:{replica}``): taken where absent, kept alive
only by their holder, lapsing by Redis's TTL, deleted only by their holder."""

from __future__ import annotations

import pytest
import redis

from stream_al.errors import ReplicaIdTaken
from stream_al.io.base import Checkpoint, LeaseHolder
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


def test_a_checkpoint_is_written_only_while_no_other_process_holds_the_replica_id(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, PREFIX)
    redis_client.delete(f"{PREFIX}:lease:r2", f"{PREFIX}:checkpoint:r2")
    store.lease_holder = "host pid 1 run a"
    mine = Checkpoint("r2", None, b"\x00model\xff", "sig", 1.0)
    store.save(mine)  # nobody holds the id (lapsed): written
    assert store.take_lease("r2", "host pid 1 run a", 30.0) == "taken"
    store.save(mine)  # its own: written
    saved = store.load("r2")
    assert saved is not None and saved.data == b"\x00model\xff"
    assert store.drop_lease("r2", "host pid 1 run a")
    assert store.take_lease("r2", "other pid 2 run b", 30.0) == "taken"
    with pytest.raises(
        ReplicaIdTaken, match=r"another serve process holds this replica id now \(other pid 2\)"
    ):
        store.save(Checkpoint("r2", "5-0", b"stale", "sig", 2.0))
    kept = store.load("r2")
    assert kept is not None and kept.data == b"\x00model\xff"  # the new holder's untouched
    store.lease_holder = None  # a command's store (no lease): as before
    store.save(Checkpoint("r2", "5-0", b"forced", "sig", 3.0))
