"""The Service's turn, retries and shutdown with in-memory fakes of Kafka (Redis: the twin)."""

from __future__ import annotations

import contextlib
import json

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.io.memory import MemoryStore
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.runner import Service
from tests.unit.stubs import NoisyClassifier


class FakeSource:
    def __init__(self, batches: list[list[tuple[str, bytes]]]) -> None:
        self.batches = batches
        self.commits = 0
        self.lags: dict[int, int] = {0: 5, 1: 7}
        self.calls: list[str] = []

    def poll(self) -> list[tuple[str, bytes]]:
        self.calls.append("poll")
        return self.batches.pop(0) if self.batches else []

    def commit(self) -> None:
        self.calls.append("commit")
        self.commits += 1

    def lag(self) -> dict[int, int]:
        return dict(self.lags)

    def close(self) -> None:
        pass


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.predictions: list[str] = []
        self.flushes = 0
        self.calls: list[str] | None = None

    def prediction(self, key: str, payload: str) -> None:
        self.predictions.append(key)

    def send(self, payload: str) -> None:
        self.sent.append(payload)

    def flush(self, timeout: float | None = 30.0) -> None:
        self.flushes += 1
        if self.calls is not None:
            self.calls.append("flush")

    def close(self) -> None:
        pass


def _events(start: int, n: int) -> list[tuple[str, bytes]]:
    return [
        (f"t:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": i}}).encode())
        for i in range(start, start + n)
    ]


def _service(source: FakeSource, store: MemoryStore | None = None) -> tuple[Service, MemoryStore]:
    store = store or MemoryStore()
    publisher = FakePublisher()
    publisher.calls = source.calls
    service = Service(
        ActiveLearner(NoisyClassifier(), "random", 0.5, seed=0),
        replica="r1",
        source=source,
        publisher=publisher,
        store=store,  # type: ignore[arg-type]
        metrics=Metrics.create(),
        health=Health(),
        checkpoint_key=b"k",
        every_labels=1000,
        every_seconds=3600,
    )
    return service, store


def test_a_turn_flushes_the_producer_before_it_commits_the_offsets() -> None:
    source = FakeSource([_events(0, 10)])
    service, store = _service(source)
    service.turn()
    assert source.calls == ["poll", "flush", "commit"]
    assert store.queue_depth() > 0
    service.turn()  # nothing polled: nothing to commit
    assert source.commits == 1


def test_a_failed_turn_completes_the_same_batch_without_deciding_it_again() -> None:
    source = FakeSource([_events(0, 10)])
    service, store = _service(source)
    original = store.enqueue
    failures = {"left": 1}

    def flaky(*args: object, **kwargs: object) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("redis away")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.enqueue = flaky  # type: ignore[method-assign]
    turns = 0
    while source.commits == 0 and turns < 5:
        turns += 1
        with contextlib.suppress(ConnectionError):
            service.turn()
    assert source.commits == 1
    assert service.loop.learner.n_events == 10  # decided once
    assert service.loop.events["queried"] + service.loop.events["not_queried"] == 10


def test_run_backs_off_on_failures_then_shuts_down_with_a_checkpoint() -> None:
    source = FakeSource([_events(0, 5)])
    service, store = _service(source)
    failing = {"n": 2}
    original = source.poll

    def poll() -> list[tuple[str, bytes]]:
        if failing["n"]:
            failing["n"] -= 1
            raise OSError("broker away")
        return original()

    source.poll = poll  # type: ignore[method-assign]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    def stop_soon() -> None:
        if source.commits:
            service.stop()

    health_beat = service.health.beat

    def beat() -> None:
        health_beat()
        stop_soon()

    service.health.beat = beat  # type: ignore[method-assign]
    service.run(sleep=sleep)
    assert waits == [0.1, 0.2]  # doubling backoff
    assert source.commits == 1
    checkpoint = store.load("r1")
    assert checkpoint is not None  # written on shutdown


def test_lag_of_partitions_lost_in_a_rebalance_is_no_longer_reported() -> None:
    source = FakeSource([])
    service, _ = _service(source)
    service.turn()
    reg = service.metrics.registry
    assert reg.get_sample_value("stream_al_consumer_lag_messages", {"partition": "1"}) == 7
    source.lags = {0: 3}
    service._gauges_time = 0.0
    service.turn()
    assert reg.get_sample_value("stream_al_consumer_lag_messages", {"partition": "0"}) == 3
    assert reg.get_sample_value("stream_al_consumer_lag_messages", {"partition": "1"}) is None


def test_replay_counts_as_liveness() -> None:
    service, _store = _service(FakeSource([]))
    service.health.stall_seconds = 0.5
    service.health._beat -= 10  # long ago
    assert not service.health.alive
    service.replay(None)
    assert service.health.alive


@pytest.mark.parametrize("applied", [0, 5])
def test_a_forced_checkpoint_records_the_last_applied_entry(applied: int) -> None:
    service, store = _service(FakeSource([]))
    service.loop.last_applied = f"{applied}-0" if applied else None
    assert service.maybe_checkpoint(force=True)
    checkpoint = store.load("r1")
    assert checkpoint is not None
    assert checkpoint.train_log_id == (f"{applied}-0" if applied else None)
