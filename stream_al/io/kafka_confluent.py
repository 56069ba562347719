"""The Kafka side on confluent-kafka (librdkafka): ``STREAM_AL_KAFKA__BACKEND=confluent``.

The same interfaces and the same delivery semantics as :mod:`stream_al.io.kafka`
(kafka-python, the default); install it from a checkout with ``pip install -e '.[fast]'``.

- :class:`ConfluentEventSource` commits, synchronously, exactly the offsets after the
  messages it handed out since the last commit (``offset + 1`` of the last message of each
  partition), never positions the application has not seen, and none of a partition
  revoked since (as kafka-python commits only what is assigned). Auto-commit and the
  automatic offset store are off: nothing but :meth:`ConfluentEventSource.commit` moves
  the group's offsets, and the loop calls it only after the batch's side effects.
- :class:`ConfluentPublisher` is idempotent (``acks=all``); :meth:`ConfluentPublisher.flush`
  raises when a message is still undelivered or a delivery failed since the last flush,
  so the loop does not commit the batch, and retries: the next flush first sends the
  failed messages again.

A consumer or producer that librdkafka left with no broker to ask (see
:func:`no_broker_left`) is replaced by a new one: the consumer at its next poll or commit
(its offsets not committed are dropped, so that batch is consumed again), the producer at
its next flush (what the old one still held is sent again).

librdkafka's errors become :class:`ConfluentError`, a
:class:`~stream_al.errors.BrokerUnavailable`: the loop waits them out like a broken
connection (``stream_al.runtime.backoff.RECOVERABLE``). A fatal error (the client cannot go
on) is :class:`ConfluentFatalError`, a :class:`~stream_al.errors.BrokerFatalError`, which
stops ``serve``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerFatalError, BrokerUnavailable
from stream_al.io.base import (
    AUTO_CREATE_TOPICS,
    COMMIT_TIMEOUT_S,
    MAX_BATCH_BYTES,
    METADATA_REFRESH_MS,
    SEND_BLOCK_S,
    TOMBSTONE,
    ClusterTopics,
    Unreadable,
    topic_id_text,
    wait_in_slices,
)
from stream_al.io.kafka_batches import BatchMisplaced
from stream_al.io.stalled import StalledPartitions
from stream_al.io.too_large import send_each_alone

__all__ = [
    "ConfluentError",
    "ConfluentEventSource",
    "ConfluentFatalError",
    "ConfluentPublisher",
    "ConfluentTopicCatalog",
    "commit_offsets",
]

log = logging.getLogger("stream_al.kafka")


class _Repeats(logging.Filter):
    """Lets the same message through once per ``every`` seconds: librdkafka reports a
    refused connection every few tens of milliseconds while a broker is away."""

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self.every = every
        self.last: dict[tuple[int, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.levelno, record.getMessage()), time.monotonic()
        if now - self.last.get(key, -math.inf) < self.every:
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[key] = now
        return True


# librdkafka's global errors (error_cb), repeats held back.
librdkafka_log = logging.getLogger("stream_al.kafka.librdkafka")
librdkafka_log.addFilter(_Repeats())
# librdkafka's own log (its ``logger``): chatter to a user, like kafka-python's (a fresh
# broker's "Failed to acquire idempotence PID ... retrying"), shown with --verbose only
# (runtime.logging.LIBRARY_LOGGERS).
librdkafka_client_log = logging.getLogger("librdkafka")
librdkafka_client_log.addFilter(_Repeats())

CONNECT_TIMEOUT_S = 5.0

LOOK_S = 2.0
"""How often serve asks for the events topic's metadata while librdkafka says the topic it
subscribed to does not exist: librdkafka itself looks again only at its metadata refresh
(METADATA_REFRESH_MS, 30 s), so the events of a topic a producer's first send created
meanwhile (on a broker that creates topics: the quickstart's order) waited that long."""
LOOK_TIMEOUT_S = 1.0

COMMIT_STUCK_S = 60.0
"""A batch's commit that has not succeeded for this long, unanswered or refused with a
retriable error each time, is given up with its consumer (see :class:`_Commit`). A commit
answers within a second, or with an error while the coordinator is away; one that never
answers, or answers "waiting for coordinator" for minutes after the broker is back, is a
client wedged (test broker restarts left one so, each way: its coordinator lookup never
retried). A new consumer looks the coordinator up afresh."""

# A commit refused with one of these: the group moved on (a rebalance, this member
# expired). The partitions may be another member's now; retrying the commit cannot
# succeed before the next poll. The offsets are dropped: the batch will be consumed
# again (by this member or another), which at-least-once allows.
MEMBERSHIP_LOST = frozenset(
    getattr(KafkaError, name)
    for name in (
        "ILLEGAL_GENERATION",
        "UNKNOWN_MEMBER_ID",
        "REBALANCE_IN_PROGRESS",
        "FENCED_INSTANCE_ID",
        "_ASSIGNMENT_LOST",
    )
    if hasattr(KafkaError, name)
)


# The broker's configuration cannot be read by this client (no DescribeConfigs on the
# cluster, an old broker): a fact to report, not an outage to wait out.
CONFIG_UNREADABLE = frozenset(
    getattr(KafkaError, name)
    for name in (
        "CLUSTER_AUTHORIZATION_FAILED",
        "TOPIC_AUTHORIZATION_FAILED",
        "UNSUPPORTED_VERSION",
        "_UNSUPPORTED_FEATURE",
        "INVALID_REQUEST",
    )
    if hasattr(KafkaError, name)
)


class ConfluentError(BrokerUnavailable):
    """A librdkafka error the loop waits out (a broker away, a timeout, a rebalance)."""


class ConfluentFatalError(BrokerFatalError):
    """A librdkafka error after which the client cannot be used again."""


def _error_of(exc: KafkaException) -> KafkaError | None:
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


def _raise_for(err: KafkaError | None, what: str, exc: BaseException | None = None) -> NoReturn:
    text = f"{what}: {err if err is not None else exc}"
    if err is not None and err.fatal():
        raise ConfluentFatalError(text) from exc
    raise ConfluentError(text) from exc


@contextmanager
def _converted(what: str) -> Iterator[None]:
    """librdkafka's exceptions as :class:`ConfluentError` / :class:`ConfluentFatalError`."""
    try:
        yield
    except KafkaException as exc:
        _raise_for(_error_of(exc), what, exc)
    except RuntimeError as exc:  # e.g. "Consumer closed"
        if isinstance(exc, ConfluentFatalError):
            raise
        raise ConfluentError(f"{what}: {exc}") from exc


def _tp(t: TopicPartition) -> str:
    return f"{t.topic}:{t.partition}"


def commit_offsets(pending: dict[tuple[str, int], int]) -> list[TopicPartition]:
    """The offsets to commit for a batch: per partition, the offset after its last message.

    ``pending`` maps ``(topic, partition)`` to that next offset.

    >>> [(t.topic, t.partition, t.offset) for t in commit_offsets({("e", 1): 8, ("e", 0): 3})]
    [('e', 0, 3), ('e', 1, 8)]
    """
    return [TopicPartition(topic, p, offset) for (topic, p), offset in sorted(pending.items())]


def _connected(client: Consumer | Producer, settings: KafkaSettings) -> None:
    """Fail (recoverably) unless the cluster answers, as kafka-python's clients do at start:
    serve stays unready while it waits for Kafka."""
    with _converted(f"kafka at {settings.bootstrap_servers}"):
        client.list_topics(timeout=CONNECT_TIMEOUT_S)


def _constructed(factory: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> Any:
    try:
        return factory(config)
    except KafkaException as exc:  # a setting librdkafka refuses
        raise ValueError(f"librdkafka refused the settings: {exc}") from None


class _Errors:
    """librdkafka's global errors (``error_cb``): logged; a fatal one is kept to raise."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.fatal: KafkaError | None = None

    def __call__(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = err
            librdkafka_log.error("%s: fatal: %s", self.client, err)
        else:
            librdkafka_log.warning("%s: %s", self.client, err)

    def check(self) -> None:
        if self.fatal is not None:
            raise ConfluentFatalError(f"{self.client}: {self.fatal}")


# A broker that hangs (stopped, its connections still open) looks UP to librdkafka until
# its requests time out: a connection with requests in flight that received nothing for
# this long counts as Kafka away (kafka-python's HEARTBEAT_UNANSWERED_S, the same 6 s).
# A healthy broker answers a consumer's fetch within fetch.wait.max.ms (500 ms) and a
# heartbeat at once; the group coordinator's connection counts only in a steady group,
# where it carries heartbeats (a JoinGroup may wait on other members for minutes).
UNANSWERED_S = 6.0


def _silent_s(broker: dict[str, Any], steady: bool) -> float:
    """Seconds a connection with requests in flight has received nothing (0: answering)."""
    if broker.get("state") != "UP" or not broker.get("waitresp_cnt"):
        return 0.0
    if broker.get("nodeid", -1) < 0 and not (steady and broker.get("name") == "GroupCoordinator"):
        return 0.0  # the bootstrap connection, or a coordinator waiting out a rebalance
    idle_us = broker.get("rxidle", -1)
    return idle_us / 1e6 if isinstance(idle_us, int | float) and idle_us > 0 else 0.0


# Broker handles with an address to connect to, by their source in librdkafka's statistics
# (the others: "logical", the group coordinator's, and "internal").
ADDRESSED = frozenset({"learned", "configured"})


def no_broker_left(brokers: Iterable[dict[str, Any]]) -> bool:
    """Whether librdkafka has no broker with an address left (its statistics' brokers), and
    so will never connect again.

    A lone broker in controlled shutdown (SIGTERM) is fenced before its socket closes, and
    answers a Metadata request with no broker listed. librdkafka (2.10 and later) forgets
    every broker such an answer leaves out; when its broker thread has seen that connection
    close before its main thread reads the answer, the re-bootstrap the close started is
    cancelled by the answer and never tried again (librdkafka 2.16; its issue 5301, its
    test 0193): at most the logical coordinator handle is left, without an address. About
    one restart of the test broker in 40 under CPU load left serve's consumer so: unready
    60 s after the broker was back, and through every later restart.

    >>> no_broker_left([{"source": "logical", "name": "GroupCoordinator"}])
    True
    >>> no_broker_left([{"source": "learned"}, {"source": "logical"}])
    False
    """
    return not any(b.get("source") in ADDRESSED for b in brokers)


def _replacement(
    factory: Callable[[dict[str, Any]], Any], config: dict[str, Any], role: str
) -> Any:
    """A new client in place of one left with no broker (:func:`no_broker_left`), said once."""
    log.warning(
        "kafka: librdkafka dropped the %s's last broker (a Metadata answer listed none, as a "
        "broker shutting down gives); a new %s takes its place",
        role,
        role,
    )
    return _constructed(factory, config)


# After a corrupt batch, how long, and how many times at most, a jump of librdkafka's to
# the partition's end is undone (ConfluentEventSource._astray).
ASTRAY_S = 10.0
RESEEKS = 10

# After a corrupt batch, how long a partition may stand still, polled at least
# STRANDED_POLLS times, while librdkafka fetches past serve's next offset, before serve seeks
# it back (ConfluentEventSource._stranded): twice the statistics' interval, so the fetch
# position looked at is one reported after the last seek.
STRANDED_S = 2.0
STRANDED_POLLS = 3

# What librdkafka says of the bytes it misreads inside a corrupt batch (a magic byte its
# reader does not know: _NOT_IMPLEMENTED, seen 43 times in 3 runs, the only one; other
# bytes may parse as a batch it cannot read: _BAD_MSG). Dropped for ASTRAY_S after a
# corrupt batch (_astray_error); any other error of the partition is raised as before.
MISREAD = (KafkaError._NOT_IMPLEMENTED, KafkaError._BAD_MSG)


def _corrupt(err: KafkaError) -> bool:
    """Whether ``err`` reports a record batch whose CRC-32C check failed (``check.crcs``):
    librdkafka says so only in its text, with the code of any message it cannot parse."""
    return bool(err.code() == KafkaError._BAD_MSG and "failed CRC" in err.str())


CLEANUP_POLICY = "cleanup.policy"


def _may_be_compacted(settings: KafkaSettings) -> bool:
    """Whether the events topic's ``cleanup.policy`` may hold ``compact`` (True unless the
    broker says it does not): compaction leaves gaps between offsets, which are then no
    loss (:meth:`ConfluentEventSource._jumped`). As kafka-python's source reads it."""
    wanted = ConfigResource(ResourceType.TOPIC, settings.events_topic)
    config: dict[str, Any] = {**settings.librdkafka_config(), "logger": librdkafka_client_log}
    try:
        admin = AdminClient(config)
        futures = admin.describe_configs([wanted], request_timeout=CONNECT_TIMEOUT_S)
        entries = next(iter(futures.values())).result(timeout=CONNECT_TIMEOUT_S + 1)
        policy = entries[CLEANUP_POLICY].value
    except Exception as exc:  # not authorised, an old broker, no such topic yet, away
        log.info("cannot read the events topic's %s (%s): taken as compacted", CLEANUP_POLICY, exc)
        return True
    return "compact" in (policy or "")


def fetch_positions(report: dict[str, Any]) -> dict[tuple[str, int], int]:
    """The next offset librdkafka fetches, per partition whose one is known, from its
    statistics ``report`` (``next_offset``; partition -1 is its internal one).

    >>> fetch_positions({"topics": {"e": {"partitions": {
    ...     "0": {"next_offset": 10}, "1": {"next_offset": -1001}, "-1": {"next_offset": 0}}}}})
    {('e', 0): 10}
    """
    out: dict[tuple[str, int], int] = {}
    for topic, about in report.get("topics", {}).items():
        for number, partition in about.get("partitions", {}).items():
            offset = partition.get("next_offset", -1)
            if int(number) >= 0 and isinstance(offset, int) and offset >= 0:
                out[(topic, int(number))] = offset
    return out


class _Commit:
    """One synchronous commit, made in a thread of its own so that the loop waits for it
    at most :data:`~stream_al.io.base.COMMIT_TIMEOUT_S` a time.

    librdkafka's synchronous commit has no timeout: it waits for the group coordinator's
    answer for as long as it takes. Once (a broker stopped and started again under CPU
    load) serve's commit never returned: serve consumed nothing more, unready for good,
    its thread in ``commit`` (a coordinator lookup librdkafka never retried: its issues
    3740, 5301 and 5511 describe such waits). The loop now waits out a slow commit as any
    other failure, and gives up one unanswered for :data:`COMMIT_STUCK_S` with its consumer
    (:meth:`ConfluentEventSource.commit`). The consumer is closed only once its commit
    has returned, here: closed while librdkafka still uses it, its handle would be freed
    under the call.
    """

    def __init__(self, consumer: Any, offsets: list[TopicPartition]) -> None:
        self.consumer = consumer
        self.started = time.monotonic()
        self.result: list[TopicPartition] | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(
            target=self._run, args=(offsets,), name="stream-al-commit", daemon=True
        ).start()

    def _run(self, offsets: list[TopicPartition]) -> None:
        try:
            self.result = self.consumer.commit(offsets=offsets, asynchronous=False)
        except BaseException as exc:  # handed to the loop's thread, which raises it there
            self.error = exc
        with self._lock:
            self._done.set()
            abandoned = self._abandoned
        if abandoned:
            _closed(self.consumer)

    def wait(self, seconds: float) -> bool:
        """Whether the commit returned within ``seconds``."""
        return self._done.wait(seconds)

    def abandon(self) -> None:
        """Its consumer is replaced: closed when the commit returns (at once if it has)."""
        with self._lock:
            self._abandoned = True
            done = self._done.is_set()
        if done:
            _closed(self.consumer)


def _closed(consumer: Any) -> None:
    try:
        consumer.close()
    except (KafkaException, RuntimeError) as exc:
        log.warning("consumer close: %s", exc)


class ConfluentEventSource:
    """Events from the events topic, in batches, committed on request (librdkafka)."""

    def __init__(
        self, settings: KafkaSettings, consumer: Any = None, compacted: bool | None = None
    ) -> None:
        self.settings = settings
        self.errors = _Errors("consumer")
        self._config: dict[str, Any] | None = None  # None: the consumer was given
        if consumer is None:
            self._config = config = {
                **settings.librdkafka_config(),
                "group.id": settings.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": settings.auto_offset_reset,
                "session.timeout.ms": settings.session_timeout_ms,
                "heartbeat.interval.ms": settings.heartbeat_interval_ms,
                "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
                # Its default, made explicit: the bound of its fetches, and of its zstd and
                # lz4 batches inflated (MAX_BATCH_BYTES).
                "receive.message.max.bytes": MAX_BATCH_BYTES,
                # Off by default: a batch corrupt on the broker's disk was then read as it
                # was (a flipped digit became another event, silently) or, its framing
                # damaged, stalled its partition for good, serve ready and silent. On, it
                # is an error serve dead-letters (_past); the cost was not measurable
                # (docs/design.md, Faults, "A record batch that fails its CRC check").
                "check.crcs": True,
                "error_cb": self.errors,
                "logger": librdkafka_client_log,
                # Once a second, the state of each broker connection (unavailable()).
                "statistics.interval.ms": 1000,
                "stats_cb": self._stats,
            }
            consumer = _constructed(Consumer, config)
            try:
                _connected(consumer, settings)
            except ConfluentError:
                consumer.close()  # serve retries with a new one
                raise
        self.consumer = consumer
        # Whether the events topic may be compacted (a gap between offsets is then no
        # loss: _jumped, _leaps): read from the broker unless said; a consumer given, taken
        # as so.
        if compacted is None:
            compacted = self._config is None or _may_be_compacted(settings)
        self.compacted = compacted
        # (topic, partition) -> the offsets librdkafka handed out that cannot be where they
        # say, held until what follows them tells where they are (_misplaced).
        self._held: dict[tuple[str, int], list[int]] = {}
        # (topic, partition) -> the group's committed offset, read for every partition of
        # the assignment not yet begun at once (one request, not one a partition: _committed).
        self._commits: dict[tuple[str, int], int] = {}
        # (topic, partition) -> the offset after the last message handed out, not committed.
        self.pending: dict[tuple[str, int], int] = {}
        self._committing: _Commit | None = None  # a commit the loop waits for (commit())
        self._failing_since: float | None = None  # the first failed commit of the pending batch
        # (topic, partition) -> the offset after the last message handed out (_past()).
        self._next: dict[tuple[str, int], int] = {}
        # Partitions that held a corrupt batch since they were assigned, and for a while
        # after each such batch, the partition's end then, until when, and the seeks left
        # to undo a reset of librdkafka's to beyond it (_astray()).
        self._corrupted: set[tuple[str, int]] = set()
        self._resume: dict[tuple[str, int], tuple[int, float, int]] = {}
        # The first offset of the corrupt batch serve is going past, per partition, and
        # those of the corrupt batches it went past (a message after them handed out).
        self._walking: dict[tuple[str, int], int] = {}
        self._passed: dict[tuple[str, int], set[int]] = {}
        # Per partition that held a corrupt batch: its next offset when last looked at, since
        # when it stands there, the polls made by then, and the seeks back left (_stranded).
        self._still: dict[tuple[str, int], tuple[int, float, int, int]] = {}
        self.brokers_up: bool | None = None  # from librdkafka's statistics; None: not yet
        self.silent_s = 0.0  # the longest a connection has waited on an answer (statistics)
        self.orphaned = False  # no broker left to connect to (statistics, see no_broker_left())
        # (topic, partition) -> the next offset librdkafka fetches (statistics): where a
        # partition stands before it has handed out a message (lag()).
        self.fetching: dict[tuple[str, int], int] = {}
        self.stalled_partitions = StalledPartitions(
            f"librdkafka's receive.message.max.bytes, {MAX_BATCH_BYTES:,} bytes"
        )
        self._deferred: KafkaError | None = None
        # Partitions revoked (or lost) during the consume in progress and not assigned again.
        self._revoked_now: set[tuple[str, int]] = set()
        # When serve next asks for the events topic's metadata, while librdkafka says there
        # is no such topic (_look_for_topic); None: it has not said so (or it is assigned).
        self._next_look: float | None = None
        self._subscribe()

    def _subscribe(self) -> None:
        with _converted("subscribe"):
            self.consumer.subscribe(
                [self.settings.events_topic],
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._revoked,
            )

    def _look_for_topic(self) -> None:
        """Ask for the events topic's metadata every :data:`LOOK_S` while librdkafka says it
        does not exist (not waiting for librdkafka's own look, 30 s on); the answer, once
        the topic exists, has librdkafka's group join it at once. The request creates no
        topic (a consumer's metadata requests do not)."""
        if self._next_look is None or time.monotonic() < self._next_look:
            return
        self._next_look = time.monotonic() + LOOK_S
        try:
            self.consumer.list_topics(self.settings.events_topic, timeout=LOOK_TIMEOUT_S)
        except (KafkaException, RuntimeError) as exc:  # the broker away: the consume says so
            log.debug("events topic's metadata: %s", exc)

    def _renew(self) -> None:
        """A new consumer in place of one left with no broker (see :func:`no_broker_left`): it
        joins the group afresh; what the old one handed out and did not commit comes again."""
        assert self._config is not None
        renewed = _replacement(Consumer, self._config, "consumer")
        self._let_go(aside=True)
        # Reset after the close, whose callbacks may still report on the old consumer.
        self.consumer, self.orphaned, self.brokers_up, self.silent_s = renewed, False, False, 0.0
        self.fetching = {}
        self._settled()
        self._next.clear()
        self._forget()
        self._revoked_now.clear()
        self._deferred = None
        self._subscribe()

    def _stats(self, stats: str) -> None:
        try:
            report = json.loads(stats)
            brokers = list(report.get("brokers", {}).values())
            steady = report.get("cgrp", {}).get("join_state") == "steady"
            fetching = fetch_positions(report)
        except (ValueError, AttributeError, TypeError):
            return
        self.fetching = fetching
        self.brokers_up = any(b.get("nodeid", -1) >= 0 and b.get("state") == "UP" for b in brokers)
        self.silent_s = max((_silent_s(b, steady) for b in brokers), default=0.0)
        self.orphaned = self._config is not None and no_broker_left(brokers)

    def unavailable(self) -> str | None:
        """Why Kafka does not answer now (None: it does), from the broker states librdkafka
        reported in its last statistics (each second, served by the polls): no I/O."""
        if self.brokers_up is False:
            return "kafka: no broker connection is up"
        if self.silent_s > UNANSWERED_S:
            return f"kafka: a broker has not answered a request for {self.silent_s:.0f} s"
        return None

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._revoked_now.difference_update((t.topic, t.partition) for t in partitions)
        if partitions:
            self._next_look = None  # the topic is there
        log.info("Updated partition assignment: %s", [_tp(t) for t in partitions])

    def _revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # The loop commits every batch before it polls again, so nothing is pending here;
        # if something were, it is no longer ours to commit (it will be consumed again).
        for t in partitions:
            self.pending.pop((t.topic, t.partition), None)
            self._next.pop((t.topic, t.partition), None)
            self._forget((t.topic, t.partition))
            self._revoked_now.add((t.topic, t.partition))
        log.info("Partitions revoked: %s", [_tp(t) for t in partitions])

    def poll(self) -> list[tuple[str, bytes | Unreadable]]:
        """The next batch as ``(origin, raw value)`` pairs; origin is topic:partition:offset.

        A consumer error with no message beside it raises :class:`ConfluentError`; one that
        came with messages is raised at the next poll, so the messages are processed (a
        message handed out and dropped would be committed by a later batch unprocessed).
        A record batch librdkafka could not decompress (:meth:`_past`) is no error: an
        :class:`~stream_al.io.base.Unreadable` that says why, and the partition goes on.
        """
        self.errors.check()
        if self.orphaned:
            self._renew()
        if self._deferred is not None:
            err, self._deferred = self._deferred, None
            _raise_for(err, "consume")
        self._revoked_now.clear()
        self.stalled_partitions.polled()
        self._look_for_topic()
        if self._corrupted:
            self._stranded()
        with _converted("consume"):
            messages = self.consumer.consume(
                num_messages=self.settings.max_poll_records,
                timeout=self.settings.poll_timeout_ms / 1000,
            )
        return self._batch(messages)

    def _batch(self, messages: Sequence[Message]) -> list[tuple[str, bytes | Unreadable]]:
        batch: list[tuple[str, bytes | Unreadable]] = []
        error: KafkaError | None = None
        # Partitions sought in this consume, past a corrupt batch or back from where
        # librdkafka went astray (_astray): what follows of them here was fetched before
        # the seek, from the corrupt batch (librdkafka reads on inside it as if a batch
        # began there, its reader skipping to the batch's length taken as a position, and
        # reports offsets that do not exist) or from where it went: dropped.
        sought: set[tuple[str | None, int | None]] = set()
        # Partitions whose offsets leapt forward in this consume (a gap, or a base offset
        # damaged upward within the partition), and the messages from the leap on (_leaps).
        leapt: dict[tuple[str, int], list[Message]] = {}
        for m in messages:
            err = m.error()
            where = (m.topic(), m.partition())
            if where in sought or (err is not None and self._astray_error(m, sought)):
                log.debug("%s:%s: after a corrupt batch: %s", *where, err or m.offset())
                continue
            if err is not None and _corrupt(err):
                sought.add(where)
                unread = self._past(m, err, corrupt=True)
                if unread is not None:
                    batch.append(unread)
                continue
            if err is not None and err.code() == KafkaError._BAD_COMPRESSION:
                unread = self._past(m, err)
                if unread is not None:
                    batch.append(unread)
                    continue
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and self._next_look is None:
                    self._next_look = time.monotonic() + LOOK_S
                if err.code() != KafkaError._PARTITION_EOF and error is None:  # EOF: no error
                    error = err
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            assert topic is not None and partition is not None and offset is not None
            key = (topic, partition)
            if key in self._corrupted and self._astray(key, offset, sought):
                continue
            # Healthy streams hand out each partition's offsets one after the other: the
            # checks below cost a dict look-up and three comparisons per message.
            if offset != self._next.get(key) or self._held or leapt:
                if self._misplaced(key, offset):
                    continue
                unread = self._placed(key, offset)
                if unread is not None:
                    batch.append(unread)
                if self._leaps(key, m, leapt, batch):
                    continue
                self._jumped(key, offset)
            # _hand_out, inlined: a call per message cost more than the checks above
            if key in self._walking:  # a message after the corrupt batch: past it
                self._passed.setdefault(key, set()).add(self._walking.pop(key))
            value = m.value()
            batch.append(
                (f"{topic}:{partition}:{offset}", value if value is not None else TOMBSTONE)
            )
            self._next[key] = offset + 1
            if key not in self._revoked_now:
                self.pending[key] = max(self.pending.get(key, 0), offset + 1)
        for key, run in leapt.items():  # to the consume's end: a gap, handed out as before
            self._jumped(key, run[0].offset() or 0)
            for m in run:
                self._hand_out(batch, key, m)
        for key in list(self._held):  # held to the end: the partition's last batch?
            unread = self._placed(key, None)
            if unread is not None:
                batch.append(unread)
        if error is not None:
            if not batch:
                _raise_for(error, "consume")
            self._deferred = error
        return batch

    def _hand_out(
        self, batch: list[tuple[str, bytes | Unreadable]], key: tuple[str, int], m: Message
    ) -> None:
        offset = m.offset()
        assert offset is not None
        if key in self._walking:  # a message after the corrupt batch: past it
            self._passed.setdefault(key, set()).add(self._walking.pop(key))
        value = m.value()
        batch.append((f"{key[0]}:{key[1]}:{offset}", value if value is not None else TOMBSTONE))
        self._next[key] = offset + 1
        # A message fetched before its partition was revoked in this same consume() is
        # processed but not committed: the partition's new owner consumes it again
        # (a commit for it would be refused, or wait on the rejoining group).
        if key not in self._revoked_now:
            self.pending[key] = max(self.pending.get(key, 0), offset + 1)

    def _leaps(
        self,
        key: tuple[str, int],
        m: Message,
        leapt: dict[tuple[str, int], list[Message]],
        batch: list[tuple[str, bytes | Unreadable]],
    ) -> bool:
        """Whether message ``m`` is held in ``leapt``: in a topic that is not compacted, the
        first after a leap of more than one offset forward, and those that follow on from
        it in the same consume. The first that does not follow on ends the run: when it is
        the offset the leap left (a step back over exactly the run's length), the run is a
        record batch whose base offset was damaged upward within the partition (10 -> 74
        of 100 events: 74-83, then 20), dead-lettered as
        :class:`~stream_al.io.kafka_batches.BatchMisplaced`; else it is handed out (a gap:
        an aborted transaction, say), as at the consume's end."""
        offset, expected = m.offset(), self._next.get(key)
        assert offset is not None
        run = leapt.get(key)
        if run is not None:
            if offset == (run[-1].offset() or 0) + 1:
                run.append(m)
                return True
            del leapt[key]
            assert expected is not None
            if offset == expected + len(run):
                unread = BatchMisplaced(run[0].offset() or 0, expected, offset - 1)
                self._next[key] = offset
                if key not in self._revoked_now:
                    self.pending[key] = max(self.pending.get(key, 0), offset)
                origin = f"{key[0]}:{key[1]}:{expected}"
                log.warning(
                    "%s: %s: not read, dead-lettered; serve goes on after it", origin, unread
                )
                batch.append((origin, Unreadable(unread.reason(expected), "")))
            else:
                self._jumped(key, run[0].offset() or 0)
                for held in run:
                    self._hand_out(batch, key, held)
            return False
        if self.compacted:
            return False
        if expected is None:  # an assignment's first message: its fetch began at the commit
            expected = self._committed(key)
            if expected is None:
                return False
            self._next[key] = expected
        if offset < expected + 2:
            return False
        leapt[key] = [m]
        return True

    def _forget(self, key: tuple[str, int] | None = None) -> None:
        """Forget what serve knows of the corrupt batches of partition ``key`` (all: None):
        it is no longer this consumer's, or is read from another position."""
        states: list[Any] = [
            self._corrupted,
            self._resume,
            self._walking,
            self._passed,
            self._still,
            self._held,
            self._commits,
        ]
        for state in states:
            if key is None:
                state.clear()
            elif isinstance(state, set):
                state.discard(key)
            else:
                state.pop(key, None)

    def _misplaced(self, key: tuple[str, int], offset: int) -> bool:
        """Whether librdkafka handed out ``offset`` at or past the partition's end (its high
        watermark, from the same fetch answer), where no event can be; it is then held
        (:meth:`_placed`).

        A record batch's base offset is before its CRC, checked by no client: a byte
        damaged there on the broker's disk (10 -> 74) had librdkafka hand the batch's events
        out as offsets 74-83, past the end (30), then the next batch's 20-29, and serve
        committed 84 (a restart then reset to auto.offset.reset: every event again, or
        none of those produced meanwhile)."""
        end = self._end(key)
        if not 0 <= end <= offset:
            return False
        held = self._held.setdefault(key, [])
        if not held or offset > held[-1]:  # else the same batch, fetched again
            held.append(offset)
        return True

    def _placed(self, key: tuple[str, int], following: int | None) -> tuple[str, Unreadable] | None:
        """The events held for partition ``key`` (:meth:`_misplaced`), now that ``following``
        (None: the consume's end) came after them, as one unreadable that names the offsets
        they have (:class:`~stream_al.io.kafka_batches.BatchMisplaced`), or None.

        They begin at the offset after the last message handed out (the partition's fetch
        began there: for the first messages of an assignment, its committed offset, read
        then), when ``following`` (or, at the consume's end, the high watermark alone: the
        partition's last batch) leaves room for them there; else they are a batch whose
        events were handed out or dead-lettered already, fetched again because the broker's
        lookup of an offset trusts the damaged header (a fetch of 30 is answered from the
        batch that says 74-83 on), dropped. Held to a consume's end with room after them,
        they stay held, and the partition is fetched again from where they begin (the same
        batch comes first again, dropped as held already, then what follows it). Placed at a
        consume's end, the partition is sought past them: librdkafka's position is then
        past the batch's header offsets (84), which the broker answers out of range (a reset
        to ``auto.offset.reset``)."""
        held = self._held.get(key)
        if not held:
            return None
        first = self._next.get(key)
        if first is None:
            first = self._committed(key)
            if first is not None:
                self._next[key] = first
        bound = following if following is not None else self._end(key)
        topic, partition = key
        if following is None and first is not None and bound > first + len(held):
            self._seek(key, first)  # more may follow: fetched again, the next consume says
            return None
        del self._held[key]
        if first is None:
            log.warning(
                "%s:%d: offsets %d-%d handed out past the partition's end (%d), where no event "
                "can be (a damaged base offset), and no offset known to place them: dropped",
                topic,
                partition,
                held[0],
                held[-1],
                self._end(key),
            )
            return None
        if bound < first + len(held):
            log.debug(
                "%s:%d: offsets %d-%d handed out again (a damaged base offset): dropped",
                topic,
                partition,
                held[0],
                held[-1],
            )
            return None
        last = first + len(held) - 1
        unread = BatchMisplaced(held[0], first, last)
        self._next[key] = last + 1
        if key not in self._revoked_now:
            self.pending[key] = max(self.pending.get(key, 0), last + 1)
        if following is None:
            self._seek(key, last + 1)
        origin = f"{topic}:{partition}:{first}"
        log.warning("%s: %s: not read, dead-lettered; serve goes on after it", origin, unread)
        return origin, Unreadable(unread.reason(first), "")

    def _seek(self, key: tuple[str, int], offset: int) -> None:
        try:
            self.consumer.seek(TopicPartition(key[0], key[1], offset))
        except (KafkaException, RuntimeError) as exc:
            log.warning("%s:%d: cannot seek to offset %d: %s", *key, offset, exc)

    def _jumped(self, key: tuple[str, int], offset: int) -> None:
        """Say offsets skipped before ``offset`` in a topic that is not compacted, and a
        step back; the message is handed out as before (at-least-once: nothing lost).

        librdkafka drops the records of an answer below the offset it fetched: a batch whose
        base offset was damaged lower (10 -> 2, fetched from 10) lost its events 10-17
        without a word, handed out 18 and 19 as offsets 10 and 11, and the next batch from
        20 on. The gap (12-19) is all a consumer of messages sees. A transaction's commit
        marker leaves a gap of one offset too (an aborted transaction's records, more, in
        ``read_committed``), so a gap of one is said at debug only; larger ones are said
        (aborted transactions are rare). Fetched from before it, the same batch comes after
        offset 9 as 2-11: a step back, said."""
        expected = self._next.get(key)
        if expected is None or offset == expected:
            return
        topic, partition = key
        if offset < expected:
            log.warning(
                "%s:%d: librdkafka handed out offset %d after offset %d: a record batch whose "
                "base offset is damaged on the broker's disk (check the broker's log and "
                "disk), or the position reset; handed out as they come",
                topic,
                partition,
                offset,
                expected - 1,
            )
            return
        if self.compacted:
            return
        log.log(
            logging.DEBUG if offset == expected + 1 else logging.WARNING,
            "%s:%d: offsets %d-%d (%d) were not handed out by librdkafka, in a topic that is "
            "not compacted: an aborted transaction's records, events deleted by retention "
            "before they were read, or events lost to a record batch whose base offset is "
            "damaged on the broker's disk (then the events handed out just before are "
            "misplaced as well: check the broker's log and disk)",
            topic,
            partition,
            expected,
            offset - 1,
            offset - expected,
        )

    def _committed(self, key: tuple[str, int]) -> int | None:
        """The group's committed offset of partition ``key`` (at its first message after an
        assignment, in a topic that is not compacted), or None: none committed, or outside
        the partition's offsets (cached), where librdkafka's fetch began at
        ``auto.offset.reset`` instead (retention deleted it, say).

        The first partition asked for reads those of every assigned partition not yet begun
        in one request: one a partition made a rebalance of many partitions wait on the
        coordinator as many times."""
        if key not in self._commits:
            wanted = {key} | {
                (t.topic, t.partition) for t in self.consumer.assignment()
            } - self._next.keys()
            try:
                answer = self.consumer.committed(
                    [TopicPartition(*k) for k in sorted(wanted)], timeout=CONNECT_TIMEOUT_S
                )
            except (KafkaException, RuntimeError, ValueError) as exc:
                log.warning("%s:%d: cannot read the committed offset: %s", *key, exc)
                return None
            self._commits.update({(t.topic, t.partition): int(t.offset) for t in answer})
        offset = self._commits.pop(key, -1)
        try:
            marks = self.consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
        except (KafkaException, RuntimeError, ValueError) as exc:
            log.warning("%s:%d: cannot read the partition's offsets: %s", *key, exc)
            return None
        low, high = marks if marks else (-1, -1)
        return offset if 0 <= low <= offset <= high else None

    def _astray_error(self, m: Message, sought: set[tuple[str | None, int | None]]) -> bool:
        """Whether the error ``m`` is one of those librdkafka gives after a corrupt batch, to
        be dropped: the same batch's again from a fetch made before serve went past it (the
        partition is then sought back to where serve is), or what its reader says of the
        bytes it misread (see :meth:`_batch`; :data:`MISREAD`), for :data:`ASTRAY_S`
        after."""
        topic, partition, err = m.topic(), m.partition(), m.error()
        if topic is None or partition is None or err is None:
            return False
        key = (topic, partition)
        if key not in self._corrupted:
            return False
        if _corrupt(err):
            after = self._next.get(key)
            if after is None or m.offset() not in self._passed.get(key, ()):
                return False
            sought.add(key)
            self._seek(key, after)
            return True
        watch = self._resume.get(key)
        return watch is not None and time.monotonic() <= watch[1] and err.code() in MISREAD

    def _astray(
        self, key: tuple[str, int], offset: int, sought: set[tuple[str | None, int | None]]
    ) -> bool:
        """Whether the message at ``offset`` of a partition that held a corrupt batch is one
        librdkafka fetched from where it went astray: then the partition is sought back to
        the offset after the last message handed out (and the rest of it in this consume
        dropped, see :meth:`_batch`).

        Its reader, misled inside the corrupt batch (see :meth:`_batch`), takes bytes there
        for a batch at an offset past the partition's end and fetches from it; the broker
        answers out of range and librdkafka resets the position to ``auto.offset.reset``,
        a reset for each time the batch was fetched, some landing after serve's seek past
        the batch, even after the events that follow it: the partition's first events came
        again, the corrupt batch was dead-lettered again and the group's offset committed
        back (earliest; seen in 2 runs of 11), or the events after the corrupt batch would be
        skipped (latest).
        A message before the next offset is such a one (they were handed out already), for
        as long as the partition stays assigned; and, within :data:`ASTRAY_S` of the last
        corrupt batch, one at or past the end the partition had then, events lying between
        (a few times at most: a partition whose events there were deleted by compaction or
        aborted has nothing else to give)."""
        after = self._next.get(key)
        if after is None:
            return False
        jumped = offset < after
        watch = self._resume.get(key)
        if not jumped and watch is not None:
            end, until, left = watch
            if time.monotonic() > until or left <= 0:
                del self._resume[key]
            elif after < end <= offset:
                jumped = True
                self._resume[key] = (end, until, left - 1)
        if not jumped:
            return False
        sought.add(key)
        log.debug("%s:%d: offset %d fetched astray, back to %d", *key, offset, after)
        self._seek(key, after)
        return True

    def _stranded(self) -> None:
        """Seek back each partition that held a corrupt batch and has stood still for
        :data:`STRANDED_S` (and :data:`STRANDED_POLLS` polls) while librdkafka's fetch
        position (its statistics) lies past serve's next offset.

        librdkafka's reset after misreading a corrupt batch (see :meth:`_astray`) may land
        on the partition's end: with ``auto.offset.reset=latest`` and no event produced
        after, no message comes for :meth:`_astray` to see, and the events after the
        batch were never read (CI: 6 of 10 dead-lettered, then nothing for 60 s, no stall
        either, as the lag is taken from that fetch position until a message comes).
        A seek to where serve is loses nothing when it was not needed: what was fetched
        ahead is fetched again. At most :data:`RESEEKS` seeks while the partition does not
        move (one ending in a transaction's marker stands before its fetch position).
        """
        now, polls_made = time.monotonic(), self.stalled_partitions.polls_made
        for key in self._corrupted:
            after = self._next.get(key)
            if after is None:
                continue
            still = self._still.get(key)
            if still is None or still[0] != after:
                self._still[key] = (after, now, polls_made, RESEEKS)
                continue
            _, since, polls, left = still
            if (
                left <= 0
                or now - since < STRANDED_S
                or polls_made - polls < STRANDED_POLLS
                or self.fetching.get(key, -1) <= after
            ):
                continue
            self._still[key] = (after, now, polls_made, left - 1)
            log.info(
                "%s:%d: librdkafka fetches from offset %d, past the events after the corrupt "
                "batch: back to offset %d",
                *key,
                self.fetching[key],
                after,
            )
            self._seek(key, after)

    def _past(
        self, m: Message, err: KafkaError, corrupt: bool = False
    ) -> tuple[str, Unreadable] | None:
        """The event at the offset of ``m``, an error of a record batch librdkafka could not
        decompress, as unreadable, and the partition moved past it; None when ``m`` names no
        offset, its partition was revoked in this consume, or the seek failed (the error is
        raised, waited out, and met again while the partition is this consumer's).

        librdkafka names the batch's first offset and fetches the batch again, failing
        again, for ever: a batch of zstd or lz4 that inflates beyond
        ``receive.message.max.bytes`` (:data:`~stream_al.io.base.MAX_BATCH_BYTES`),
        or one that is no valid stream of its codec. The event after the last one handed
        out of the partition (or at the batch's first offset) is dead-lettered and the
        partition seeks past it: the broker's answer for the next offset starts with the
        same batch when it holds more events, each dead-lettered in turn.

        So for a ``corrupt`` batch (its CRC-32C check failed, :func:`_corrupt`): librdkafka
        names its first offset, not its last, and the offsets after the first cannot be
        taken from a header the check failed on.
        """
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        if topic is None or partition is None or offset is None or offset < 0:
            return None
        key = (topic, partition)
        if key in self._revoked_now:
            return None
        first = max(offset, self._next.get(key, offset))
        try:
            self.consumer.seek(TopicPartition(topic, partition, first + 1))
        except (KafkaException, RuntimeError) as exc:
            log.warning("%s:%d: cannot seek past offset %d: %s", topic, partition, first, exc)
            return None
        self._next[key] = first + 1
        self.pending[key] = max(self.pending.get(key, 0), first + 1)
        origin = f"{topic}:{partition}:{first}"
        if corrupt:
            self._corrupted.add(key)
            self._walking[key] = offset
            self._resume[key] = (self._end(key), time.monotonic() + ASTRAY_S, RESEEKS)
            reason = (
                f"the event at offset {first} is in a corrupt record batch (at offset "
                f"{offset}): CRC mismatch, not read (the bytes the broker holds are not those "
                "the producer wrote: a bad disk or a torn write on the broker; send the event "
                f"again if it matters; librdkafka: {err.str()})"
            )
        else:
            reason = (
                f"the record batch of this event (at offset {offset}) could not be read: "
                f"{err.str()} (librdkafka refuses a zstd or lz4 batch that inflates to more "
                f"than {MAX_BATCH_BYTES:,} bytes, its receive.message.max.bytes; an event may "
                "have max_event_bytes): the producer of these events compresses far more than "
                "events take, or writes batches no consumer can read"
            )
        log.warning("%s: %s: not read, dead-lettered; serve goes on after it", origin, err.str())
        return origin, Unreadable(reason, "")

    def _end(self, key: tuple[str, int]) -> int:
        """The end of partition ``key`` as librdkafka last saw it (no request), or -1."""
        try:
            marks = self.consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
        except (KafkaException, RuntimeError):
            return -1
        return int(marks[1]) if marks else -1

    def commit(self) -> None:
        """Commit the offsets after every message polled since the last commit (and no
        further); nothing to commit is no error. Waits at most
        :data:`~stream_al.io.base.COMMIT_TIMEOUT_S`, then raises :class:`ConfluentError`
        and waits for the same commit at the next call. A batch whose commit has failed
        (unanswered, or a retriable error) for :data:`COMMIT_STUCK_S` is given up with its
        consumer (:class:`_Commit`)."""
        if not self.pending:  # a revoke may have emptied it after failed commits
            self._failing_since = None
            return
        if self.orphaned:  # no coordinator to commit to: the batch comes again
            self._renew()
            return
        call = self._committing
        if call is None:
            call = self._committing = _Commit(self.consumer, commit_offsets(self.pending))
        if not call.wait(COMMIT_TIMEOUT_S):
            waited = time.monotonic() - call.started
            self._raise_or_give_up(
                ConfluentError(f"commit: no answer from the group coordinator in {waited:.0f} s"),
                call.started,
            )
            return
        self._committing = None
        err: KafkaError | None = None
        if isinstance(call.error, KafkaException):
            err = _error_of(call.error)
        elif isinstance(call.error, RuntimeError):  # closed
            raise ConfluentError(f"commit: {call.error}") from call.error
        elif call.error is not None:  # not librdkafka's: a bug, raised as it was
            raise call.error
        else:
            failed = [t for t in call.result or () if t.error is not None]
            if failed:
                err = failed[0].error
        if err is not None and err.code() in MEMBERSHIP_LOST:
            log.warning("commit refused (%s): the batch will be consumed again", err)
            self._settled()
            return
        if err is not None or call.error is not None:
            try:
                _raise_for(err, "commit", call.error)
            except ConfluentFatalError:
                raise
            except ConfluentError as exc:
                self._raise_or_give_up(exc, call.started)
                return
        self._settled()

    def _settled(self) -> None:
        """The batch waits for no commit any more: committed, or to be consumed again."""
        self.pending.clear()
        self._failing_since = None

    def _raise_or_give_up(self, exc: ConfluentError, started: float) -> None:
        """Raise ``exc`` for the loop to retry the commit (its attempt ``started`` then), or,
        once the batch's commit has failed for :data:`COMMIT_STUCK_S`, give it up with the
        consumer."""
        if self._failing_since is None:
            self._failing_since = started
        failing = time.monotonic() - self._failing_since
        if failing < COMMIT_STUCK_S or self._config is None:
            raise exc
        log.warning(
            "commit: failing for %.0f s (%s): a new consumer replaces this one "
            "(the events since the last commit are consumed again)",
            failing,
            exc,
        )
        self._renew()

    def lag(self) -> dict[int, int]:
        """Events not yet consumed, per assigned partition.

        From the high watermark librdkafka last saw (``cached=True``) and the local
        position; after a seek (which unsets it) the offset serve sought; before the
        partition has handed out a message, the offset librdkafka fetches (its statistics:
        a partition that has never been served shows its lag, and its stall, as on
        kafka-python): no request to the broker. Partitions not fetched yet are left out.
        Each look feeds :attr:`stalled_partitions`.
        """
        seen: dict[tuple[str, int], tuple[int, int]] = {}
        with _converted("lag"):
            positions = self.consumer.position(self.consumer.assignment())
            for t in positions:
                key = (t.topic, t.partition)
                position = t.offset
                if position < 0:  # a fetch position past a seek could hide what is unread
                    position = self._next.get(key, self.fetching.get(key, -1))
                if position < 0:  # nothing consumed or fetched yet
                    continue
                marks = self.consumer.get_watermark_offsets(t, cached=True)
                if not marks or marks[1] < 0:
                    continue
                seen[key] = (position, marks[1])
        self.stalled_partitions.look(seen)
        return {p: max(0, high - position) for (_, p), (position, high) in seen.items()}

    def stalled(self) -> int:
        """How many assigned partitions had stopped being served at the last :meth:`lag`
        (:class:`~stream_al.io.stalled.StalledPartitions`)."""
        return self.stalled_partitions.stalled

    def rewind(self) -> list[str]:
        """Consume the assigned partitions from their beginning (see
        :meth:`stream_al.io.base.EventSource.rewind`): librdkafka's seek drops the messages
        fetched ahead from the old positions, and the next fetch asks for the earliest
        offsets."""
        with _converted("rewind"):
            partitions = sorted(self.consumer.assignment(), key=lambda t: (t.topic, t.partition))
            for t in partitions:
                # Nothing is pending between turns; an old offset left here would be
                # committed over the new topic's (pending keeps the highest offset).
                self.pending.pop((t.topic, t.partition), None)
                self._next.pop((t.topic, t.partition), None)
                self._forget((t.topic, t.partition))
                # Fetched from the beginning now, not from the committed offset: no offset
                # is known to place the first message (_committed).
                self._commits[(t.topic, t.partition)] = -1
                self.consumer.seek(TopicPartition(t.topic, t.partition, OFFSET_BEGINNING))
        return [_tp(t) for t in partitions]

    def assignment(self) -> set[tuple[str, int]]:
        with _converted("assignment"):
            return {(t.topic, t.partition) for t in self.consumer.assignment()}

    def close(self) -> None:
        """Leave the group; commits nothing (auto-commit is off). Errors are only logged:
        what was done is committed already. A consumer whose commit has not returned is
        closed when it returns (:meth:`_Commit.abandon`), not under it."""
        self._let_go()

    def _let_go(self, aside: bool = False) -> None:
        """Close the consumer, or have the thread of a commit it has not returned from
        close it once it does (:meth:`_Commit.abandon`). ``aside``: in a thread of its own,
        for a consumer being replaced: librdkafka's close waits for a group coordinator, for
        ever if its lookup never resolves (its issue 3740), and the loop must not."""
        if self._committing is None:
            if aside:
                threading.Thread(
                    target=_closed, args=(self.consumer,), name="stream-al-close", daemon=True
                ).start()
            else:
                _closed(self.consumer)
            return
        self._committing.abandon()
        self._committing = None


Failed = tuple[str, bytes | None, bytes]
"""A message whose delivery failed: ``(topic, key, value)``."""

# The broker refused a message, or its batch, as larger than the topic takes: sent again
# as it was, it is refused again, for ever.
TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})

BATCH_BYTES = 1_000_000
"""librdkafka's producer batches up to this many bytes (its ``batch.size`` default)."""


class ConfluentPublisher:
    """Predictions and dead letters to their topics; :meth:`flush` waits for the broker and
    raises if anything since the last flush was not delivered."""

    def __init__(self, settings: KafkaSettings, producer: Any = None) -> None:
        self.settings = settings
        self.errors = _Errors("producer")
        self._config: dict[str, Any] | None = None  # None: the producer was given
        if producer is None:
            self._config = config = {
                **settings.librdkafka_config(),
                "client.id": f"{settings.client_id}-producer",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": settings.delivery_timeout_ms,
                "request.timeout.ms": min(30_000, settings.delivery_timeout_ms - 5),
                "error_cb": self.errors,
                "logger": librdkafka_client_log,
                # Once a second, whether a broker is left to connect to (no_broker_left()).
                "statistics.interval.ms": 1000,
                "stats_cb": self._stats,
            }
            producer = _constructed(Producer, config)
            _connected(producer, settings)
        self.producer = producer
        self.failed: list[Failed] = []
        self.too_large: list[Failed] = []  # refused as larger than the topic takes
        self.last_error: KafkaError | None = None
        self.orphaned = False  # no broker left to connect to (statistics, see no_broker_left())

    def _stats(self, stats: str) -> None:
        try:
            brokers = list(json.loads(stats).get("brokers", {}).values())
        except (ValueError, AttributeError):
            return
        self.orphaned = self._config is not None and no_broker_left(brokers)

    def _renew(self) -> None:
        """A new producer in place of one left with no broker (see :func:`no_broker_left`): what
        the old one still held is purged into :attr:`failed`, which the flush sends again."""
        assert self._config is not None
        renewed = _replacement(Producer, self._config, "producer")
        try:
            self.producer.purge()
            self.producer.poll(0)  # the purged messages' delivery reports: into self.failed
        except (KafkaException, RuntimeError) as exc:
            log.warning("producer purge: %s", exc)
        self.producer, self.orphaned = renewed, False

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        topic = msg.topic()
        value = msg.value()
        assert topic is not None
        failed = self.too_large if err.code() in TOO_LARGE else self.failed
        failed.append((topic, msg.key(), value or b""))
        self.last_error = err
        if err.fatal():
            self.errors.fatal = err

    def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        full_until: float | None = None
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: serve deliveries, then again
                now = time.monotonic()
                full_until = full_until or now + SEND_BLOCK_S
                if now >= full_until:  # for a while: the broker is away (kafka-python's bound)
                    raise ConfluentError(
                        f"produce to {topic}: the local queue stayed full for {SEND_BLOCK_S:g} s"
                    ) from None
                self.producer.poll(0.1)
            except KafkaException as exc:
                _raise_for(_error_of(exc), f"produce to {topic}", exc)
        self.producer.poll(0)  # delivery callbacks

    def prediction(self, key: str, payload: str) -> None:
        if self.settings.predictions_topic:
            self._produce(self.settings.predictions_topic, key.encode(), payload.encode())

    def send(self, payload: str, key: str | None = None) -> None:
        """A dead letter (the :class:`~stream_al.io.base.DeadLetterSink` interface)."""
        self._produce(
            self.settings.dead_letter_topic, None if key is None else key.encode(), payload.encode()
        )

    def _resend(self, messages: Iterable[Failed]) -> None:
        todo = list(messages)
        for i, (topic, key, value) in enumerate(todo):
            try:
                self._produce(topic, key, value)
            except BaseException:
                self.failed = todo[i:] + self.failed  # not sent: still to send
                raise

    def flush(
        self, timeout: float | None = 30.0, give_up: Callable[[], bool] | None = None
    ) -> None:
        """Send again what failed before, wait for every delivery; raise
        :class:`ConfluentError` if a delivery failed (that message is sent again by the
        next flush), or a message is still undelivered after ``timeout`` seconds or when
        ``give_up()`` says so (see :func:`~stream_al.io.base.wait_in_slices`).

        Messages the broker refused as larger than their topic takes are sent again one at
        a time (:meth:`_send_alone`)."""
        self.errors.check()
        if self.orphaned:
            self._renew()
        resend, self.failed = self.failed, []
        if resend:
            log.info("sending %d undelivered messages again", len(resend))
            self._resend(resend)
        started, remaining = time.monotonic(), 0

        def flushed(seconds: float) -> bool:
            nonlocal remaining
            remaining = self.producer.flush(seconds)
            return remaining == 0 or self.orphaned

        with _converted("flush"):
            done = wait_in_slices(flushed, timeout, give_up)
        self.errors.check()
        if remaining and self.orphaned:
            raise ConfluentError(
                f"{remaining} messages not delivered: librdkafka has no broker left; "
                "the next flush sends them again with a new producer"
            )
        if not done:
            raise ConfluentError(
                f"{remaining} messages not delivered after {time.monotonic() - started:.1f} s; "
                "the next flush waits for them again"
            )
        if self.too_large and not self.failed:
            self._send_alone(timeout, give_up)
        if self.failed:
            raise ConfluentError(
                f"{len(self.failed)} messages not delivered ({self.last_error}); "
                "they are sent again on the next flush"
            )

    def _send_alone(self, timeout: float | None, give_up: Callable[[], bool] | None) -> None:
        """The messages refused as larger than their topic takes, each alone
        (:func:`~stream_al.io.too_large.send_each_alone`)."""

        def flushed(seconds: float) -> bool:
            return bool(self.producer.flush(seconds) == 0)

        def wait() -> bool:
            with _converted("flush"):
                done = wait_in_slices(flushed, timeout, give_up)
            self.errors.check()
            return done

        send_each_alone(
            self,
            self._produce,
            wait,
            self.settings.dead_letter_topic,
            BATCH_BYTES,
            ConfluentError,
        )

    def close(self, timeout: float = 10.0) -> None:
        try:
            remaining = self.producer.flush(timeout)
            if remaining:  # dropped: their batch is not committed, so it comes again
                self.producer.purge()
        except (KafkaException, RuntimeError) as exc:
            log.warning("producer close: %s", exc)
            return
        if remaining or self.failed or self.too_large:
            log.warning(
                "producer closed with %d messages undelivered (their batch was not committed)",
                remaining + len(self.failed) + len(self.too_large),
            )


# The events topic's id could not be read: gone since the listing, or not to be described
# by this client. The look goes on without it.
NO_TOPIC_ID = CONFIG_UNREADABLE | {KafkaError.UNKNOWN_TOPIC_OR_PART}

_UINT64 = (1 << 64) - 1


class ConfluentTopicCatalog:
    """Which topics exist and whether the broker creates missing ones (the
    :class:`~stream_al.io.base.TopicCatalog` interface, librdkafka's admin client); and the
    events topic's id (describe-topics: librdkafka's metadata gives no topic ids)."""

    def __init__(self, settings: KafkaSettings, admin: Any = None) -> None:
        if admin is None:
            config = {**settings.librdkafka_config(), "logger": librdkafka_client_log}
            admin = _constructed(AdminClient, config)
        self.admin = admin
        self.followed = settings.events_topic

    def describe(self) -> ClusterTopics:
        # All topics, not the few serve needs: librdkafka's admin client is a producer,
        # whose metadata request for a named topic may create it.
        with _converted("list topics"):
            metadata = self.admin.list_topics(timeout=CONNECT_TIMEOUT_S)
        auto_create, unread = self._auto_create(sorted(metadata.brokers))
        ids = {}
        if self.followed in metadata.topics:
            topic_id = self._topic_id(self.followed)
            if topic_id is not None:
                ids[self.followed] = topic_id
        return ClusterTopics(frozenset(metadata.topics), auto_create, unread, ids)

    def _topic_id(self, topic: str) -> str | None:
        """``topic``'s id, or None (gone, not to be described, or an old broker).
        describe-topics never creates a topic."""
        try:
            futures = self.admin.describe_topics(
                TopicCollection([topic]), request_timeout=CONNECT_TIMEOUT_S
            )
            described = futures[topic].result(timeout=CONNECT_TIMEOUT_S + 1)
        except KafkaException as exc:
            err = _error_of(exc)
            if err is not None and err.code() in NO_TOPIC_ID:
                return None
            _raise_for(err, f"describe topic {topic}", exc)
        except TimeoutError as exc:
            raise ConfluentError(f"describe topic {topic}: {exc}") from exc
        uuid = described.topic_id
        if uuid is None:
            return None
        high, low = uuid.get_most_significant_bits(), uuid.get_least_significant_bits()
        return topic_id_text((((high & _UINT64) << 64) | (low & _UINT64)).to_bytes(16, "big"))

    def _auto_create(self, brokers: list[int]) -> tuple[bool | None, str]:
        """The broker's setting, or None and why it could not be read."""
        if not brokers:
            return None, "the cluster named no broker"
        wanted = ConfigResource(ResourceType.BROKER, str(brokers[0]))
        try:
            futures = self.admin.describe_configs([wanted], request_timeout=CONNECT_TIMEOUT_S)
            entries = next(iter(futures.values())).result(timeout=CONNECT_TIMEOUT_S + 1)
        except KafkaException as exc:
            err = _error_of(exc)
            if err is not None and err.code() in CONFIG_UNREADABLE:
                return None, f"{err.name()}: {err.str()}"
            _raise_for(err, "describe the broker's configuration", exc)
        except TimeoutError as exc:
            raise ConfluentError(f"describe the broker's configuration: {exc}") from exc
        entry = entries.get(AUTO_CREATE_TOPICS)
        if entry is None:
            return None, f"the broker did not report {AUTO_CREATE_TOPICS}"
        return bool(entry.value == "true"), ""

    def close(self) -> None:
        """librdkafka's admin client has no close: it is freed with its last reference."""
        self.admin = None
