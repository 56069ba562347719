"""The Kafka side: the event source (a consumer group, manual commits) and the producer of
predictions and dead letters.

Offsets are committed only after a batch's side effects are durable: the loop first
writes Redis, then flushes the producer (predictions and dead letters acknowledged by the
broker), then commits (the order of quixstreams' checkpoint). A crash in between makes the
batch come again: at-least-once in, idempotent side effects.

kafka-python's ``flush`` returns once every record is *done*, delivered or failed: a
record that waited longer than ``delivery_timeout_ms`` for a broker that was away has
failed. :meth:`Publisher.flush` therefore reads every send's result and raises when one
failed; the next flush sends those records again (the batch is not committed meanwhile).

No call blocks for long, so that a signal is answered within seconds: a send waits at most
:data:`~stream_al.io.base.SEND_BLOCK_S` for its topic's metadata (kafka-python waited 60 s
for each send to a deleted topic), a commit :data:`~stream_al.io.base.COMMIT_TIMEOUT_S`
for the coordinator (kafka-python waited for ever), and a flush asks between its slices
whether to give up.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    IncompatibleBrokerVersion,
    KafkaConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NoBrokersAvailable,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
    for_code,
)
from kafka.producer.future import FutureRecordMetadata
from kafka.protocol.abstract import AbstractType
from kafka.protocol.api import Request, Response
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerUnavailable, ConfigurationError
from stream_al.io.base import (
    AUTO_CREATE_TOPICS,
    COMMIT_TIMEOUT_S,
    METADATA_REFRESH_MS,
    SEND_BLOCK_S,
    TOMBSTONE,
    ClusterTopics,
    Unreadable,
    topic_id_text,
    translate_errors,
    wait_in_slices,
)
from stream_al.io.kafka_batches import BatchUnread, check_offsets, install
from stream_al.io.stalled import StalledPartitions
from stream_al.io.too_large import send_each_alone

# Compressed record batches inflate within MAX_BATCH_BYTES (kafka_batches), in every
# kafka-python consumer of the process.
install()

__all__ = [
    "EventSource",
    "Publisher",
    "TopicCatalog",
    "ensure_topics",
    "producer_for",
    "read_topic",
]

log = logging.getLogger("stream_al.kafka")

# How long closing a client may wait (to leave the group, for the producer's sender
# thread): best effort, a broker away lets the group notice at the session timeout.
CLOSE_TIMEOUT_S = 2.0

# kafka-python 2.3 refuses answers (frames) over 1,000,000 bytes by default, while a fetch
# may return 1 MiB per partition: a full partition would stall the consumer.
RECEIVE_MAX_BYTES = 64 * 1024 * 1024

# What kafka-python takes in one answer once a connection has been closed: 2.3 rebuilds its
# parser without RECEIVE_MAX_BYTES, at the parser's default (docs/design.md, "Answers
# larger than 100,000,000 bytes"). A record batch larger stalls its partition, fetched
# again and again (StalledPartitions says so where an earlier answer told of offsets past
# it).
ANSWER_MAX_BYTES = 100_000_000

# A look at the topics (a metadata request, a describe-configs) answers within
# milliseconds, or the broker is away: the admin client's default waits 30 s.
ADMIN_TIMEOUT_MS = 5_000


def _settings_refused(message: str) -> ConfigurationError:
    """The client refused its settings (a heartbeat longer than the session, say): not
    an outage to wait out but settings to fix."""
    return ConfigurationError(f"{message}: check the STREAM_AL_KAFKA__* settings")


class _AssignmentLog(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        parts = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        log.info("Updated partition assignment: %s", parts)


@translate_errors((KafkaError,), BrokerUnavailable, "kafka")
@translate_errors((KafkaConfigurationError,), _settings_refused, "kafka")
class EventSource:
    """Events from the events topic, in batches, committed on request."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.consumer = KafkaConsumer(
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            max_poll_records=settings.max_poll_records,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            receive_message_max_bytes=RECEIVE_MAX_BYTES,
            metadata_max_age_ms=METADATA_REFRESH_MS,
            # Not the events of aborted transactions, as librdkafka (its default): they
            # never happened, and a question about one wastes a labeler's time.
            isolation_level="read_committed",
            **settings.client_options(),
        )
        # A batch's base offset is under no CRC: one damaged on the broker's disk had its
        # events handed out under offsets they do not have.
        check_offsets(self.consumer, gaps=_may_be_compacted(settings))
        self.stalled_partitions = StalledPartitions(
            f"kafka-python's {ANSWER_MAX_BYTES:,} bytes, {RECEIVE_MAX_BYTES:,} on a "
            "connection's first answers"
        )
        # Our own line on each assignment: the client's is below WARNING unless --verbose.
        self.consumer.subscribe([settings.events_topic], listener=_AssignmentLog())

    def poll(self) -> list[tuple[str, bytes | Unreadable]]:
        """The next batch as ``(origin, raw value)`` pairs; origin is topic:partition:offset.

        A record batch not read (:class:`~stream_al.io.kafka_batches.BatchUnread`: a
        compressed one that inflates beyond :data:`~stream_al.io.base.MAX_BATCH_BYTES`, a
        corrupt one whose CRC check fails) comes as one
        :class:`~stream_al.io.base.Unreadable` that says why, at its first offset not
        consumed yet, and the partition goes on after it (:func:`_past`)."""
        _resume_pending_join(self.consumer)
        self.stalled_partitions.polled()
        try:
            records = self.consumer.poll(
                timeout_ms=self.settings.poll_timeout_ms,
                max_records=self.settings.max_poll_records,
            )
        except BatchUnread as exc:
            past = _past(self.consumer, exc)
            if past is None:
                return []
            log.warning("%s: %s: not read, dead-lettered; serve goes on after it", past[0], exc)
            return [past]
        batch: list[tuple[str, bytes | Unreadable]] = []
        for tp, messages in records.items():
            for m in messages:
                value = m.value if m.value is not None else TOMBSTONE
                batch.append((f"{tp.topic}:{tp.partition}:{m.offset}", value))
        return batch

    def commit(self) -> None:
        """Commit the positions after everything polled so far.

        A commit the group refuses (it rebalanced while the batch was being completed) is
        dropped: the batch's side effects are durable and idempotent, and the partitions'
        new owner consumes it again. Retrying could not succeed before the next poll.
        """
        try:
            self.consumer.commit(timeout_ms=int(COMMIT_TIMEOUT_S * 1000))
        except CommitFailedError as exc:
            log.warning("commit refused after a rebalance; the batch will come again: %s", exc)
        except KafkaTimeoutError:  # its own message is "None": /readyz would say just that
            raise KafkaTimeoutError(
                f"commit: no answer from the group coordinator in {COMMIT_TIMEOUT_S:.0f} s"
            ) from None

    def lag(self) -> dict[int, int]:
        """Events not yet consumed, per assigned partition.

        From the high watermark the last fetch reported: no request to the broker, so it
        never blocks the loop (``end_offsets`` waits on the network). Partitions not fetched
        yet are left out.
        """
        seen: dict[tuple[str, int], tuple[int, int]] = {}
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            position = self.consumer.position(tp, timeout_ms=100)
            if position is not None:
                seen[tp] = (position, high)
        self.stalled_partitions.look(seen)
        return {p: max(0, high - position) for (_, p), (position, high) in seen.items()}

    def stalled(self) -> int:
        """How many assigned partitions had stopped being served at the last :meth:`lag`
        (:class:`~stream_al.io.stalled.StalledPartitions`)."""
        return self.stalled_partitions.stalled

    def rewind(self) -> list[str]:
        """Consume the assigned partitions from their beginning (see
        :meth:`stream_al.io.base.EventSource.rewind`): the next poll asks the broker for
        their earliest offsets; records fetched ahead from the old positions are dropped."""
        partitions = sorted(self.consumer.assignment())
        if partitions:
            self.consumer.seek_to_beginning(*partitions)
        return [f"{tp.topic}:{tp.partition}" for tp in partitions]

    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment())

    def unavailable(self) -> str | None:
        """Why Kafka does not answer now (None: it does), from the state of the consumer's
        connections: no request, so the loop may ask every turn."""
        return _disconnected(self.consumer)

    def close(self) -> None:
        # Bounded: without a timeout the group's leave waits for a broker that may be away.
        self.consumer.close(autocommit=False, timeout_ms=int(CLOSE_TIMEOUT_S * 1000))


def _may_be_compacted(settings: KafkaSettings) -> bool:
    """Whether the events topic's ``cleanup.policy`` may hold ``compact`` (True unless the
    broker says it does not): in a compacted topic whole batches go, and the gaps they leave
    are no damage, so only offsets no topic can hold are taken for a damaged base offset
    (:func:`~stream_al.io.kafka_batches.misplaced`)."""
    wanted = ConfigResource(ConfigResourceType.TOPIC, settings.events_topic, {CLEANUP_POLICY: None})
    try:
        admin = KafkaAdminClient(**settings.client_options())
    except Exception:  # the consumer was made: a broker gone since, say
        return True
    try:
        policy, unread = _setting(admin, wanted, CLEANUP_POLICY)
    except Exception as exc:  # a broker gone since, say
        policy, unread = None, f"{type(exc).__name__}: {exc}"
    finally:
        admin.close()
    if unread:  # not authorised, an old broker, no such topic yet: checked as if compacted
        log.info(
            "cannot read the events topic's %s (%s): taken as compacted", CLEANUP_POLICY, unread
        )
        return True
    return "compact" in (policy or "")


def _setting(admin: KafkaAdminClient, wanted: ConfigResource, name: str) -> tuple[str | None, str]:
    """Setting ``name`` of the broker or topic ``wanted``: its value, or None and why it
    could not be read (empty when it was)."""
    try:
        responses = admin.describe_configs([wanted])
    except IncompatibleBrokerVersion as exc:
        return None, f"the broker does not describe its configuration ({exc})"
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:  # not authorised, typically
                error = for_code(resource["error_code"]).__name__
                message = resource["error_message"]
                return None, f"{error}: {message}" if message else error
            for entry in resource["config_entries"]:
                if entry["config_names"] == name:
                    return entry["config_value"], ""
    return None, f"the broker did not report {name}"


def _past(consumer: KafkaConsumer, exc: BatchUnread) -> tuple[str, Unreadable] | None:
    """Go on after the record batch ``exc`` names; where its events not read begin, and why
    they are not read (None: the batch lies behind the partition's position, its events
    dead-lettered already).

    kafka-python raised from the partition's records in hand (its fetcher's next in line),
    whose iterator is spent: kept, every later poll would loop on it for ever, the
    partition never fetched again. When the batch's extent is known, they read on from
    the rest of the broker's answer (``exc.rest``), from the offset after the batch: the
    broker answers a fetch of the offsets after a batch whose header's last offset is
    damaged with that batch first, again, so only the answer that holds it gets past it.
    Else they are dropped and the partition's position moved past the batch (or past the
    one offset, when the batch's extent is not known: the next fetch returns the batch
    again, which names the next offset)."""
    fetcher = consumer._fetcher
    records = getattr(fetcher, "_next_partition_records", None)
    if records is None:  # not where kafka-python 2.3 keeps them: a version not known
        raise RuntimeError(f"kafka-python raised {exc} from no partition") from exc
    tp = records.topic_partition
    position = consumer.position(tp)
    first = max(exc.base_offset, position)
    known, last = exc.last_offset is not None, exc.last(first)
    end = consumer.highwater(tp)
    if known and end is not None and last >= end:  # offsets that do not exist: no extent
        known, last = False, first
    after = max(position, last + 1)
    if known and exc.rest is not None:
        _read_on(fetcher, records, exc.rest, after)
    else:
        records.drain()
        fetcher._next_partition_records = None
    consumer.seek(tp, after)
    if last < first:
        log.info("%s:%d: %s, behind offset %d: read past it", tp.topic, tp.partition, exc, first)
        return None
    return f"{tp.topic}:{tp.partition}:{first}", Unreadable(exc.reason(first), "")


def _read_on(fetcher: Any, records: Any, rest: Any, offset: int) -> None:
    """Have kafka-python's partition ``records`` in hand read on from ``rest``, the batches
    of their answer not read yet, from ``offset`` (what is below it skipped, as kafka-python
    skips the records before the offset it fetched from): their state (aborted
    transactions, metrics) is kept, their spent iterator replaced."""
    records.fetch_offset = records.next_fetch_offset = offset
    records._next_inline_exception = None
    unpacked = records._unpack_records(
        records.topic_partition,
        rest,
        fetcher.config["key_deserializer"],
        fetcher.config["value_deserializer"],
    )
    records.record_iterator = itertools.dropwhile(records._maybe_skip_record, unpacked)


def _resume_pending_join(consumer: KafkaConsumer) -> None:
    """Have kafka-python finish a group join that a poll's timeout interrupted.

    kafka-python 2.3 rejoins for new partitions when the metadata differs from what the
    leader last assigned (``need_rejoin``). The leader records what it assigned when the
    JoinGroup answer comes, before the SyncGroup: a poll whose timeout ends in between
    leaves the join pending, and the next poll sees nothing to rejoin for, so the join is
    never completed (its assignment dropped, the old one kept until the metadata changes
    again; the group, its heartbeats answered, is stable). Java's client asks whether a
    rejoin is needed *or pending*; ``rejoining`` is kafka-python's "pending" (set when a
    join starts, cleared when it completes): asking for a rejoin then makes the next poll
    complete the pending join (or send a new one).
    """
    coordinator = consumer._coordinator
    if getattr(coordinator, "rejoining", False) and not coordinator.need_rejoin():
        coordinator.request_rejoin()


CLEANUP_POLICY = "cleanup.policy"

# A heartbeat unanswered this long means a broker that hangs (its connections stay open,
# so they look connected until the request timeout, minutes later).
HEARTBEAT_UNANSWERED_S = 6.0


def _disconnected(consumer: KafkaConsumer) -> str | None:
    # kafka-python has no public view of its connections or heartbeats: the client's own
    # table of them and the coordinator's heartbeat clock (fields read, no lock, no I/O).
    client = consumer._client
    if not any(conn.connected() for conn in list(client._conns.values())):
        return "kafka: no connection to any broker"
    heartbeat = consumer._coordinator.heartbeat
    if heartbeat.last_send > heartbeat.last_receive:
        waiting = time.time() - heartbeat.last_send
        if waiting > HEARTBEAT_UNANSWERED_S:
            return f"kafka: the group coordinator has not answered a heartbeat for {waiting:.0f} s"
    return None


Record = tuple[str, bytes | None, bytes]
"""A message sent: ``(topic, key, value)``."""

# The broker refused a message, or its batch, as larger than the topic takes: sent again
# as it was, it is refused again, for ever.
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)

BATCH_BYTES = 16_384
"""kafka-python's producer batches up to this many bytes per partition (its default)."""


@translate_errors((KafkaError,), BrokerUnavailable, "kafka")
@translate_errors((KafkaConfigurationError,), _settings_refused, "kafka")
class Publisher:
    """Predictions and dead letters to their topics; :meth:`flush` waits for the broker and
    raises if anything sent since the last successful flush was not delivered."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        # Its own client id: kafka-python 3.0 lost every event of a consumer whose producer in
        # the same process shared its client id, when events arrived during the group join.
        options = {**settings.client_options(), "client_id": f"{settings.client_id}-producer"}
        self.producer = KafkaProducer(
            acks="all",
            linger_ms=5,
            max_block_ms=int(SEND_BLOCK_S * 1000),
            **_delivery_timeouts(settings.delivery_timeout_ms),
            **options,
        )
        # Sent and not known delivered yet, with what to send again if the send failed.
        self.unconfirmed: list[tuple[FutureRecordMetadata, Record]] = []
        self.failed: list[Record] = []
        self.too_large: list[Record] = []  # refused as larger than the topic takes
        self.last_error: BaseException | None = None

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        future = self.producer.send(topic, key=key, value=value)
        self.unconfirmed.append((future, (topic, key, value)))

    def prediction(self, key: str, payload: str) -> None:
        if self.settings.predictions_topic:
            self._send(self.settings.predictions_topic, key.encode(), payload.encode())

    def send(self, payload: str, key: str | None = None) -> None:
        """A dead letter (the :class:`~stream_al.io.base.DeadLetterSink` interface)."""
        self._send(
            self.settings.dead_letter_topic, None if key is None else key.encode(), payload.encode()
        )

    def flush(
        self, timeout: float | None = 30.0, give_up: Callable[[], bool] | None = None
    ) -> None:
        """Send again what failed before, wait for every send; raise
        :class:`~stream_al.errors.BrokerUnavailable` if one is not delivered (those are
        sent again by the next flush), or is still unacknowledged after ``timeout`` seconds
        or when ``give_up()`` says so (see :func:`~stream_al.io.base.wait_in_slices`).

        Messages the broker refused as larger than their topic takes are sent again one at
        a time (:meth:`_send_alone`)."""
        resend, self.failed = self.failed, []
        if resend:
            log.info("sending %d undelivered messages again", len(resend))
            for i, record in enumerate(resend):
                try:
                    self._send(*record)
                except BaseException:
                    self.failed = resend[i:] + self.failed  # not sent: still to send
                    raise
        started = time.monotonic()
        try:
            done = wait_in_slices(self._flushed, timeout, give_up)
        finally:
            self._confirm()
        if not done:
            raise BrokerUnavailable(
                f"kafka: {len(self.unconfirmed)} messages not delivered after "
                f"{time.monotonic() - started:.1f} s; the next flush waits for them again"
            )
        if self.too_large and not self.failed:
            self._send_alone(timeout, give_up)
        if self.failed:
            raise BrokerUnavailable(
                f"kafka: {len(self.failed)} messages not delivered ({self.last_error}); "
                "they are sent again on the next flush"
            )

    def _send_alone(self, timeout: float | None, give_up: Callable[[], bool] | None) -> None:
        """The messages refused as larger than their topic takes, each alone
        (:func:`~stream_al.io.too_large.send_each_alone`)."""

        def wait() -> bool:
            try:
                return wait_in_slices(self._flushed, timeout, give_up)
            finally:
                self._confirm()

        send_each_alone(
            self,
            self._send,
            wait,
            self.settings.dead_letter_topic,
            BATCH_BYTES,
            lambda why: BrokerUnavailable(f"kafka: {why}"),
        )

    def _flushed(self, seconds: float) -> bool:
        try:
            self.producer.flush(timeout=seconds)
        except KafkaTimeoutError:
            return False
        return True

    def _confirm(self) -> None:
        """Forget the sends the broker acknowledged; keep the failed ones to send again."""
        waiting: list[tuple[FutureRecordMetadata, Record]] = []
        for future, record in self.unconfirmed:
            if not future.is_done:
                waiting.append((future, record))
            elif future.failed():
                too_large = isinstance(future.exception, TOO_LARGE)
                (self.too_large if too_large else self.failed).append(record)
                self.last_error = future.exception
        self.unconfirmed = waiting

    def close(self, timeout: float = 10.0) -> None:
        try:
            self.producer.close(timeout=timeout)
        except KafkaTimeoutError:
            # kafka-python's close flushes first and raises while records are undelivered,
            # the producer left open (its exit hooks then raise again, with tracebacks):
            # drop them as its own forced close does, then close what is left.
            self.producer._sender.force_close()
            self.producer._sender.join(CLOSE_TIMEOUT_S)
            with contextlib.suppress(KafkaTimeoutError):
                self.producer.close(timeout=0)
        undelivered = len(self.failed) + len(self.too_large)
        undelivered += sum(not f.succeeded() for f, _ in self.unconfirmed)
        if undelivered:
            log.warning(
                "producer closed with %d messages undelivered (their batch was not committed)",
                undelivered,
            )


def _delivery_timeouts(delivery_timeout_ms: int) -> dict[str, int]:
    """kafka-python's producer timeouts for a delivery timeout: its request timeout must
    leave room for the linger (5 ms) within it."""
    return {
        "delivery_timeout_ms": delivery_timeout_ms,
        "request_timeout_ms": min(30_000, delivery_timeout_ms - 5),
    }


class _Uuid(AbstractType):
    """A topic id on the wire: 16 bytes (kafka-python 2.3 has no such type)."""

    @classmethod
    def encode(cls, value: bytes | None) -> bytes:
        return value or bytes(16)

    @classmethod
    def decode(cls, data: Any) -> bytes:
        raw: bytes = data.read(16)
        if len(raw) != 16:
            raise ValueError("Buffer underrun decoding a topic id")
        return raw


class _MetadataResponseV10(Response):
    API_KEY = 3
    API_VERSION = 10
    FLEXIBLE_VERSION = True
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class _MetadataRequestV10(Request):
    """Metadata v10 (KIP-516), the first to give topic ids: kafka-python 2.3 stops at v8."""

    API_KEY = 3
    API_VERSION = 10
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


@translate_errors((KafkaError,), BrokerUnavailable, "kafka")
@translate_errors((KafkaConfigurationError,), _settings_refused, "kafka")
class TopicCatalog:
    """Which topics exist and whether the broker creates missing ones (the
    :class:`~stream_al.io.base.TopicCatalog` interface): a metadata request for every
    topic, and the broker's :data:`~stream_al.io.base.AUTO_CREATE_TOPICS`; and the events
    topic's id, from a metadata request of its own (v10)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.followed = settings.events_topic
        with _no_brokers(settings):
            self.admin = KafkaAdminClient(
                request_timeout_ms=ADMIN_TIMEOUT_MS, **settings.client_options()
            )

    def describe(self) -> ClusterTopics:
        # Every topic this client may describe: a request for all topics creates none,
        # whatever the broker's auto-creation.
        existing = frozenset(self.admin.list_topics())
        auto_create, unread = self._auto_create()
        ids = {}
        if self.followed in existing:
            topic_id = self._topic_id(self.followed)
            if topic_id is not None:
                ids[self.followed] = topic_id
        return ClusterTopics(existing, auto_create, unread, ids)

    def _topic_id(self, topic: str) -> str | None:
        """``topic``'s id, or None (no such topic, or a broker before Kafka 2.8)."""
        versions = self.admin._client.get_api_versions() or {}
        if versions.get(MetadataRequest[0].API_KEY, (0, 0))[1] < 10:
            return None
        request = _MetadataRequestV10(
            topics=[(None, topic, {})],
            allow_auto_topic_creation=False,
            include_cluster_authorized_operations=False,
            include_topic_authorized_operations=False,
            tags={},
        )
        response = self.admin.send_request(request)
        for error_code, name, raw_id, *_ in response.topics:
            if name == topic and not error_code:
                return topic_id_text(raw_id)
        return None

    def _auto_create(self) -> tuple[bool | None, str]:
        """The broker's setting, or None and why it could not be read."""
        brokers = self.admin.describe_cluster()["brokers"]
        if not brokers:
            return None, "the cluster named no broker"
        broker = str(min(b["node_id"] for b in brokers))
        wanted = ConfigResource(ConfigResourceType.BROKER, broker, {AUTO_CREATE_TOPICS: None})
        value, unread = _setting(self.admin, wanted, AUTO_CREATE_TOPICS)
        return (None, unread) if unread else (value == "true", "")

    def close(self) -> None:
        self.admin.close()


def ensure_topics(settings: KafkaSettings, partitions: int = 1, extra: Iterable[str] = ()) -> None:
    """Create the service's topics if they do not exist (idempotent)."""
    names = [settings.events_topic, settings.dead_letter_topic, *extra]
    if settings.predictions_topic:
        names.append(settings.predictions_topic)
    with _no_brokers(settings):
        admin = KafkaAdminClient(**settings.client_options())
    try:
        existing = set(admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
                admin.create_topics([NewTopic(n, partitions, 1) for n in missing])
    finally:
        admin.close()


@contextlib.contextmanager
def _no_brokers(settings: KafkaSettings) -> Iterator[None]:
    """kafka-python's ``NoBrokersAvailable`` as a :class:`BrokerUnavailable` that names the
    address it tried."""
    try:
        yield
    except NoBrokersAvailable:
        raise BrokerUnavailable(
            f"no Kafka broker answers at {settings.bootstrap_servers}"
        ) from None


def producer_for(settings: KafkaSettings, **options: Any) -> KafkaProducer:
    """A producer with the cluster's connection and security settings; raises
    :class:`BrokerUnavailable` naming the address when no broker answers."""
    base = {**settings.client_options(), "client_id": f"{settings.client_id}-producer"}
    with _no_brokers(settings):
        return KafkaProducer(**{"acks": "all", "linger_ms": 5, **base, **options})


def read_topic(
    settings: KafkaSettings, topic: str, timeout: float = 120.0
) -> Iterator[tuple[str, bytes | Unreadable]]:
    """Every record of ``topic`` from its beginning to its end offsets as of the call,
    partition by partition, as ``(origin, value)`` pairs (origin: topic:partition:offset).

    A record batch not read (:class:`~stream_al.io.kafka_batches.BatchUnread`: corrupt, or
    inflating beyond :data:`~stream_al.io.base.MAX_BATCH_BYTES`) comes as one
    :class:`~stream_al.io.base.Unreadable` at its first offset, saying why, and the reading
    goes on after it: the caller skips and reports it, as it does a record it cannot use.
    Before, the batch ended the reading with an error, and serve's warm start with it.

    A generator: memory stays bounded however long the topic. No consumer group, nothing
    committed: every reader reads it all. Raises ``ValueError`` for a topic that does not
    exist and ``TimeoutError`` when a partition is not read to its end within ``timeout``.
    """
    consumer = KafkaConsumer(
        enable_auto_commit=False,
        group_id=None,
        receive_message_max_bytes=RECEIVE_MAX_BYTES,
        isolation_level="read_committed",  # as serve reads the events topic
        **settings.client_options(),
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"Kafka has no topic {topic!r}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        end = consumer.end_offsets(tps)
        for tp in tps:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            deadline = time.monotonic() + timeout
            while consumer.position(tp) < end[tp]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {topic!r} not read within {timeout:g} s")
                try:
                    polled = consumer.poll(timeout_ms=500)
                except BatchUnread as exc:
                    unread = _past(consumer, exc)
                    if unread is not None:
                        yield unread
                    continue
                for messages in polled.values():
                    for m in messages:
                        if m.offset < end[tp]:
                            value = m.value if m.value is not None else TOMBSTONE
                            yield f"{topic}:{tp.partition}:{m.offset}", value
    finally:
        consumer.close(autocommit=False)
