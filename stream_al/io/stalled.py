"""Partitions that stop being served: their position has not moved for a while of polls
although the broker says they hold events after it.

A client that gets nothing it can hand out from a partition fetches it again and again
without an error: a record batch larger than it takes in one answer (kafka-python's
bound on an answer, librdkafka's ``receive.message.max.bytes``), or a batch whose length
is damaged in the broker's log (the broker's reading ends there, and it answers every
fetch from it with nothing). serve stayed ready and silent, its lag small and constant,
so no lag alert fired either. (A transaction a producer left open holds a consumer in
``read_committed`` back the same way, until it ends.) Both event sources feed one
:class:`StalledPartitions` from their ``lag()``: it says each stall once in the log, and
counts the partitions stalled now (``stream_al_partitions_stalled``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["UNSERVED_POLLS", "UNSERVED_S", "StalledPartitions"]

log = logging.getLogger("stream_al.kafka")

UNSERVED_S = 30.0
"""Seconds a partition's position must stay where it is, the broker holding events after
it, before it counts as stalled: serve's turns fetch within a second when they can."""

UNSERVED_POLLS = 10
"""Polls that must have been made meanwhile: a serve that waits on Redis, say, polls
nothing, and its partitions' positions stand still for that reason alone."""

Partition = tuple[str, int]
"""``(topic, partition)``; kafka-python's ``TopicPartition`` is one."""


@dataclass
class _Unmoved:
    """Where a partition's position has stood since when, and the polls made by then."""

    position: int
    since: float
    polls: int
    said: bool = False


class StalledPartitions:
    """Which assigned partitions have stopped being served, from the positions and high
    watermarks their source sees at each ``lag()``, with a clock of polls.

    A partition is stalled once its position has not moved for ``seconds`` and ``polls``
    polls while its high watermark is past it; it is said once (a warning naming the
    likely causes and ``bound``, the client's limit on one answer), and said again only
    after it moved and stalled anew. It stops being stalled when it moves, when the high
    watermark no longer lies past it, or when it is left out of a look (revoked, or its
    high watermark not known).

    Parameters
    ----------
    bound
        What the client takes in one answer from the broker, as the warning names it.
    seconds
        How long an unmoved position with events after it may last.
    polls
        How many polls must have been made meanwhile.
    clock
        Seconds, monotonic.

    Examples
    --------
    >>> now = [0.0]
    >>> watch = StalledPartitions("a bound", seconds=30, polls=2, clock=lambda: now[0])
    >>> watch.look({("events", 0): (10, 11)})
    0
    >>> watch.polled(); watch.polled(); now[0] = 31.0
    >>> watch.look({("events", 0): (10, 11)})
    1
    >>> watch.look({("events", 0): (11, 11)})  # it moved
    0
    """

    def __init__(
        self,
        bound: str,
        seconds: float = UNSERVED_S,
        polls: int = UNSERVED_POLLS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bound = bound
        self.seconds = seconds
        self.polls = polls
        self.clock = clock
        self.stalled = 0  # at the last look
        self._polls = 0
        self._unmoved: dict[Partition, _Unmoved] = {}

    def polled(self) -> None:
        """A poll was made (a fetch asked for, whatever it brought)."""
        self._polls += 1

    @property
    def polls_made(self) -> int:
        """Polls made so far: a clock other watches of the same source may read."""
        return self._polls

    def look(self, partitions: Mapping[Partition, tuple[int, int]]) -> int:
        """Take ``partitions``' ``(position, high watermark)`` now (every assigned partition
        whose both are known: the others are forgotten); return how many are stalled."""
        now = self.clock()
        for gone in self._unmoved.keys() - partitions.keys():
            del self._unmoved[gone]
        stalled = 0
        for partition, (position, high) in partitions.items():
            unmoved = self._unmoved.get(partition)
            if high <= position or unmoved is None or unmoved.position != position:
                self._unmoved[partition] = _Unmoved(position, now, self._polls)
                continue
            waited = now - unmoved.since
            if waited < self.seconds or self._polls - unmoved.polls < self.polls:
                continue
            stalled += 1
            if not unmoved.said:
                unmoved.said = True
                self._say(partition, position, high, waited)
        self.stalled = stalled
        return stalled

    def _say(self, partition: Partition, position: int, high: int, waited: float) -> None:
        topic, number = partition
        log.warning(
            "%s:%d: no event served from offset %d for %.0f s while the partition holds "
            "offsets up to %d: the client gets nothing it can hand out from there, fetch after "
            "fetch, and serve waits. Likely a record batch larger than the client takes in "
            "one answer (%s; check the topic's max.message.bytes and what its producers "
            "send), a record batch damaged in the broker's log (check the broker's log and "
            "disk), or a transaction a producer left open (read_committed waits for its end, "
            "at the latest the producer's transaction.timeout.ms)",
            topic,
            number,
            position,
            waited,
            high - 1,
            self.bound,
        )
