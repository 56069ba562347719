"""One live serve process per replica id: the lease on the in-memory twin, with a clock the
test moves (the same on a real Redis: tests/integration/io/test_replica_leases.py, and two
serve processes: tests/integration/test_replicas.py)."""

from __future__ import annotations

import pytest

from stream_al.errors import ConfigurationError, StoreUnavailable
from stream_al.io.base import LeaseHolder
from stream_al.io.memory import MemoryStore
from stream_al.service.replica_lease import TTL_S, ReplicaLease


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


def test_the_twin_takes_a_free_lease_keeps_its_own_and_answers_another_holder() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert store.take_lease("r1", "a", 10.0) == "taken"
    clock.now += 4
    assert store.take_lease("r1", "a", 10.0) == "kept"
    assert store.take_lease("r1", "b", 10.0) == LeaseHolder("a", 10.0)
    assert store.take_lease("r2", "b", 10.0) == "taken"  # another id: its own lease
    assert not store.drop_lease("r1", "b")  # never another's
    clock.now += 10
    assert store.take_lease("r1", "b", 10.0) == "taken"  # lapsed: free
    assert not store.drop_lease("r1", "a")
    assert store.drop_lease("r1", "b")
    assert store.take_lease("r1", "a", 10.0) == "taken"


def _lease(store: MemoryStore, clock: Clock, lost: list[str] | None = None) -> ReplicaLease:
    record = lost.append if lost is not None else _never
    return ReplicaLease(store, "r1", on_lost=record, clock=clock)


def _never(message: str) -> None:
    raise AssertionError(f"lease lost: {message}")


def test_a_start_waits_for_a_killed_holders_lease_to_lapse_then_holds_it() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    killed = _lease(store, clock)
    assert killed.acquire(clock.pause, lambda: False)
    clock.now += 3  # then kill -9: nobody keeps it alive
    restarted = _lease(store, clock)
    waits: list[str] = []
    assert restarted.acquire(clock.pause, lambda: False, waits.append)
    assert clock.now == pytest.approx(1000 + TTL_S)  # waited what the lease had left, no more
    assert waits and "waiting for the lease on replica id 'r1' to lapse" in waits[0]
    assert store.take_lease("r1", "x", 1.0) == LeaseHolder(restarted.holder, TTL_S)


def test_a_start_is_refused_when_the_holder_keeps_its_lease_alive() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    live = _lease(store, clock)
    assert live.acquire(clock.pause, lambda: False)

    def pause_while_the_other_keeps_it(seconds: float) -> None:
        clock.pause(seconds)
        assert live.keep()

    second = _lease(store, clock)
    with pytest.raises(ConfigurationError) as refused:
        second.acquire(pause_while_the_other_keeps_it, lambda: False)
    message = str(refused.value)
    assert message.startswith("STREAM_AL_SERVICE__REPLICA_ID=r1: another live serve process")
    assert "give each process its own STREAM_AL_SERVICE__REPLICA_ID" in message
    assert clock.now - 1000 <= 2.0  # seen at the first look after a keep, not after the TTL
    assert store.take_lease("r1", "x", 1.0) == LeaseHolder(live.holder, TTL_S)  # untouched


def test_a_stopping_start_gives_up_waiting() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert _lease(store, clock).acquire(clock.pause, lambda: False)
    assert not _lease(store, clock).acquire(clock.pause, lambda: True)


def test_a_running_process_whose_lease_another_took_stops_and_one_that_lapsed_takes_it_again() -> (
    None
):
    clock = Clock()
    store = MemoryStore(clock=clock)
    lost: list[str] = []
    paused = _lease(store, clock, lost)
    assert paused.acquire(clock.pause, lambda: False)
    clock.now += TTL_S + 5  # paused (SIGSTOP) or cut off from Redis past the TTL
    assert paused.keep() and not lost  # nobody took it: held again
    clock.now += TTL_S + 5
    newcomer = _lease(store, clock)
    assert newcomer.acquire(clock.pause, lambda: False)
    assert not paused.keep()
    assert len(lost) == 1 and "another serve process holds this replica id now" in lost[0]
    paused.release()  # its exit deletes nothing of the newcomer's
    assert store.take_lease("r1", "x", 1.0) == LeaseHolder(newcomer.holder, TTL_S)


def test_a_released_lease_is_not_taken_again_by_a_late_keep() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    lease = _lease(store, clock)
    assert lease.acquire(clock.pause, lambda: False)
    lease.release()
    assert not lease.keep()
    assert store.take_lease("r1", "x", 1.0) == "taken"


class _Away(MemoryStore):
    def take_lease(self, replica: str, holder: str, ttl_seconds: float) -> object:  # type: ignore[override]
        raise StoreUnavailable("redis: connection refused")

    def drop_lease(self, replica: str, holder: str) -> bool:
        raise StoreUnavailable("redis: connection refused")


def test_redis_away_neither_loses_the_lease_nor_fails_the_exit() -> None:
    lease = ReplicaLease(_Away(), "r1", on_lost=_never)
    assert lease.keep()
    lease.release()
