"""The confluent-kafka backend without a broker: settings as librdkafka config, the offsets a
commit covers, errors the loop waits out, and a flush that never hides a lost message."""

from __future__ import annotations

import json
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from stream_al.config import KafkaSettings
from stream_al.io.base import TOMBSTONE, Unreadable
from stream_al.runtime.backoff import RECOVERABLE
from tests.deploy_support import need_module

ck = need_module("confluent_kafka")

from stream_al.io import kafka_confluent  # noqa: E402 (after the skip)
from stream_al.io.kafka_confluent import (  # noqa: E402 (after the skip)
    ConfluentError,
    ConfluentEventSource,
    ConfluentFatalError,
    ConfluentPublisher,
    ConfluentTopicCatalog,
    commit_offsets,
)

KafkaError, KafkaException = ck.KafkaError, ck.KafkaException


# -- settings ----------------------------------------------------------------------------


def test_security_settings_become_librdkafka_config() -> None:
    settings = KafkaSettings(
        bootstrap_servers="k1:9093,k2:9093",
        client_id="me",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="pw",
        ssl_cafile="/ca.pem",
        ssl_certfile="/cert.pem",
        ssl_keyfile="/key.pem",
    )
    assert settings.librdkafka_config() == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "client.id": "me",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "u",
        "sasl.password": "pw",
        "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/cert.pem",
        "ssl.key.location": "/key.pem",
    }
    plain = KafkaSettings().librdkafka_config()
    assert plain == {
        "bootstrap.servers": "127.0.0.1:9092",
        "client.id": "stream-al",
        "security.protocol": "plaintext",
    }


def test_librdkafka_accepts_the_translated_names() -> None:
    settings = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="u",
        sasl_password="pw",
    )
    # Unknown names or values raise here (nothing connects before the first request).
    ck.Producer({**settings.librdkafka_config(), "logger": _Silent()})


class _Silent:
    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_the_backend_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_al.config import load_settings
    from stream_al.io.backends import kafka_backend

    assert load_settings().kafka.backend == "kafka-python"
    assert kafka_backend(load_settings().kafka).name == "kafka-python"
    monkeypatch.setenv("STREAM_AL_KAFKA__BACKEND", "confluent")
    chosen = kafka_backend(load_settings().kafka)
    assert chosen.source is ConfluentEventSource and chosen.publisher is ConfluentPublisher
    assert chosen.topics is ConfluentTopicCatalog
    assert ConfluentFatalError in chosen.fatal
    monkeypatch.setenv("STREAM_AL_KAFKA__BACKEND", "rdkafka")
    with pytest.raises(ValueError, match="STREAM_AL_KAFKA__BACKEND"):
        load_settings()


def test_confluent_without_the_package_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stream_al.io
    from stream_al.errors import ConfigurationError
    from stream_al.io.backends import kafka_backend

    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails
    monkeypatch.delitem(sys.modules, "stream_al.io.kafka_confluent")
    monkeypatch.delattr(stream_al.io, "kafka_confluent")
    # stream-al is not on the package index: the install is from a checkout
    with pytest.raises(ConfigurationError, match=r"pip install -e '\.\[fast\]'"):
        kafka_backend(KafkaSettings(backend="confluent"))
    assert kafka_backend(KafkaSettings()).name == "kafka-python"


def test_librdkafka_errors_are_waited_out_by_the_loop() -> None:
    assert issubclass(ConfluentError, RECOVERABLE)
    assert not issubclass(ConfluentFatalError, RECOVERABLE)


# -- the event source --------------------------------------------------------------------


class FakeMessage:
    def __init__(
        self,
        topic: str = "ev",
        partition: int = 0,
        offset: int = 0,
        value: bytes | None = b"{}",
        error: Any = None,
        key: bytes | None = None,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._error, self._key = value, error, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self) -> Any:
        return self._error


class FakeConsumer:
    def __init__(self, batches: list[list[FakeMessage]]) -> None:
        self.batches = batches
        self.commits: list[list[tuple[str, int, int]]] = []
        self.commit_error: Exception | None = None
        self.consumed: list[tuple[int, float]] = []
        self.callbacks: dict[str, Any] = {}
        self.positions: dict[tuple[str, int], int] = {}
        self.high: dict[tuple[str, int], int] = {}
        self.committed_at: dict[int, int] = {}
        self.committed_asked: list[list[int]] = []  # the partitions of each committed()
        # per consume() call, the rebalance callbacks it serves before its messages return
        self.during_consume: list[list[tuple[str, list[Any]]]] = []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics
        self.callbacks = callbacks

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        self.consumed.append((num_messages, timeout))
        for event, partitions in self.during_consume.pop(0) if self.during_consume else []:
            self.callbacks[event](self, partitions)  # librdkafka serves rebalances in here
        return self.batches.pop(0) if self.batches else []

    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> list[Any]:
        assert asynchronous is False
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append([(t.topic, t.partition, t.offset) for t in offsets])
        return offsets

    def assignment(self) -> list[Any]:
        return [ck.TopicPartition(t, p) for t, p in self.positions]

    def position(self, partitions: list[Any]) -> list[Any]:
        return [
            ck.TopicPartition(t.topic, t.partition, self.positions[(t.topic, t.partition)])
            for t in partitions
        ]

    def get_watermark_offsets(self, tp: Any, timeout: float = -1, cached: bool = False) -> Any:
        assert cached  # never a request to the broker
        return (0, self.high.get((tp.topic, tp.partition), -1001))

    def seek(self, tp: Any) -> None:
        self.positions[(tp.topic, tp.partition)] = tp.offset

    def committed(self, partitions: list[Any], timeout: float = -1) -> list[Any]:
        self.committed_asked.append(sorted(t.partition for t in partitions))
        return [
            ck.TopicPartition(t.topic, t.partition, self.committed_at.get(t.partition, -1001))
            for t in partitions
        ]

    def close(self) -> None:
        self.closed = True


def _source(batches: list[list[FakeMessage]], **settings: Any) -> ConfluentEventSource:
    defaults: dict[str, Any] = {"events_topic": "ev", "max_poll_records": 7, "poll_timeout_ms": 250}
    return ConfluentEventSource(KafkaSettings(**{**defaults, **settings}), FakeConsumer(batches))


def _consumer(source: ConfluentEventSource) -> FakeConsumer:
    assert isinstance(source.consumer, FakeConsumer)
    return source.consumer


def test_poll_gives_origins_and_values_and_reads_the_batch_settings() -> None:
    source = _source([[FakeMessage(offset=4), FakeMessage("ev", 1, 9, None)]])
    assert _consumer(source).topics == ["ev"]
    assert source.poll() == [("ev:0:4", b"{}"), ("ev:1:9", TOMBSTONE)]  # no value: a delete
    assert _consumer(source).consumed == [(7, 0.25)]


def test_commit_covers_exactly_the_messages_polled_since_the_last_commit() -> None:
    source = _source(
        [
            [FakeMessage(offset=o) for o in (3, 4, 5)] + [FakeMessage(partition=2, offset=10)],
            [FakeMessage(offset=6)],
        ]
    )
    consumer = _consumer(source)
    source.commit()  # nothing polled yet: no commit, no error
    assert consumer.commits == []
    source.poll()
    assert commit_offsets(source.pending)[0].offset == 6
    source.commit()
    assert consumer.commits == [[("ev", 0, 6), ("ev", 2, 11)]]
    source.commit()  # nothing new
    assert source.poll() == [("ev:0:6", b"{}")]
    assert source.poll() == []  # an empty batch changes nothing
    source.commit()
    assert consumer.commits[-1] == [("ev", 0, 7)]
    assert len(consumer.commits) == 2


def test_partition_eof_is_no_error() -> None:
    eof = KafkaError(KafkaError._PARTITION_EOF)
    source = _source([[FakeMessage(offset=1), FakeMessage(error=eof)], [FakeMessage(error=eof)]])
    assert source.poll() == [("ev:0:1", b"{}")]
    assert source.poll() == []
    assert source.poll() == []


def test_a_consumer_error_raises_recoverably_after_the_messages_beside_it() -> None:
    err = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
    source = _source([[FakeMessage(error=err)], [FakeMessage(offset=2), FakeMessage(error=err)]])
    with pytest.raises(ConfluentError, match="UNKNOWN_TOPIC_OR_PART"):
        source.poll()
    # The message handed out with the error is processed first (dropping it would let a
    # later commit skip it); the error comes at the next poll.
    assert source.poll() == [("ev:0:2", b"{}")]
    with pytest.raises(RECOVERABLE):
        source.poll()
    assert source.pending == {("ev", 0): 3}


def test_a_batch_librdkafka_cannot_decompress_is_unreadable_and_skipped_event_by_event() -> None:
    # librdkafka names the batch's first offset (3) and fetches the batch again at every
    # offset inside it; it was raised as an error to wait out, the partition stalled.
    bad = KafkaError(KafkaError._BAD_COMPRESSION, "Decompression (codec 0x4) failed")
    source = _source(
        [
            [FakeMessage(offset=2), FakeMessage(offset=3, error=bad)],
            [FakeMessage(offset=3, error=bad)],
        ]
    )
    consumer = _consumer(source)
    [good, (origin, unread)] = source.poll()
    assert good == ("ev:0:2", b"{}") and origin == "ev:0:3"
    assert isinstance(unread, Unreadable) and "codec 0x4" in unread.reason
    assert "more than 100,000,000 bytes" in unread.reason
    assert consumer.positions[("ev", 0)] == 4 and source.pending == {("ev", 0): 4}
    [(origin, unread)] = source.poll()  # the same batch, fetched at offset 4
    assert origin == "ev:0:4" and isinstance(unread, Unreadable)
    assert consumer.positions[("ev", 0)] == 5 and source.pending == {("ev", 0): 5}


def test_a_fatal_consumer_error_stops_serve() -> None:
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    source = _source([[FakeMessage(error=fatal)]])
    with pytest.raises(ConfluentFatalError):
        source.poll()


def test_a_failed_commit_keeps_its_offsets_for_the_retry() -> None:
    source = _source([[FakeMessage(offset=0)]])
    consumer = _consumer(source)
    source.poll()
    consumer.commit_error = KafkaException(KafkaError(KafkaError._WAIT_COORD))
    with pytest.raises(ConfluentError, match="_WAIT_COORD"):
        source.commit()
    consumer.commit_error = None
    source.commit()
    assert consumer.commits == [[("ev", 0, 1)]]


@pytest.mark.parametrize("code", ["UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION"])
def test_a_commit_refused_by_a_group_that_moved_on_drops_the_offsets(code: str) -> None:
    source = _source([[FakeMessage(offset=0)]])
    consumer = _consumer(source)
    source.poll()
    consumer.commit_error = KafkaException(KafkaError(getattr(KafkaError, code)))
    source.commit()  # no error: the batch is consumed again after the rejoin
    assert source.pending == {} and consumer.commits == []


def test_revoked_partitions_are_not_committed() -> None:
    source = _source([[FakeMessage(offset=0), FakeMessage(partition=1, offset=5)]])
    consumer = _consumer(source)
    source.poll()
    consumer.callbacks["on_revoke"](consumer, [ck.TopicPartition("ev", 1)])
    source.commit()
    assert consumer.commits == [[("ev", 0, 1)]]


def test_a_rewind_seeks_the_assigned_partitions_to_their_beginning_dropping_old_offsets() -> None:
    source = _source([[FakeMessage("ev", 1, 40)]])
    _consumer(source).positions = {("ev", 1): 41, ("ev", 0): 7}
    source.poll()  # not committed (cannot happen between turns): not committed after either
    assert source.rewind() == ["ev:0", "ev:1"]
    assert _consumer(source).positions == {("ev", 1): ck.OFFSET_BEGINNING, ("ev", 0): -2}
    source.commit()
    assert _consumer(source).commits == []


def test_messages_of_a_partition_revoked_within_their_consume_are_not_committed() -> None:
    # librdkafka can return messages fetched before a rebalance it served in the same
    # consume() (a session timed out): they are processed, never committed by this member.
    source = _source([[FakeMessage(offset=3), FakeMessage(partition=1, offset=5)]] * 3)
    consumer = _consumer(source)
    lost = [ck.TopicPartition("ev", 1)]
    consumer.during_consume = [
        [("on_lost", lost)],
        [("on_assign", lost)],
        [("on_revoke", lost), ("on_assign", lost)],
    ]
    assert [origin for origin, _ in source.poll()] == ["ev:0:3", "ev:1:5"]
    source.commit()
    assert consumer.commits == [[("ev", 0, 4)]]
    source.poll()  # assigned again in the next consume
    source.commit()
    source.poll()  # revoked and assigned again within one consume: still ours
    source.commit()
    assert consumer.commits[1:] == [[("ev", 0, 4), ("ev", 1, 6)]] * 2


def test_lag_comes_from_cached_watermarks_and_local_positions() -> None:
    source = _source([])
    consumer = _consumer(source)
    consumer.positions = {("ev", 0): 40, ("ev", 1): -1001, ("ev", 2): 7}
    consumer.high = {("ev", 0): 100, ("ev", 1): 50}
    assert source.lag() == {0: 60}  # 1: nothing consumed yet; 2: no watermark yet


def test_a_partition_that_never_handed_out_a_message_stands_where_librdkafka_fetches() -> None:
    """A partition librdkafka cannot serve from its committed offset (a record batch larger
    than it takes, a damaged one) hands out nothing, so it has no position: the offset its
    statistics say it fetches stands in, for its lag and its stall. Before, it was left
    out of both, and its stall was never said."""
    source = _source([])
    consumer = _consumer(source)
    consumer.positions = {("ev", 0): -1001, ("ev", 1): 4}
    consumer.high = {("ev", 0): 21, ("ev", 1): 4}
    assert source.lag() == {1: 0}
    fetching = {"0": {"next_offset": 10}, "1": {"next_offset": 4}, "-1": {"next_offset": 0}}
    source._stats(json.dumps({"topics": {"ev": {"partitions": fetching}}}))
    now = [0.0]
    source.stalled_partitions.clock = lambda: now[0]
    assert source.lag() == {0: 11, 1: 0}
    for _ in range(10):
        source.poll()
    now[0] = 31.0
    assert source.lag() == {0: 11, 1: 0}
    assert source.stalled() == 1


def test_a_partition_sought_past_a_corrupt_event_lags_from_there_not_from_the_fetch() -> None:
    # A seek unsets librdkafka's position; a reset of its own after it moved the fetch to
    # the end: the lag said 0, the events after the corrupt batch unread.
    source = _source([[_crc_failed(2)]])
    consumer = _consumer(source)
    consumer.high = {("ev", 0): 8}
    source.poll()
    consumer.positions[("ev", 0)], source.fetching[("ev", 0)] = -1001, 8
    assert source.lag() == {0: 5}


def test_polls_that_are_not_made_stall_nothing() -> None:
    source = _source([])
    consumer = _consumer(source)
    consumer.positions = {("ev", 0): 10}
    consumer.high = {("ev", 0): 21}
    now = [0.0]
    source.stalled_partitions.clock = lambda: now[0]
    source.lag()
    now[0] = 600.0  # serve waited on Redis meanwhile, say
    source.lag()
    assert source.stalled() == 0


def _stats(*sources: str) -> str:
    """A statistics report whose broker handles have these sources (librdkafka's words)."""
    brokers = {
        f"b{i}": {"name": f"b{i}", "nodeid": 1 if src == "learned" else -1, "source": src}
        for i, src in enumerate(sources)
    }
    for broker in brokers.values():
        broker["state"] = "UP"
    return json.dumps({"brokers": brokers})


class MadeConsumer(FakeConsumer):
    """A consumer the source makes itself (from its librdkafka config)."""

    made: ClassVar[list[MadeConsumer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__([])
        self.config = config
        self.closed = False
        self.closing = threading.Event()
        MadeConsumer.made.append(self)

    def close(self) -> None:
        super().close()
        self.closing.set()

    def list_topics(self, timeout: float = -1) -> None:
        """The start's check that the cluster answers."""


def _made_source(
    monkeypatch: pytest.MonkeyPatch, kind: type[MadeConsumer] = MadeConsumer
) -> ConfluentEventSource:
    MadeConsumer.made = []
    monkeypatch.setattr(kafka_confluent, "Consumer", kind)
    return ConfluentEventSource(KafkaSettings(events_topic="ev"), compacted=False)


def test_a_consumer_librdkafka_left_without_a_broker_is_replaced_at_the_next_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = _made_source(monkeypatch)
    [first] = MadeConsumer.made
    first.batches = [[FakeMessage(offset=4)]]
    assert source.poll() == [("ev:0:4", b"{}")]
    first.config["stats_cb"](_stats("learned", "logical"))
    assert not source.orphaned and source.unavailable() is None
    # A fenced broker's answer took the last broker: only the coordinator's handle is left.
    first.config["stats_cb"](_stats("logical"))
    assert source.orphaned and source.unavailable() == "kafka: no broker connection is up"
    source.poll()
    [_, second] = MadeConsumer.made
    assert first.closing.wait(5) and not second.closed and source.consumer is second
    assert second.topics == ["ev"] and set(second.callbacks) == {
        "on_assign",
        "on_revoke",
        "on_lost",
    }
    assert second.consumed and not source.pending  # the old member's offsets: dropped
    assert source.unavailable() == "kafka: no broker connection is up"  # until it has one
    second.config["stats_cb"](_stats("learned", "logical"))
    assert source.unavailable() is None


def test_a_consumer_left_without_a_broker_commits_nothing_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = _made_source(monkeypatch)
    [first] = MadeConsumer.made
    first.batches = [[FakeMessage(offset=4)]]
    source.poll()
    first.config["stats_cb"](_stats())  # no broker at all
    source.commit()  # no coordinator to commit to: the batch is consumed again
    assert first.commits == [] and not source.pending
    assert len(MadeConsumer.made) == 2 and source.consumer is MadeConsumer.made[1]


class UnansweredConsumer(MadeConsumer):
    """A consumer whose commits wait until ``answer`` is set, as librdkafka's synchronous
    commit waits for a coordinator (for ever, once: see ``_Commit``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.answer = threading.Event()
        self.asked = 0
        self.in_commit = threading.Event()

    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> list[Any]:
        self.asked += 1
        self.in_commit.set()
        self.answer.wait(30)
        return super().commit(offsets=offsets, asynchronous=asynchronous)

    def close(self) -> None:
        assert self.answer.is_set(), "closed under a commit librdkafka has not answered"
        super().close()


def _unanswered(
    monkeypatch: pytest.MonkeyPatch, stuck_s: float
) -> tuple[ConfluentEventSource, UnansweredConsumer]:
    MadeConsumer.made = []
    monkeypatch.setattr(kafka_confluent, "Consumer", UnansweredConsumer)
    monkeypatch.setattr(kafka_confluent, "COMMIT_TIMEOUT_S", 0.01)
    monkeypatch.setattr(kafka_confluent, "COMMIT_STUCK_S", stuck_s)
    source = ConfluentEventSource(KafkaSettings(events_topic="ev"), compacted=False)
    first = MadeConsumer.made[0]
    assert isinstance(first, UnansweredConsumer)
    first.batches = [[FakeMessage(offset=4)]]
    source.poll()
    return source, first


def test_a_commit_not_answered_is_waited_for_without_blocking_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _unanswered(monkeypatch, stuck_s=3600.0)
    for _ in range(2):  # before, the first call waited for the answer, for ever if need be
        with pytest.raises(ConfluentError, match="no answer from the group coordinator"):
            source.commit()
    assert first.in_commit.wait(5)
    assert first.asked == 1 and source.pending  # the same commit, waited for again
    first.answer.set()
    monkeypatch.setattr(kafka_confluent, "COMMIT_TIMEOUT_S", 5.0)  # the answer comes now
    source.commit()
    assert first.asked == 1 and first.commits == [[("ev", 0, 5)]] and not source.pending
    assert len(MadeConsumer.made) == 1


def test_a_commit_unanswered_too_long_is_given_up_with_its_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _unanswered(monkeypatch, stuck_s=0.0)
    source.commit()  # given up: the batch is consumed again by a new member of the group
    [_, second] = MadeConsumer.made
    assert source.consumer is second and not source.pending and second.topics == ["ev"]
    assert not first.closed  # librdkafka is still in its commit: not freed under it
    first.answer.set()
    assert first.closing.wait(5)  # closed once the commit returned


def _waiting_for_a_coordinator(
    monkeypatch: pytest.MonkeyPatch, stuck_s: float, kind: type[MadeConsumer] = MadeConsumer
) -> tuple[ConfluentEventSource, MadeConsumer]:
    monkeypatch.setattr(kafka_confluent, "COMMIT_STUCK_S", stuck_s)
    source = _made_source(monkeypatch, kind)
    [first] = MadeConsumer.made
    first.batches = [[FakeMessage(offset=4)]]
    source.poll()
    first.commit_error = KafkaException(KafkaError(KafkaError._WAIT_COORD))
    return source, first


def test_a_commit_refused_while_a_coordinator_is_looked_up_is_retried_by_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _waiting_for_a_coordinator(monkeypatch, stuck_s=3600.0)
    for _ in range(3):
        with pytest.raises(ConfluentError, match="_WAIT_COORD"):
            source.commit()
    first.commit_error = None
    source.commit()
    assert first.commits == [[("ev", 0, 5)]] and len(MadeConsumer.made) == 1


def test_a_commit_refused_for_too_long_is_given_up_with_its_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A broker restart under load once left librdkafka answering "waiting for coordinator"
    # for minutes: each commit returned, so no single one was unanswered for long.
    source, first = _waiting_for_a_coordinator(monkeypatch, stuck_s=0.0)
    source.commit()
    [_, second] = MadeConsumer.made
    assert first.closing.wait(5) and source.consumer is second and second.topics == ["ev"]
    assert first.commits == [] and not source.pending  # consumed again by the new member


class WedgedConsumer(MadeConsumer):
    """A consumer whose close waits until ``released``, as librdkafka's waits for a
    coordinator lookup that never resolves (its issue 3740)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.released = threading.Event()

    def close(self) -> None:
        self.released.wait(30)
        super().close()


def test_a_consumer_replaced_is_closed_aside_so_a_close_that_hangs_holds_up_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _waiting_for_a_coordinator(monkeypatch, 0.0, WedgedConsumer)
    assert isinstance(first, WedgedConsumer)
    source.commit()  # returns, the old consumer's close still waiting
    [_, second] = MadeConsumer.made
    assert source.consumer is second and not first.closed
    first.released.set()
    assert first.closing.wait(5)


def test_the_time_a_commit_has_failed_restarts_with_each_batch_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _waiting_for_a_coordinator(monkeypatch, stuck_s=3600.0)
    with pytest.raises(ConfluentError):
        source.commit()
    first.commit_error = None
    source.commit()
    monkeypatch.setattr(kafka_confluent, "COMMIT_STUCK_S", 0.5)
    first.batches = [[FakeMessage(offset=5)]]
    source.poll()
    first.commit_error = KafkaException(KafkaError(KafkaError._WAIT_COORD))
    with pytest.raises(ConfluentError):  # failing since now, not since the first batch's
        source.commit()
    assert len(MadeConsumer.made) == 1


def test_a_source_closed_during_an_unanswered_commit_closes_its_consumer_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, first = _unanswered(monkeypatch, stuck_s=3600.0)
    with pytest.raises(ConfluentError):
        source.commit()
    source.close()  # serve's shutdown gave up on the commit
    assert not first.closed
    first.answer.set()
    assert first.closing.wait(5)


def test_a_consumer_given_is_never_replaced() -> None:
    source = _source([])
    source._stats(_stats())
    assert not source.orphaned


# -- the publisher -----------------------------------------------------------------------


class FakeProducer:
    """Queues messages; delivers them on poll/flush, failing those whose value is in
    ``fail`` (once each); ``full`` makes produce raise BufferError that many times."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, bytes | None, bytes, Any]] = []
        self.delivered: list[tuple[str, bytes | None, bytes]] = []
        self.fail: set[bytes] = set()
        self.full = 0
        self.stuck = False
        self.polls: list[float] = []

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, on_delivery: Any = None
    ) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("queue full")
        self.queue.append((topic, key, value, on_delivery))

    def _deliver(self) -> None:
        if self.stuck:
            return
        queue, self.queue = self.queue, []
        for topic, key, value, callback in queue:
            message = FakeMessage(topic, 0, 0, value, key=key)
            if value in self.fail:
                self.fail.discard(value)
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), message)
            else:
                self.delivered.append((topic, key, value))
                callback(None, message)

    def poll(self, timeout: float = -1) -> int:
        self.polls.append(timeout)
        self._deliver()
        return 0

    def flush(self, timeout: float = -1) -> int:
        self._deliver()
        return len(self.queue)


def _publisher(**settings: Any) -> tuple[ConfluentPublisher, FakeProducer]:
    producer = FakeProducer()
    defaults = {"predictions_topic": "pred", "dead_letter_topic": "dlq"}
    return ConfluentPublisher(KafkaSettings(**{**defaults, **settings}), producer), producer


def test_predictions_and_dead_letters_go_to_their_topics() -> None:
    publisher, producer = _publisher()
    publisher.prediction("id-1", '{"p": 1}')
    publisher.send('{"dead": 1}')
    publisher.flush()
    assert producer.delivered == [("pred", b"id-1", b'{"p": 1}'), ("dlq", None, b'{"dead": 1}')]
    assert 0 in producer.polls  # delivery callbacks are served as messages go out
    quiet, producer = _publisher(predictions_topic="")
    quiet.prediction("id-1", "{}")
    assert producer.queue == []


def test_flush_raises_when_a_delivery_failed_and_the_next_flush_sends_it_again() -> None:
    publisher, producer = _publisher()
    producer.stuck = True  # nothing delivered before the flush
    producer.fail = {b"b"}
    for value in ("a", "b", "c"):
        publisher.prediction(value, value)
    producer.stuck = False
    with pytest.raises(ConfluentError, match="1 messages not delivered"):
        publisher.flush()  # the loop must not commit this batch
    assert [v for _, _, v in producer.delivered] == [b"a", b"c"]
    publisher.flush()  # the retry of the turn: b is sent again, delivered, no error
    assert [v for _, _, v in producer.delivered] == [b"a", b"c", b"b"]
    publisher.flush()  # nothing pending: nothing sent twice
    assert len(producer.delivered) == 3


def test_a_failure_reported_while_producing_also_fails_the_flush() -> None:
    publisher, producer = _publisher()
    producer.fail = {b"x"}
    publisher.send("x")  # poll(0) after produce: the callback reports the failure now
    assert publisher.failed == [("dlq", None, b"x")]
    publisher.flush()  # re-sent before the flush waits: delivered, so no error
    assert producer.delivered == [("dlq", None, b"x")]


def test_flush_raises_while_messages_are_still_undelivered() -> None:
    publisher, producer = _publisher()
    producer.stuck = True
    publisher.prediction("k", "v")
    with pytest.raises(ConfluentError, match=r"1 messages not delivered after 0\.5 s"):
        publisher.flush(0.5)
    producer.stuck = False
    publisher.flush()
    assert producer.delivered == [("pred", b"k", b"v")]


def test_a_full_queue_is_waited_out() -> None:
    publisher, producer = _publisher()
    producer.full = 2
    publisher.prediction("k", "v")
    assert producer.polls[:2] == [0.1, 0.1]
    publisher.flush()
    assert producer.delivered == [("pred", b"k", b"v")]


def test_a_fatal_producer_error_stops_serve() -> None:
    publisher, _ = _publisher()
    publisher.errors(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    with pytest.raises(ConfluentFatalError):
        publisher.flush()


class MadeProducer(FakeProducer):
    """A producer the publisher makes itself (from its librdkafka config)."""

    made: ClassVar[list[MadeProducer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.purged = False
        MadeProducer.made.append(self)

    def list_topics(self, timeout: float = -1) -> None:
        """The start's check that the cluster answers."""

    def purge(self) -> None:
        self.purged = True
        queue, self.queue = self.queue, []
        for topic, key, value, callback in queue:
            callback(KafkaError(KafkaError._PURGE_QUEUE), FakeMessage(topic, 0, 0, value, key=key))


def _stuck_publisher(monkeypatch: pytest.MonkeyPatch) -> tuple[ConfluentPublisher, MadeProducer]:
    """A publisher whose producer has no broker (nothing goes out), one prediction sent."""
    MadeProducer.made = []
    monkeypatch.setattr(kafka_confluent, "Producer", MadeProducer)
    publisher = ConfluentPublisher(KafkaSettings(predictions_topic="pred"))
    [first] = MadeProducer.made
    first.stuck = True
    publisher.prediction("k", "v")
    return publisher, first


def test_a_producer_librdkafka_left_without_a_broker_is_replaced_and_its_messages_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, first = _stuck_publisher(monkeypatch)
    first.config["stats_cb"](_stats())
    publisher.flush()
    [_, second] = MadeProducer.made
    assert first.purged and publisher.producer is second and not publisher.orphaned
    assert second.delivered == [("pred", b"k", b"v")] and not publisher.failed


def test_a_flush_stops_waiting_once_the_producer_has_no_broker_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, first = _stuck_publisher(monkeypatch)
    flush = first.flush

    def flush_left_without_a_broker(timeout: float = -1) -> int:
        first.config["stats_cb"](_stats())  # reported while the flush waits
        return flush(timeout)

    first.flush = flush_left_without_a_broker  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(ConfluentError, match="no broker left"):
        publisher.flush(timeout=30)
    assert time.monotonic() - started < 5
    publisher.flush()  # the retry: a new producer sends it
    assert MadeProducer.made[1].delivered == [("pred", b"k", b"v")]


# -- the topic catalog -------------------------------------------------------------------


class FakeFuture:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def result(self, timeout: float | None = None) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class FakeAdmin:
    """What the catalog asks of librdkafka's admin client."""

    def __init__(self, configs: Any, topics: tuple[str, ...] | BaseException = ("a",)) -> None:
        self.configs = configs
        self.topics = topics
        self.asked: list[Any] = []

    def list_topics(self, timeout: float = -1) -> Any:
        if isinstance(self.topics, BaseException):
            raise self.topics
        return SimpleNamespace(topics=dict.fromkeys(self.topics), brokers={2: None, 1: None})

    def describe_configs(self, resources: list[Any], request_timeout: float = -1) -> Any:
        self.asked.extend(resources)
        return {resources[0]: FakeFuture(self.configs)}

    def describe_topics(self, topics: Any, request_timeout: float = -1) -> Any:
        [topic] = topics.topic_names
        self.asked.append(topic)
        return {topic: FakeFuture(self.described)}

    described: Any = SimpleNamespace(topic_id=ck.Uuid(4896607156153764915, -5573213021306451187))


def _entry(value: str) -> dict[str, Any]:
    return {"auto.create.topics.enable": SimpleNamespace(value=value)}


@pytest.mark.parametrize("value", ["true", "false"])
def test_the_catalog_reads_the_topics_and_the_brokers_auto_creation(value: str) -> None:
    admin = FakeAdmin(_entry(value), ("events", "dlq"))
    found = ConfluentTopicCatalog(KafkaSettings(), admin=admin).describe()
    assert found.existing == {"events", "dlq"}
    assert found.auto_create is (value == "true") and found.unread == ""
    [asked] = admin.asked
    assert (asked.restype, asked.name) == (ck.admin.ResourceType.BROKER, "1")


def test_the_catalog_reads_the_events_topics_id_in_kafkas_own_form() -> None:
    admin = FakeAdmin(_entry("true"), ("ev", "dlq"))
    found = ConfluentTopicCatalog(KafkaSettings(events_topic="ev"), admin=admin).describe()
    assert found.ids == {"ev": "Q_Q-Q-MuTDOyp_hJB3KLDQ"}  # as kafka-topics.sh prints it
    assert "ev" in admin.asked
    absent = FakeAdmin(_entry("true"), ("dlq",))  # not described: describe-topics creates none
    found = ConfluentTopicCatalog(KafkaSettings(events_topic="ev"), admin=absent).describe()
    assert found.ids == {}
    assert "ev" not in absent.asked


@pytest.mark.parametrize(
    "outcome", [KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.TOPIC_AUTHORIZATION_FAILED, None]
)
def test_an_events_topic_without_an_id_to_read_gives_none(outcome: Any) -> None:
    # Deleted since the listing, not to be described, or a broker before Kafka 2.8.
    admin = FakeAdmin(_entry("true"), ("ev",))
    admin.described = (
        KafkaException(KafkaError(outcome))
        if outcome is not None
        else SimpleNamespace(topic_id=ck.Uuid(0, 0))
    )
    found = ConfluentTopicCatalog(KafkaSettings(events_topic="ev"), admin=admin).describe()
    assert found.ids == {} and found.existing == {"ev"}


def test_a_broker_away_while_the_topic_is_described_is_waited_out() -> None:
    admin = FakeAdmin(_entry("true"), ("ev",))
    admin.described = KafkaException(KafkaError(KafkaError._TRANSPORT))
    with pytest.raises(ConfluentError):
        ConfluentTopicCatalog(KafkaSettings(events_topic="ev"), admin=admin).describe()


def test_a_configuration_the_client_may_not_read_is_unknown_with_the_reason() -> None:
    refused = KafkaException(KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED))
    found = ConfluentTopicCatalog(KafkaSettings(), admin=FakeAdmin(refused)).describe()
    assert found.auto_create is None and "CLUSTER_AUTHORIZATION_FAILED" in found.unread


@pytest.mark.parametrize("where", ["list", "describe"])
def test_a_broker_away_during_the_catalogs_requests_is_waited_out(where: str) -> None:
    away = KafkaException(KafkaError(KafkaError._TRANSPORT))
    admin = FakeAdmin(_entry("false"), topics=away) if where == "list" else FakeAdmin(away)
    with pytest.raises(ConfluentError):
        ConfluentTopicCatalog(KafkaSettings(), admin=admin).describe()


def test_a_flush_waits_in_slices_and_gives_up_when_asked() -> None:
    publisher, producer = _publisher()
    producer.stuck = True
    publisher.prediction("k", "v")
    asked: list[int] = []
    with pytest.raises(ConfluentError, match="1 messages not delivered after"):
        publisher.flush(give_up=lambda: asked.append(1) or len(asked) == 3)
    assert len(asked) == 3  # asked between slices, long before the 30 s timeout
    producer.stuck = False
    publisher.flush()
    assert producer.delivered == [("pred", b"k", b"v")]


def test_a_queue_that_stays_full_fails_the_send_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_confluent, "SEND_BLOCK_S", 0.3)
    publisher, producer = _publisher()
    producer.full = 10**9  # the broker away: nothing leaves the local queue
    started = time.monotonic()
    with pytest.raises(ConfluentError, match="local queue stayed full"):
        publisher.prediction("k", "v")
    assert time.monotonic() - started < 2.0


def _crc_failed(offset: int) -> FakeMessage:
    """librdkafka's error for a record batch at ``offset`` whose CRC-32C check failed."""
    text = f"MessageSet at offset {offset} (709 bytes) failed CRC32C check (original 0x1 != 0x2)"
    return FakeMessage(offset=offset, error=KafkaError(KafkaError._BAD_MSG, text))


def test_a_corrupt_batch_is_dead_lettered_event_by_event_and_librdkafkas_detours_undone() -> None:
    # What librdkafka 2.16 gave on the real broker (tests/integration/test_corrupt_batches.py):
    # the CRC error naming the batch's first offset, then an error of the bytes it misread
    # inside it, and later, from the reset its misreading caused, the partition's first
    # events again and the same batch's error after serve had gone past it.
    misread = KafkaError(KafkaError._NOT_IMPLEMENTED, "Unsupported Message(Set) MagicByte 104")
    astray = FakeMessage(offset=3471184745229072928, error=misread)
    source = _source(
        [
            [FakeMessage(offset=0), FakeMessage(offset=1), _crc_failed(2), astray],
            [_crc_failed(2)],  # fetched at 3: still the corrupt batch
            [FakeMessage(offset=0), FakeMessage(offset=1), _crc_failed(2)],  # reset: earliest
            [_crc_failed(2)],  # fetched at 4
            [FakeMessage(offset=5), FakeMessage(offset=6)],  # past the batch
            [_crc_failed(2)],  # a late one of the batch gone past
            [FakeMessage(offset=0), FakeMessage(offset=7)],  # a late reset
            [FakeMessage(offset=7)],
        ]
    )
    consumer = _consumer(source)
    good, also, (origin, unread) = source.poll()
    assert (good[0], also[0], origin) == ("ev:0:0", "ev:0:1", "ev:0:2")
    assert isinstance(unread, Unreadable)
    assert unread.reason.startswith("the event at offset 2 is in a corrupt record batch (at")
    assert "CRC mismatch" in unread.reason and "failed CRC32C check" in unread.reason
    assert consumer.positions[("ev", 0)] == 3 and source.pending == {("ev", 0): 3}
    assert [origin for origin, _ in source.poll()] == ["ev:0:3"]
    assert source.poll() == []  # offsets handed out already: dropped, sought back
    assert consumer.positions[("ev", 0)] == 4
    assert [origin for origin, _ in source.poll()] == ["ev:0:4"]
    assert [origin for origin, _ in source.poll()] == ["ev:0:5", "ev:0:6"]
    assert source.poll() == [] and consumer.positions[("ev", 0)] == 7
    assert source.poll() == [] and consumer.positions[("ev", 0)] == 7
    assert source.poll() == [("ev:0:7", b"{}")]
    assert source.pending == {("ev", 0): 8}


def test_a_jump_to_the_end_after_a_corrupt_batch_is_undone() -> None:
    # auto.offset.reset=latest: librdkafka's reset jumps to the partition's end (8 here),
    # past the events after the corrupt batch.
    source = _source([[_crc_failed(2)], [FakeMessage(offset=8)], [FakeMessage(offset=3)]])
    consumer = _consumer(source)
    consumer.high[("ev", 0)] = 8
    assert [origin for origin, _ in source.poll()] == ["ev:0:2"]
    assert source.poll() == [] and consumer.positions[("ev", 0)] == 3
    assert source.poll() == [("ev:0:3", b"{}")]


def test_a_jump_to_the_end_with_no_event_after_it_is_undone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same reset on a partition no event comes to after it: no message tells of it,
    # only the fetch position librdkafka reports (CI: events after the batch left unread).
    monkeypatch.setattr(kafka_confluent, "STRANDED_S", 0.0)
    source = _source([[_crc_failed(2)], [], [], [], [], [FakeMessage(offset=3)]])
    consumer = _consumer(source)
    assert [origin for origin, _ in source.poll()] == ["ev:0:2"]
    consumer.positions[("ev", 0)] = source.fetching[("ev", 0)] = 8  # the reset, as reported
    assert [source.poll() for _ in range(3)] == [[], [], []]
    assert consumer.positions[("ev", 0)] == 8  # standing still for too few polls yet
    assert source.poll() == [] and consumer.positions[("ev", 0)] == 3
    assert source.poll() == [("ev:0:3", b"{}")]


@pytest.mark.parametrize(
    ("fetching", "seeks"),
    [
        (4, [3] * kafka_confluent.RESEEKS),  # a transaction's marker after the last event
        (3, []),  # where serve is: nothing to undo
    ],
)
def test_a_partition_whose_fetch_position_stays_past_it_is_sought_back_a_few_times_only(
    monkeypatch: pytest.MonkeyPatch, fetching: int, seeks: list[int]
) -> None:
    monkeypatch.setattr(kafka_confluent, "STRANDED_S", 0.0)
    source = _source([[_crc_failed(2)]])
    consumer = _consumer(source)
    source.poll()
    sought: list[int] = []
    monkeypatch.setattr(consumer, "seek", lambda tp: sought.append(tp.offset))
    source.fetching[("ev", 0)] = fetching
    for _ in range(100):
        source.poll()
    assert sought == seeks


def test_an_error_not_of_a_misreading_after_a_corrupt_batch_is_raised() -> None:
    # Within ASTRAY_S of a corrupt batch only what librdkafka says of the bytes it misread
    # there is dropped: an error of another kind on the partition is raised, as it is
    # anywhere else (it was dropped with the rest for 10 s).
    misread = KafkaError(KafkaError._NOT_IMPLEMENTED, "Unsupported Message(Set) MagicByte 104")
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")
    source = _source(
        [
            [_crc_failed(2), FakeMessage(offset=3471184745229072928, error=misread)],
            [FakeMessage(offset=3471184745229072928, error=misread)],
            [FakeMessage(offset=-1001, error=denied)],
        ]
    )
    _consumer(source)
    assert [origin for origin, _ in source.poll()] == ["ev:0:2"]
    assert source.poll() == []  # the misreading's: dropped
    with pytest.raises(ConfluentError, match="Topic authorization failed"):
        source.poll()


def _offsets(*ranges: range) -> list[FakeMessage]:
    return [FakeMessage(offset=o, value=b"%d" % o) for r in ranges for o in r]


def test_events_handed_out_past_the_partitions_end_are_dead_lettered_where_they_are() -> None:
    # librdkafka on the real broker, a batch's base offset damaged 10 -> 74: events 10-19
    # handed out as 74-83, past the end (30), then 20-29; serve committed 84.
    source = _source([_offsets(range(10)), _offsets(range(74, 84), range(20, 30))])
    _consumer(source).high[("ev", 0)] = 30
    source.poll()
    batch = source.poll()
    (origin, unread), *rest = batch
    assert origin == "ev:0:10" and isinstance(unread, Unreadable)
    assert unread.reason.startswith("the events at offsets 10-19 (10) are in a record batch")
    assert "says it begins at offset 74" in unread.reason and "damaged base offset" in unread.reason
    assert [o for o, _ in rest] == [f"ev:0:{o}" for o in range(20, 30)]
    assert source.pending == {("ev", 0): 30}


def test_events_past_the_end_are_placed_from_the_committed_offset_at_an_assignments_start() -> None:
    # serve restarted, committed at 10: the damaged batch comes first.
    batches = [_offsets(range(74, 84), range(20, 30))]
    source = ConfluentEventSource(KafkaSettings(events_topic="ev"), FakeConsumer(batches), False)
    consumer = _consumer(source)
    consumer.high[("ev", 0)], consumer.committed_at[0] = 30, 10
    (origin, unread), *rest = source.poll()
    assert origin == "ev:0:10" and isinstance(unread, Unreadable)
    assert [o for o, _ in rest] == [f"ev:0:{o}" for o in range(20, 30)]


def test_a_damaged_batch_fetched_again_after_its_events_is_dropped() -> None:
    # The broker answers a fetch of 30 from the batch whose header says 74-83 (its lookup
    # trusts it): a new consumer, committed at 30, gets it before the event at 30.
    source = _source([_offsets(range(74, 84), range(30, 31))])
    consumer = _consumer(source)
    consumer.high[("ev", 0)], consumer.committed_at[0] = 31, 30
    assert source.poll() == [("ev:0:30", b"30")]
    assert source.pending == {("ev", 0): 31}


def test_events_past_the_end_at_a_consumes_end_wait_for_what_follows() -> None:
    again = _offsets(range(74, 84), range(20, 22))  # fetched again: the batch first
    source = _source([_offsets(range(10)), _offsets(range(74, 84)), again])
    consumer = _consumer(source)
    consumer.high[("ev", 0)] = 30
    source.poll()
    assert source.poll() == []  # room after 10-19 for more: fetched again from 10
    assert consumer.positions[("ev", 0)] == 10
    (origin, _), *rest = source.poll()
    assert origin == "ev:0:10" and [o for o, _ in rest] == ["ev:0:20", "ev:0:21"]
    # the partition's last batch: its events end at the high watermark; librdkafka's
    # position (84) is put back after them
    source = _source([_offsets(range(10)), _offsets(range(74, 84))])
    consumer = _consumer(source)
    consumer.high[("ev", 0)] = 20
    source.poll()
    [(origin, unread)] = source.poll()
    assert origin == "ev:0:10" and isinstance(unread, Unreadable)
    assert source.pending == {("ev", 0): 20} and consumer.positions[("ev", 0)] == 20


@pytest.mark.parametrize(("compacted", "said"), [(False, True), (True, False)])
def test_offsets_skipped_in_a_topic_not_compacted_are_said(
    caplog: pytest.LogCaptureFixture, compacted: bool, said: bool
) -> None:
    # A base offset damaged 10 -> 2, fetched from 10: librdkafka dropped 2-9 (events
    # 10-17) and handed out 18 and 19 as 10 and 11. A gap of one (a transaction's commit
    # marker) is debug only.
    batches = [_offsets(range(10, 12), range(20, 22), range(23, 24))]
    source = ConfluentEventSource(
        KafkaSettings(events_topic="ev"), FakeConsumer(batches), compacted=compacted
    )
    _consumer(source).high[("ev", 0)] = 30
    with caplog.at_level("WARNING", logger="stream_al.kafka"):
        assert len(source.poll()) == 5
    warned = [r.getMessage() for r in caplog.records]
    assert (warned != []) is said
    assert all("offsets 12-19 (8) were not handed out by librdkafka" in w for w in warned)


def test_a_step_back_is_said_and_handed_out(caplog: pytest.LogCaptureFixture) -> None:
    # The batch damaged 10 -> 2 fetched from before it: its events come as 2-11 after 9.
    source = _source([_offsets(range(10), range(2, 12), range(20, 21))])
    _consumer(source).high[("ev", 0)] = 30
    with caplog.at_level("WARNING", logger="stream_al.kafka"):
        assert len(source.poll()) == 21
    assert any("handed out offset 2 after offset 9" in r.getMessage() for r in caplog.records)
    assert source.pending == {("ev", 0): 21}


def test_a_leap_forward_and_back_over_its_length_is_a_misplaced_batch() -> None:
    # 10 -> 74 in a partition of 100 events: 74-83 are offsets the partition has, but the
    # step back to 20 right after them says where they lie.
    batches = [_offsets(range(10)), _offsets(range(74, 84), range(20, 30))]
    source = ConfluentEventSource(KafkaSettings(events_topic="ev"), FakeConsumer(batches), False)
    _consumer(source).high[("ev", 0)] = 100
    source.poll()
    (origin, unread), *rest = source.poll()
    assert origin == "ev:0:10" and isinstance(unread, Unreadable)
    assert unread.reason.startswith("the events at offsets 10-19 (10) are in a record batch")
    assert [o for o, _ in rest] == [f"ev:0:{o}" for o in range(20, 30)]
    assert source.pending == {("ev", 0): 30}


@pytest.mark.parametrize("compacted", [False, True])
def test_a_leap_forward_not_back_is_handed_out_in_order(compacted: bool) -> None:
    # An aborted transaction's gap (10-19), then more than one consume's worth after it.
    batches = [_offsets(range(10)), _offsets(range(20, 26), range(30, 31)), _offsets(range(40, 42))]
    source = ConfluentEventSource(
        KafkaSettings(events_topic="ev"), FakeConsumer(batches), compacted
    )
    _consumer(source).high[("ev", 0)] = 100
    source.poll()
    assert [o for o, _ in source.poll()] == [f"ev:0:{o}" for o in (*range(20, 26), 30)]
    assert [o for o, _ in source.poll()] == ["ev:0:40", "ev:0:41"]
    assert source.pending == {("ev", 0): 42}


def test_an_assignments_committed_offsets_are_read_in_one_request() -> None:
    # Three partitions begin after a rebalance: one request for the three, not one each
    # (a rebalance of many partitions waited on the coordinator as many times).
    batch = [FakeMessage(partition=p, offset=o) for p in (0, 1, 2) for o in (10 * p, 10 * p + 1)]
    source = ConfluentEventSource(KafkaSettings(events_topic="ev"), FakeConsumer([batch]), False)
    consumer = _consumer(source)
    for p in (0, 1, 2):
        consumer.positions[("ev", p)], consumer.committed_at[p] = 10 * p, 10 * p
        consumer.high[("ev", p)] = 10 * p + 2
    assert len(source.poll()) == 6
    assert consumer.committed_asked == [[0, 1, 2]]


def test_a_rewound_partition_is_not_placed_from_its_committed_offset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Sought to its beginning, the partition's first message is not the committed offset's:
    # no step back to warn of.
    source = ConfluentEventSource(
        KafkaSettings(events_topic="ev"), FakeConsumer([_offsets(range(3))]), False
    )
    consumer = _consumer(source)
    consumer.positions[("ev", 0)], consumer.committed_at[0], consumer.high[("ev", 0)] = 40, 40, 50
    source.rewind()
    with caplog.at_level("WARNING", logger="stream_al.kafka"):
        assert [o for o, _ in source.poll()] == ["ev:0:0", "ev:0:1", "ev:0:2"]
    assert caplog.records == [] and consumer.committed_asked == []
