"""The Service's turn, retries and shutdown with in-memory fakes of Kafka (Redis: the twin)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable

import pytest

from stream_al.config import KafkaSettings
from stream_al.core.learner import ActiveLearner
from stream_al.errors import BrokerUnavailable
from stream_al.io.base import ClusterTopics
from stream_al.io.memory import MemoryStore
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service import runner
from stream_al.service.runner import REWIND_WAIT_S, Service
from stream_al.service.topics import Recreated, TopicCheck, TopicWatch, serve_topics
from tests.unit.stubs import NoisyClassifier


class FakeSource:
    def __init__(self, batches: list[list[tuple[str, bytes]]]) -> None:
        self.batches = batches
        self.commits = 0
        self.lags: dict[int, int] = {0: 5, 1: 7}
        self.stalls = 0
        self.calls: list[str] = []

    def poll(self) -> list[tuple[str, bytes]]:
        self.calls.append("poll")
        return self.batches.pop(0) if self.batches else []

    def commit(self) -> None:
        self.calls.append("commit")
        self.commits += 1

    def lag(self) -> dict[int, int]:
        return dict(self.lags)

    def stalled(self) -> int:
        return self.stalls

    def rewind(self) -> list[str]:
        self.calls.append("rewind")
        return ["t:0"] if self.lags else []

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

    def flush(
        self, timeout: float | None = 30.0, give_up: Callable[[], bool] | None = None
    ) -> None:
        self.flushes += 1
        if self.calls is not None:
            self.calls.append("flush")

    def close(self, timeout: float = 10.0) -> None:
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


def test_a_loop_held_up_in_a_call_is_unready_naming_the_server_and_the_step() -> None:
    # Was "(on Kafka or Redis)" whatever held it: an operator could not tell which.
    source = FakeSource([_events(0, 10)])
    service, _ = _service(source)
    service.health.set_ready(True)
    service.health.wait_seconds = 0.0  # every call counts as held up
    seen: list[tuple[str, tuple[bool, str]]] = []
    for name in ("poll", "commit"):
        call = getattr(source, name)

        def watched(call: Callable[[], object] = call, name: str = name) -> object:
            seen.append((name, service.health.readiness()))
            return call()

        setattr(source, name, watched)
    service.turn()
    assert [(name, ready) for name, (ready, _) in seen] == [("poll", False), ("commit", False)]
    assert "s (on Kafka: polling events)" in seen[0][1][1]
    assert "s (on Kafka: committing offsets)" in seen[1][1][1]


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


def test_stalled_partitions_are_counted_with_the_lag_and_cleared_when_served_again() -> None:
    source = FakeSource([])
    service, _ = _service(source)
    source.stalls = 1
    service.turn()
    reg = service.metrics.registry
    assert reg.get_sample_value("stream_al_partitions_stalled") == 1
    source.stalls = 0  # it moved again, or was revoked
    service._gauges_time = 0.0
    service.turn()
    assert reg.get_sample_value("stream_al_partitions_stalled") == 0


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


# -- outages: a topic deleted while serve runs; a stop the broker keeps from finishing ------

NEEDED = serve_topics(KafkaSettings())
PREDICTIONS = KafkaSettings().predictions_topic
EVENTS = KafkaSettings().events_topic


class Cluster:
    """A broker that does not create topics, from which topics are deleted: the catalog
    the topic watch reads."""

    def __init__(self) -> None:
        self.deleted: set[str] = set()
        self.looks = 0
        self.events_id = "id-1"

    def describe(self) -> ClusterTopics:
        self.looks += 1
        existing = frozenset(NEEDED) - self.deleted
        ids = {EVENTS: self.events_id} if EVENTS in existing else {}
        return ClusterTopics(existing, auto_create=False, ids=ids)

    def close(self) -> None:
        pass


class ClusterPublisher(FakePublisher):
    """Its flush waits, as the clients do, while the predictions topic is deleted: until the
    broker away or the flush's ``give_up`` ends the wait."""

    def __init__(self, cluster: Cluster, broker_away: bool = False) -> None:
        super().__init__()
        self.cluster = cluster
        self.broker_away = broker_away

    def flush(
        self, timeout: float | None = 30.0, give_up: Callable[[], bool] | None = None
    ) -> None:
        if self.broker_away or PREDICTIONS in self.cluster.deleted:
            while give_up is not None and not give_up():
                time.sleep(0.01)
            raise BrokerUnavailable("kafka: 10 messages not delivered after 0.5 s")
        super().flush(timeout, give_up)


def _watched(
    source: FakeSource, cluster: Cluster, shutdown_seconds: float = 10.0, **publisher: bool
) -> tuple[Service, MemoryStore]:
    """A service whose topic watch looks at ``cluster`` whenever asked (no pause between
    looks; idle, every 60 s of ``CLOCK``)."""
    service, store = _service(source)
    service.publisher = ClusterPublisher(cluster, **publisher)
    service.loop.predictions = service.publisher.prediction
    service.loop.dead_letters = service.publisher
    check = TopicCheck(NEEDED, "k:9092", service.health, service.metrics, recheck_s=0.0)
    check.verdict(cluster.describe())  # the start-up's look
    cluster.looks = 0
    service.topics = TopicWatch(check, lambda: cluster, idle_recheck_s=60.0, clock=CLOCK)
    service.shutdown_seconds = shutdown_seconds
    return service, store


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = _Clock()


def _missing_gauge(service: Service) -> float | None:
    return service.metrics.registry.get_sample_value("stream_al_topics_missing")


def test_a_topic_deleted_while_serve_runs_holds_the_batch_unready_naming_it_until_it_exists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al.serve")
    source = FakeSource([_events(0, 10), _events(10, 5)])
    cluster = Cluster()
    service, _ = _watched(source, cluster)
    cluster.deleted = {PREDICTIONS}
    seen: list[tuple[bool, str, int, float | None]] = []

    def pause(seconds: float) -> None:  # the loop waits for the topic: what it shows meanwhile
        seen.append(
            (*service.health.readiness(), source.calls.count("poll"), _missing_gauge(service))
        )
        if len(seen) == 3:
            cluster.deleted = set()  # created again

    commit = source.commit

    def commit_then_stop() -> None:
        commit()
        if source.commits == 2:
            service.stop()

    source.commit = commit_then_stop  # type: ignore[method-assign]
    assert service.run(sleep=pause)
    ready, reason, _, gauge = seen[0]
    assert not ready and f"kafka topic {PREDICTIONS} (STREAM_AL_KAFKA__PREDICTIONS_TOPIC)" in reason
    assert f"kafka-topics.sh --bootstrap-server k:9092 --create --topic {PREDICTIONS}" in reason
    assert gauge == 1
    assert {s[2] for s in seen} == {1}  # nothing more polled while the topic was missing
    assert source.commits == 2 and service.loop.learner.n_events == 15  # each decided once
    assert _missing_gauge(service) == 0
    assert "exist now: serve goes on" in caplog.text


def test_a_stop_while_a_topic_is_missing_gives_up_at_once_and_commits_and_checkpoints_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource([_events(0, 10)])
    cluster = Cluster()
    cluster.deleted = {PREDICTIONS}
    service, store = _watched(source, cluster, shutdown_seconds=60.0)
    started = time.monotonic()
    assert not service.run(sleep=lambda seconds: service.stop())
    assert time.monotonic() - started < 5  # nothing to wait for: no minute of retries
    assert source.commits == 0
    assert store.load("r1") is None  # Redis answers, but the learner holds the batch
    [said] = [r.getMessage() for r in caplog.records if "work unfinished" in r.getMessage()]
    assert f"kafka topic {PREDICTIONS}" in said
    assert "10 events polled are not committed" in said and "consumes them again" in said
    assert "the checkpoint is not written" in said


def test_a_batch_a_stop_left_uncommitted_is_counted_and_charged_once_by_the_next_start() -> None:
    # The stop checkpointed the learner that had decided the batch: the next start, restored
    # from it, decided the batch again, each event counted twice and each question charged
    # twice (once in the checkpoint, once as asked by a learner it did not know).
    source = FakeSource([_events(0, 10), _events(10, 10)])
    cluster = Cluster()
    service, store = _watched(source, cluster, shutdown_seconds=60.0)
    service.turn()  # the first batch, committed
    assert service.maybe_checkpoint(force=True)  # as every every_seconds
    first = store.queue_depth()
    cluster.deleted = {PREDICTIONS}
    assert not service.run(sleep=lambda seconds: service.stop())
    assert source.commits == 1 and service.loop.learner.n_events == 20
    asked = store.queue_depth()  # the questions of both batches, each queued once
    assert asked > first > 0  # the second batch's questions wait in the store

    restored = Service.restore_learner(store, "r1", b"k", lambda: pytest.fail("no checkpoint"))
    again, _ = _service(FakeSource([_events(10, 10)]), store)  # the batch consumed again
    again.loop.learner = restored.learner
    again.turn()
    learner = again.loop.learner
    assert learner.n_events == 20
    assert learner.n_queried == store.queue_depth() == asked


def test_a_stop_the_broker_keeps_from_finishing_gives_up_after_shutdown_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource([_events(0, 10)])
    service, store = _watched(source, Cluster(), shutdown_seconds=0.5, broker_away=True)
    service.probe = lambda: "kafka: no connection to any broker"  # so no look at topics
    stopped: list[float] = []

    def signal() -> None:  # from the signals' thread, while the turn's flush waits
        stopped.append(time.monotonic())
        service.stop()

    threading.Timer(0.2, signal).start()
    assert not service.run(sleep=lambda s: None)
    assert 0.5 <= time.monotonic() - stopped[0] < 1.5
    assert source.commits == 0 and store.load("r1") is None
    [said] = [r.getMessage() for r in caplog.records if "work unfinished" in r.getMessage()]
    assert "10 events polled are not committed" in said
    assert "the checkpoint is not written" in said


def test_a_stop_during_a_flush_that_waits_ends_the_wait_at_the_deadline() -> None:
    source = FakeSource([_events(0, 10)])
    service, _ = _watched(source, Cluster(), shutdown_seconds=0.3, broker_away=True)
    service.probe = lambda: "kafka: no connection to any broker"
    service.stop()  # as a signal during the turn's flush: the flush gives up in time
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        service.turn()
    assert time.monotonic() - started < 1.0


def test_the_loop_looks_at_its_topics_between_turns_every_minute_busy_or_idle() -> None:
    # Busy too: an events topic created again is consumed from the old positions until a
    # look sees its new id (the look is one round trip a minute here, not one a batch).
    source = FakeSource([_events(i * 10, 10) for i in range(5)])
    cluster = Cluster()
    service, _ = _watched(source, cluster)
    turns = 0

    def turn_counting_stops() -> None:
        nonlocal turns
        turns += 1
        turn()
        if turns == 3:
            assert cluster.looks == 0  # three batches: the start-up's look is recent
            CLOCK.now += 60.0  # a busy minute later: the watch looks
        if turns == 4:
            assert cluster.looks == 1
        if turns == 5:
            cluster.deleted = {EVENTS}  # the events topic goes: polls bring nothing
        if turns == 8:
            assert cluster.looks == 1  # idle, but the last look is recent
            CLOCK.now += 60.0  # an idle minute later: the watch looks
        if turns == 9:
            assert cluster.looks == 2
            service.stop()

    turn = service.turn
    service.turn = turn_counting_stops  # type: ignore[method-assign]
    assert service.run(sleep=lambda s: None)
    assert f"kafka topic {EVENTS} (STREAM_AL_KAFKA__EVENTS_TOPIC)" in service.health.reason
    assert not service.health.ready


def test_an_events_topic_created_again_is_consumed_from_its_beginning_once_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource([_events(0, 10), _events(10, 10), _events(0, 10)])
    cluster = Cluster()
    service, _ = _watched(source, cluster)
    turns = 0

    def turn_counting_stops() -> None:
        nonlocal turns
        turns += 1
        turn()
        if turns == 1:
            cluster.events_id = "id-2"  # deleted and created again
            CLOCK.now += 60.0  # the look after this turn sees it
        if turns == 3:
            service.stop()

    turn = service.turn
    service.turn = turn_counting_stops  # type: ignore[method-assign]
    assert service.run(sleep=lambda s: None)
    # After the first batch was committed, before the next poll; once.
    assert source.calls[:4] == ["poll", "commit", "rewind", "poll"]
    assert source.calls.count("rewind") == 1
    assert service.topics is not None and service.topics.recreated is None
    [said] = [r.getMessage() for r in caplog.records if "recreated" in r.getMessage()]
    assert said == (
        f"kafka topic {EVENTS} was recreated (topic id id-1, now id-2): serve consumes its "
        "partitions t:0 again from the new topic's beginning (events of it consumed already "
        "are predicted again)"
    )


def test_a_rewind_with_no_partition_held_tries_again_then_gives_up_saying_so(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FakeSource([])
    source.lags = {}  # nothing assigned (a rebalance in progress, or more replicas)
    service, _ = _watched(source, Cluster())
    assert service.topics is not None
    service.topics.recreated = Recreated(EVENTS, "id-1", "id-2")
    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    service.turn()
    now[0] += REWIND_WAIT_S - 1
    service.turn()
    assert service.topics.recreated is not None and "recreated" not in caplog.text
    source.lags = {0: 0}  # assigned now
    service.turn()
    assert service.topics.recreated is None and "partitions t:0 again" in caplog.text
    assert source.calls.count("rewind") == 3

    caplog.clear()
    source.lags = {}
    service.topics.recreated = Recreated(EVENTS, "id-2", "id-3")
    service.turn()
    now[0] += REWIND_WAIT_S
    service.turn()
    assert service.topics.recreated is None
    assert "this replica holds none of its partitions: nothing to consume again" in caplog.text
