"""Each serve replica says in Redis whether it is ready, for ``stream-al status``; with the
in-memory twin (the same on a real Redis, and through ``status``, is in
tests/integration/test_status.py)."""

from __future__ import annotations

import logging
import threading

import pytest

from stream_al.errors import StoreUnavailable
from stream_al.io.base import ReplicaState
from stream_al.io.memory import MemoryStore
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.replica_state import FORGET_S, ReplicaStateWriter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _writer(store: MemoryStore, clock: Clock, health: Health | None = None) -> ReplicaStateWriter:
    return ReplicaStateWriter(store, "r1", health or Health(), Metrics.create(), clock=clock)


def test_a_replica_says_what_its_readyz_answers_and_since_when() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    health = Health()
    writer = _writer(store, clock, health)
    health.set_ready(False, "kafka: no connection to any broker")
    writer.write()
    clock.now += 4
    health.set_ready(False, "kafka: still no broker")  # another reason: still unready since 1000
    writer.write()
    [seen] = store.replica_states()
    assert seen.state == ReplicaState(False, "kafka: still no broker", 1000.0, 1004.0)
    clock.now += 2
    health.set_ready(True)
    health.beat()
    health.note = "redis lost its data at ...; serve restarted from ..."
    writer.write()
    [seen] = store.replica_states()
    assert seen.state == ReplicaState(True, health.note, 1006.0, 1006.0)


def test_a_replica_whose_state_expired_is_silent_and_one_that_stopped_says_so() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    writer, other = _writer(store, clock), _writer(store, clock)
    other.replica = "r2"
    writer.write()
    other.write()
    clock.now += writer.ttl + 5  # r1 killed: nothing written since
    other.write(stopped=True)
    r1, r2 = store.replica_states()
    assert r1.replica == "r1" and r1.state is None and r1.silent_for == writer.ttl + 5
    assert r2.state is not None and r2.state.stopped and not r2.state.ready
    clock.now += FORGET_S - 1  # a stopped replica's last word lives a day
    r1, r2 = store.replica_states()
    assert r2.state is not None and r2.state.stopped
    clock.now += 1
    writer.write()  # and a write forgets the replicas silent for a day
    assert [s.replica for s in store.replica_states()] == ["r1"]


def test_a_write_that_fails_is_counted_and_logged_once_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al")

    class Away(MemoryStore):
        away = True

        def put_replica_state(self, *args: object, **kwargs: object) -> None:
            if self.away:
                raise StoreUnavailable("redis: Connection refused")
            super().put_replica_state(*args, **kwargs)  # type: ignore[arg-type]

    clock = Clock()
    store = Away(clock=clock)
    writer = _writer(store, clock)
    assert not writer.write() and not writer.write()
    failures = writer.metrics.registry.get_sample_value("stream_al_replica_state_failures_total")
    assert failures == 2
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1 and "stream-al status shows it silent" in said[0], said
    assert "Connection refused" in said[0]
    store.away = False
    assert writer.write()
    assert "written to redis again" in caplog.text


def test_the_writer_writes_from_its_thread_until_stopped_then_says_it_stopped() -> None:
    wrote = threading.Event()

    class Watched(MemoryStore):
        def put_replica_state(self, *args: object, **kwargs: object) -> None:
            super().put_replica_state(*args, **kwargs)  # type: ignore[arg-type]
            wrote.set()

    store = Watched()
    writer = ReplicaStateWriter(store, "r1", Health(), Metrics.create(), every=0.01).start()
    for _ in range(3):  # several writes, every `every` seconds
        assert wrote.wait(5)
        wrote.clear()
    writer.stop()
    [seen] = store.replica_states()
    assert seen.state is not None and seen.state.stopped
    assert not writer._thread.is_alive()
