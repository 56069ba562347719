"""serve's topic check: it consumes nothing while a topic it needs is missing for good.

Before serve polls its first event it learns which of its Kafka topics exist and whether
the broker creates a missing one at its first use (``auto.create.topics.enable``, read
with the admin API's describe-configs). A topic that does not exist on a broker that will
not create it (many managed clusters) stopped nothing before: a missing events topic left
serve idle and ready, and a missing predictions or dead-letter topic made each send wait
for the topic's metadata, seen as a Kafka outage that named no topic. Now serve waits
instead: ``/readyz`` answers 503 naming the missing topics, their settings and how to
create them; the log says the same once, and again every :data:`REMIND_EVERY_S` seconds;
serve asks again every :data:`RECHECK_S` seconds and goes on once they exist. Nothing is
polled meanwhile, so nothing is lost.

While serve runs, a topic may be deleted. The loop does not look at topics as it turns
(that would cost every batch); :class:`TopicWatch` looks when the loop is waiting anyway:
after a Kafka call failed, or while a flush waits, at most every :data:`RECHECK_S`
seconds; and between turns, idle or busy, every :data:`IDLE_RECHECK_S` (a deleted events
topic fails no call: the consumer just gets nothing). What it finds is told as at start
(``/readyz``, the log, ``stream_al_topics_missing``); the loop holds the batch in hand
until a predictions or dead-letter topic exists again.

The events topic may also be deleted and created again between two looks (by a broker
that creates topics at their first use, a producer's send does it at once). The
consumer's positions are the old topic's, valid offsets in the new one: librdkafka kept
them (confluentinc/librdkafka#3255) and skipped the new topic's first events without a
word; kafka-python rejoined with no position when its metadata showed the topic gone
before it was created again, a race it need not win. The topic's name
says nothing; its id (KIP-516) changes. Each look reads the events topic's id too (a
topic id is in neither client's consumer metadata nor messages: nothing cheaper tells it
on the hot path), and :attr:`TopicWatch.recreated` says when it differs from the last one
seen; the loop then consumes its partitions from the new topic's beginning
(:meth:`~stream_al.io.base.EventSource.rewind`).

When the broker's setting cannot be read (no DescribeConfigs permission on the cluster,
as on many secured clusters) serve says so in the log and judges by existence only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import NamedTuple

from stream_al.config import KafkaSettings
from stream_al.io.base import AUTO_CREATE_TOPICS, ClusterTopics, TopicCatalog
from stream_al.runtime.backoff import RECOVERABLE
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics

__all__ = [
    "IDLE_RECHECK_S",
    "RECHECK_S",
    "REMIND_EVERY_S",
    "Recreated",
    "TopicCheck",
    "TopicWatch",
    "missing_topics",
    "missing_topics_reason",
    "serve_topics",
]

log = logging.getLogger("stream_al.serve")

RECHECK_S = 2.0
"""Seconds between two looks at the cluster's topics while one is missing (a metadata
request and a describe-configs: cheap, and serve starts within this long of the topic)."""

IDLE_RECHECK_S = 30.0
"""Seconds between two looks at the topics between turns (serve idle or busy) when none was
missing at the last look: a deleted events topic is named within about this long (as long
as its consumer takes to see it: :data:`~stream_al.io.base.METADATA_REFRESH_MS`), and one
deleted and created again is seen by its new id within this long."""

REMIND_EVERY_S = 60.0
"""Seconds after which the log repeats that a topic is missing (once per attempt would be
a line every two seconds)."""

EVENTS_SETTING = "STREAM_AL_KAFKA__EVENTS_TOPIC"


def serve_topics(kafka: KafkaSettings, publish_predictions: bool = True) -> dict[str, str]:
    """The topics serve reads and writes, each with the setting (or settings) that name it:
    the events topic, the predictions topic (unless empty or not published) and the
    dead-letter topic.

    >>> topics = serve_topics(KafkaSettings(dead_letter_topic="dlq"), publish_predictions=False)
    >>> list(topics), topics["dlq"]
    (['stream-al.events', 'dlq'], 'STREAM_AL_KAFKA__DEAD_LETTER_TOPIC')

    """
    named = [(kafka.events_topic, EVENTS_SETTING)]
    if publish_predictions and kafka.predictions_topic:
        named.append((kafka.predictions_topic, "STREAM_AL_KAFKA__PREDICTIONS_TOPIC"))
    named.append((kafka.dead_letter_topic, "STREAM_AL_KAFKA__DEAD_LETTER_TOPIC"))
    topics: dict[str, str] = {}
    for topic, setting in named:
        topics[topic] = f"{topics[topic]}, {setting}" if topic in topics else setting
    return topics


def missing_topics(
    needed: Iterable[str], existing: Collection[str], auto_create: bool | None
) -> list[str]:
    """The topics of ``needed`` that do not exist and that the broker will not create at
    their first use, in order. ``auto_create`` is the broker's setting; None (it could not
    be read) judges by existence only.

    >>> missing_topics(["events", "predictions"], {"events"}, auto_create=False)
    ['predictions']
    >>> missing_topics(["events", "predictions"], set(), auto_create=True)
    []
    >>> missing_topics(["events"], set(), auto_create=None)
    ['events']

    """
    if auto_create:
        return []
    return [topic for topic in dict.fromkeys(needed) if topic not in existing]


def missing_topics_reason(
    missing: Mapping[str, str], bootstrap: str, auto_create: bool | None, unread: str = ""
) -> str:
    """What ``/readyz`` and the log say while topics are missing: which (with the settings
    that name them, a misspelt name shows), why they will not be created, and the commands
    that create them.

    ``missing`` maps each missing topic to its settings (see :func:`serve_topics`);
    ``unread`` says why ``auto_create`` is None.

    >>> print(missing_topics_reason({"ev": EVENTS_SETTING}, "k:9092", auto_create=False))
    kafka topic ev (STREAM_AL_KAFKA__EVENTS_TOPIC) does not exist, and the broker does not \
create topics (auto.create.topics.enable=false): serve consumes nothing until it does. \
Create it: kafka-topics.sh --bootstrap-server k:9092 --create --topic ev --partitions N \
(N: at least the number of serve replicas)

    """
    many = len(missing) > 1
    names = ", ".join(f"{topic} ({settings})" for topic, settings in missing.items())
    if auto_create is None:
        why = f"whether the broker creates topics could not be read ({unread or 'unknown'})"
    else:
        why = f"the broker does not create topics ({AUTO_CREATE_TOPICS}=false)"
    commands = []
    for topic, settings in missing.items():
        command = f"kafka-topics.sh --bootstrap-server {bootstrap} --create --topic {topic}"
        if EVENTS_SETTING in settings:
            command += " --partitions N (N: at least the number of serve replicas)"
        commands.append(command)
    return (
        f"kafka topic{'s' if many else ''} {names} {'do' if many else 'does'} not exist, and "
        f"{why}: serve consumes nothing until {'they do' if many else 'it does'}. "
        f"Create {'them' if many else 'it'}: {'; '.join(commands)}"
    )


class TopicCheck:
    """serve's wait for its topics (see the module doc).

    Parameters
    ----------
    needed
        The topics serve needs, each with the settings that name it (:func:`serve_topics`).
    bootstrap
        The bootstrap servers, for the commands the reason gives.
    health
        Not ready, with the reason, while a topic is missing; beaten meanwhile, since the
        process is alive and doing what it should.
    metrics
        ``stream_al_topics_missing`` counts the missing topics.
    recheck_s
        Seconds between two looks at the cluster.
    remind_every_s
        Seconds after which the log repeats an unchanged reason.
    clock
        Monotonic seconds.

    """

    def __init__(
        self,
        needed: Mapping[str, str],
        bootstrap: str,
        health: Health,
        metrics: Metrics | None = None,
        *,
        recheck_s: float = RECHECK_S,
        remind_every_s: float = REMIND_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.needed = dict(needed)
        self.bootstrap = bootstrap
        self.health = health
        self.metrics = metrics
        self.recheck_s = recheck_s
        self.remind_every_s = remind_every_s
        self.clock = clock
        self._said: tuple[str, float] | None = None  # the reason last logged, and when
        self.found: ClusterTopics | None = None
        """What the last look found."""
        self._told_absent: list[str] = []  # absent topics the broker will create, said
        self._told_unread = False

    def verdict(self, found: ClusterTopics) -> str | None:
        """Why serve may not consume yet (None: it may), told to ``/readyz`` and the log."""
        self.found = found
        if found.auto_create is None and not self._told_unread:
            self._told_unread = True
            log.info(
                "could not read the broker's %s (%s): kafka topics are judged by their "
                "existence only",
                AUTO_CREATE_TOPICS,
                found.unread or "unknown",
            )
        missing = missing_topics(self.needed, found.existing, found.auto_create)
        if self.metrics is not None:
            self.metrics.topics_missing.set(len(missing))
        if not missing:
            self._satisfied(found)
            return None
        reason = missing_topics_reason(
            {topic: self.needed[topic] for topic in missing},
            self.bootstrap,
            found.auto_create,
            found.unread,
        )
        self.health.set_ready(False, reason)
        self.health.beat()
        now = self.clock()
        if (
            self._said is None
            or self._said[0] != reason
            or now - self._said[1] >= (self.remind_every_s)
        ):
            log.warning("%s", reason)
            self._said = (reason, now)
        return reason

    def _satisfied(self, found: ClusterTopics) -> None:
        absent = [topic for topic in self.needed if topic not in found.existing]
        if absent and absent != self._told_absent:  # auto_create: made at their first use
            log.info(
                "kafka topics %s do not exist yet: the broker creates them at their first "
                "use (%s=true)",
                ", ".join(absent),
                AUTO_CREATE_TOPICS,
            )
        elif not absent and self._said is not None:
            log.info("kafka topics %s exist now: serve goes on", ", ".join(self.needed))
            self._said = None
        self._told_absent = absent

    def wait(
        self,
        describe: Callable[[], ClusterTopics | None],
        stopping: Callable[[], bool],
        sleep: Callable[[float], None] = time.sleep,
    ) -> bool:
        """Look at the cluster until no topic is missing (True), or until ``stopping()``
        (False). ``describe()`` waits out Kafka outages itself and returns None when it
        was asked to stop meanwhile."""
        while not stopping():
            found = describe()
            if found is None:
                return False
            if self.verdict(found) is None:
                return True
            sleep(self.recheck_s)
        return False


class Recreated(NamedTuple):
    """The events topic was deleted and created again: its id before and now."""

    topic: str
    old_id: str
    new_id: str


class TopicWatch:
    """serve's look at its topics while it runs (see the module doc): only when the loop
    asks, and at most every ``check.recheck_s`` seconds; the verdict, and what ``/readyz``,
    the log and the gauge say, are ``check``'s. It follows the events topic's id too:
    :attr:`recreated` says when it changed.

    Parameters
    ----------
    check
        The start-up's check, the same rules and the same voice.
    catalog
        Makes the topic catalog (an admin client) at the first look, and again after
        Kafka failed one.
    idle_recheck_s
        Seconds between two looks between turns while nothing was missing.
    clock
        Monotonic seconds.

    """

    def __init__(
        self,
        check: TopicCheck,
        catalog: Callable[[], TopicCatalog],
        idle_recheck_s: float = IDLE_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.catalog = catalog
        self.idle_recheck_s = idle_recheck_s
        self.clock = clock
        self._catalog: TopicCatalog | None = None
        self._looked = clock()  # made when the start-up's check has just looked
        self.reason: str | None = None
        """The last look's answer (see :meth:`missing`)."""
        self.events_topic = next(
            (topic for topic, settings in check.needed.items() if EVENTS_SETTING in settings),
            None,
        )
        self.topic_id: str | None = None
        """The events topic's id at the last look that found it (the start-up's first)."""
        if check.found is not None and self.events_topic is not None:
            self.topic_id = check.found.ids.get(self.events_topic)
        self.recreated: Recreated | None = None
        """Set when a look finds the events topic under another id than before; the loop
        clears it once it has acted on it."""

    @property
    def recheck_s(self) -> float:
        return self.check.recheck_s

    def missing(self, between_turns: bool = False) -> str | None:
        """Why serve cannot go on: a topic it needs is missing for good (the check's
        reason); None when none is, or Kafka did not answer the look (the outage is the
        reason then). Within ``recheck_s`` of the last look (``idle_recheck_s`` when asked
        ``between_turns``, not while waiting on Kafka, and nothing was missing), that
        look's answer."""
        now = self.clock()
        routine = between_turns and self.reason is None
        pace = self.idle_recheck_s if routine else self.check.recheck_s
        if now - self._looked < pace:
            return self.reason
        self._looked = now
        try:
            if self._catalog is None:
                self._catalog = self.catalog()
            found = self._catalog.describe()
        except RECOVERABLE as exc:
            log.debug("kafka topics not looked at: %s", exc)
            self.close()
            self.reason = None
        else:
            self.reason = self.check.verdict(found)
            self._follow(found)
        return self.reason

    def _follow(self, found: ClusterTopics) -> None:
        """Remember the events topic's id; another one than before means the topic was
        deleted and created again (a deletion alone, between looks, leaves no id)."""
        if self.events_topic is None:
            return
        now = found.ids.get(self.events_topic)
        if now is None:
            return
        if self.topic_id is not None and now != self.topic_id:
            before = self.recreated.old_id if self.recreated is not None else self.topic_id
            self.recreated = Recreated(self.events_topic, before, now)
        self.topic_id = now

    def close(self) -> None:
        if self._catalog is not None:
            catalog, self._catalog = self._catalog, None
            try:
                catalog.close()
            except RECOVERABLE as exc:
                log.debug("topic catalog close: %s", exc)
