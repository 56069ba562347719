"""The interfaces the serve loop and the worker talk to.

Redis (:mod:`stream_al.io.redis`) and the in-memory twins (:mod:`stream_al.io.memory`,
the embedded default) implement them. Payloads cross as JSON text in both, so the
embedded mode exercises exactly the serialisation the servers see.

The operations that must not be split by a crash are single calls here, atomic in every
implementation (a Lua script in Redis):

- :meth:`LabelStore.enqueue`: store the item's pending features *and* push it to the
  label queue, unless the id is pending or was labeled already (idempotent under
  at-least-once delivery);
- :meth:`LabelStore.join`: take the pending features, remember the id as labeled, append
  the example to the train log *and* acknowledge the label;
- :meth:`WorkerQueue.complete`: write the label *and* acknowledge the queue item.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from stream_al.core.routing import TIERS, check_tier, queue_slot, tier_slots
from stream_al.errors import StreamAlError
from stream_al.schemas import loads

__all__ = [
    "AUTO_CREATE_TOPICS",
    "COMMIT_TIMEOUT_S",
    "METADATA_REFRESH_MS",
    "SEND_BLOCK_S",
    "TIERS",
    "TOMBSTONE",
    "WAIT_SLICE_S",
    "Checkpoint",
    "CheckpointStore",
    "ClusterTopics",
    "DeadLetterSink",
    "DurableCheckpoints",
    "EnqueueRequest",
    "Entry",
    "EventSource",
    "JoinOutcome",
    "Joined",
    "LabelStore",
    "LeaseHolder",
    "LeaseTaken",
    "ProbedEventSource",
    "Publisher",
    "ReplicaLeases",
    "ReplicaSeen",
    "ReplicaState",
    "ReplicaStates",
    "ServiceStore",
    "TopicCatalog",
    "TrainLogEntry",
    "Unreadable",
    "WorkerQueue",
    "WrongType",
    "agreement_ratios",
    "check_tier",
    "checked_train_log_id",
    "item_age",
    "lease_holder_name",
    "lease_token",
    "newest_of",
    "queue_slot",
    "stream_position",
    "tier_slots",
    "topic_id_text",
    "translate_errors",
    "wait_in_slices",
]

C = TypeVar("C", bound=type)

METADATA_REFRESH_MS = 30_000
"""How often the events consumer rereads the topic's metadata: partitions added to the
events topic while serve runs are assigned, and their events consumed, within about this
long (the clients' default, 5 minutes, left them unread for as long)."""

SEND_BLOCK_S = 5.0
"""How long a send may wait for its topic's metadata or for room in the client's buffer
before it fails (the batch is then retried): kafka-python's default, 60 s for each send,
held a batch for a deleted topic for minutes, and a SIGTERM with it."""

COMMIT_TIMEOUT_S = 5.0
"""How long a commit may wait for the group coordinator before it fails (and is retried):
kafka-python's commit waited for ever while the broker was away."""

WAIT_SLICE_S = 0.5
"""A long wait on the broker (a flush) asks after each slice this long whether to go on:
a signal's deadline or a topic found missing ends it within about this long."""


def wait_in_slices(
    step: Callable[[float], bool],
    timeout: float | None,
    give_up: Callable[[], bool] | None = None,
) -> bool:
    """``step(seconds)`` (wait at most that long; True once done) again and again, each at
    most :data:`WAIT_SLICE_S`: True once a step is done, False when ``timeout`` seconds
    (None: no limit) have passed or ``give_up()`` says so after a step that was not.

    >>> steps = []
    >>> wait_in_slices(lambda s: steps.append(s) or len(steps) == 3, 10.0), steps
    (True, [0.5, 0.5, 0.5])
    >>> wait_in_slices(lambda s: False, 10.0, give_up=lambda: True)
    False

    """
    end = math.inf if timeout is None else time.monotonic() + timeout
    while True:
        if step(max(0.0, min(WAIT_SLICE_S, end - time.monotonic()))):
            return True
        if time.monotonic() >= end or (give_up is not None and give_up()):
            return False


Entry = tuple[str, str]
"""A stream entry: ``(entry_id, payload_json)``."""

JoinOutcome = Literal["learned", "orphaned", "duplicate", "voted", "escalated", "repeat", "late"]
"""``voted``: a consensus vote was counted (more are needed); ``escalated``: the votes
disagreed, or a repeated vote came after nobody else took a copy in time: one expert label
decides; ``repeat``: this annotator voted on the item already (its copy goes back for
someone else); ``late``: a crowd answer for an item that went to an expert meanwhile."""


def item_age(item: str, now: float) -> float:
    """Seconds since a queued item (JSON) was enqueued; 0 if it does not say.

    >>> item_age('{"id": "a", "enqueued_at": 100.0}', now=160.0), item_age("{}", now=1.0)
    (60.0, 0.0)

    """
    try:
        enqueued = loads(item).get("enqueued_at")
        return now - float(enqueued) if enqueued is not None else 0.0
    except (ValueError, TypeError, AttributeError):
        return 0.0


def agreement_ratios(counts: dict[str, int]) -> dict[str, float]:
    """Per annotator, the share of its consensus votes that agreed with the consensus.

    >>> agreement_ratios({"ann:total": 4, "ann:agree": 3, "bob:total": 2})
    {'ann': 0.75, 'bob': 0.0}

    """
    ratios = {}
    for key, total in counts.items():
        name, _, kind = key.rpartition(":")
        if kind == "total" and total:
            ratios[name] = counts.get(f"{name}:agree", 0) / total
    return ratios


def translate_errors(
    library: tuple[type[BaseException], ...], project: Callable[[str], StreamAlError], what: str
) -> Callable[[C], C]:
    """A class decorator for adapters: every public method (and the constructor) raises
    ``project(message)`` where the client library raised one of ``library``, so that the
    rest of the code catches the project's exceptions (:mod:`stream_al.errors`) only.

    >>> from stream_al.errors import StoreUnavailable
    >>> @translate_errors((ConnectionError,), StoreUnavailable, "redis")
    ... class Client:
    ...     def get(self) -> None:
    ...         raise ConnectionResetError("reset by peer")
    >>> Client().get()
    Traceback (most recent call last):
    ...
    stream_al.errors.StoreUnavailable: redis: reset by peer

    """

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except library as exc:
                raise project(f"{what}: {exc}") from exc

        return call

    def decorate(cls: C) -> C:
        for name, attr in list(vars(cls).items()):
            if callable(attr) and (name == "__init__" or not name.startswith("_")):
                setattr(cls, name, wrap(attr))
        return cls

    return decorate


@dataclass(frozen=True)
class EnqueueRequest:
    """One item to queue for labeling (see :meth:`LabelStore.enqueue`).

    Parameters
    ----------
    item_id
        The event's id: an item pending or labeled already is not queued again.
    pending
        JSON of what learning the label needs, kept for ``ttl_seconds``.
    item
        JSON of what a labeler sees, the queue entry.
    ttl_seconds
        How long the item waits for its label.
    slot
        The queue: tier and priority band (see :func:`queue_slot`).
    copies
        Queue entries: an item that needs k consensus votes is queued in k copies.

    """

    item_id: str
    pending: str
    item: str
    ttl_seconds: float
    slot: str = ""
    copies: int = 1


@dataclass(frozen=True)
class Unreadable:
    """A stream entry the store could not read as a message (bytes that are not UTF-8, a
    missing field), or events the event source could not read (a compressed record batch
    that inflates beyond what serve reads): why, and what it held as text, for its dead
    letter."""

    reason: str
    payload: str


TOMBSTONE = Unreadable(
    "tombstone: a record with a null value (a delete, in a compacted topic), no event: "
    "stream-al takes no deletes on an events topic; produce each event as a JSON object",
    "",
)
"""What an event source gives for a record without a value: read as the empty message, its
dead letter said "Invalid JSON: EOF while parsing", which sent one looking for a cut
event, not for the producer that sent a delete."""


@dataclass(frozen=True)
class WrongType:
    """A key that holds another type of value than the store keeps there: another program
    writes under the store's key prefix. For an item's key, its event or label is
    dead-lettered with :attr:`reason` and the rest of the batch goes on; for a key of the
    whole deployment, the process stops at start with it (a setting to fix).

    >>> print(WrongType("p:pending:e5", "hash", "string").reason[:64])
    redis key p:pending:e5 holds a hash, not the string stream-al ke

    """

    key: str
    found: str
    expected: str

    @property
    def found_instead(self) -> str:
        """What the key holds instead of what, with its name."""
        return (
            f"redis key {self.key} holds a {self.found}, not the {self.expected} stream-al "
            "keeps there"
        )

    @property
    def reason(self) -> str:
        return f"{self.found_instead}: another program writes under STREAM_AL_REDIS__PREFIX"


Joined = tuple[JoinOutcome, str | None] | WrongType
"""What a join did: its outcome and the train-log id of a learned label, or the item key
that held what the store did not write (:class:`WrongType`)."""


@dataclass(frozen=True)
class TrainLogEntry:
    """A joined example: the pending item as queued and the label as given."""

    entry_id: str
    item: str
    label: str


@dataclass(frozen=True)
class Checkpoint:
    """A signed learner snapshot and the last train-log entry it contains."""

    replica: str
    train_log_id: str | None
    data: bytes
    signature: str
    created_at: float
    # Where it was read (``redis key P:checkpoint:r1``, ``file PATH``; empty for one made
    # here): a checkpoint refused at start is named by it, with what to do about it.
    origin: str = ""
    # How to take it away, when refused: the command or the file to delete.
    remove: str = ""


@dataclass(frozen=True)
class ReplicaState:
    """What a serve replica says of itself every few seconds, for ``stream-al status``.

    Parameters
    ----------
    ready
        What its ``/readyz`` answers (False once it stopped).
    reason
        ``/readyz``'s words: why it is not ready, or the note it shows while ready.
    since
        When it last became ready or not ready, or stopped (its clock, Unix seconds).
    at
        When it said so (its clock): ``at - since`` is how long it has been so.
    stopped
        It stopped (its last word, kept longer than the others).

    >>> state = ReplicaState(False, "kafka: no connection to any broker", 100.0, 112.5)
    >>> ReplicaState.from_json(state.to_json()) == state, state.at - state.since
    (True, 12.5)

    """

    ready: bool
    reason: str
    since: float
    at: float
    stopped: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "ready": self.ready,
                "reason": self.reason,
                "since": self.since,
                "at": self.at,
                "stopped": self.stopped,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ReplicaState:
        """The state in ``text``; ``ValueError`` if it holds none (written by hand)."""
        try:
            # loads: a ValueError, not json's RecursionError, for nesting too deep (which
            # stopped `stream-al status`, every replica unsaid).
            raw = loads(text)
            fields = (raw["ready"], raw["reason"], raw["since"], raw["at"], raw["stopped"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a replica's state: {exc}") from None
        ready, reason, since, at, stopped = fields
        times = all(isinstance(t, int | float) and not isinstance(t, bool) for t in (since, at))
        flags = isinstance(ready, bool) and isinstance(stopped, bool)
        if not (times and flags and isinstance(reason, str)):
            raise ValueError("not a replica's state: a field of another type")
        return cls(ready, reason, float(since), float(at), stopped)


@dataclass(frozen=True)
class ReplicaSeen:
    """A serve replica as the store last heard of it.

    Parameters
    ----------
    replica
        Its id (``STREAM_AL_SERVICE__REPLICA_ID``).
    state
        What it said last; None when that expired: it has said nothing for longer than
        its state lives (killed, hung, or cut off from Redis).
    silent_for
        Seconds since it last said anything, by the store's clock.
    unreadable
        Why its state could not be read, when it could not (written by hand).

    """

    replica: str
    state: ReplicaState | None
    silent_for: float
    unreadable: str = ""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a replica id's lease (see :class:`ReplicaLeases`), and for how long more
    unless it keeps it alive.

    Parameters
    ----------
    holder
        The holder's token (its host, pid and a random part).
    seconds_left
        Seconds until the lease lapses, by the store's clock.

    """

    holder: str
    seconds_left: float


def lease_token() -> str:
    """A new holder token for a replica id's lease: host and pid name the holder in
    another process's error; the random part tells this run from another with the same pid
    (a container's pid 1)."""
    return f"{socket.gethostname()} pid {os.getpid()} run {uuid.uuid4().hex[:12]}"


def lease_holder_name(token: str) -> str:
    """The host and pid of a :func:`lease_token`, without its random part.

    >>> lease_holder_name("vm pid 7 run 0123456789ab")
    'vm pid 7'
    """
    return token.rsplit(" run ", 1)[0]


LeaseTaken = Literal["kept", "taken"] | LeaseHolder
"""What :meth:`ReplicaLeases.take_lease` did: kept the caller's lease alive, took a free
one, or found another holder."""


def stream_position(entry_id: str | None) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) as a sortable pair; None (nothing) sorts first.

    >>> stream_position("1700000000000-2") > stream_position("1700000000000-1")
    True

    """
    if not entry_id:
        return (0, 0)
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_ENTRY_PART = 2**64  # each part of a stream entry id is an unsigned 64-bit integer


def checked_train_log_id(value: str | None) -> str | None:
    """``value``, a checkpoint's train-log id (None or empty: before any entry), if it is
    a stream entry id as Redis writes them; else ``ValueError``.

    serve writes only such ids, and signs them with the checkpoint, so one that is not is
    a checkpoint serve did not write (a hash edited by hand, another tool's file): read as
    it was, it stopped serve at each trim of the train log, and a new replica at start.

    >>> checked_train_log_id("1700000000000-2"), checked_train_log_id("")
    ('1700000000000-2', None)
    >>> checked_train_log_id("garbage")
    Traceback (most recent call last):
    ...
    ValueError: train-log id 'garbage' is no stream entry id (ms-seq)

    """
    if not value:
        return None
    if not _ENTRY_ID.fullmatch(value) or any(int(part) >= _ENTRY_PART for part in value.split("-")):
        raise ValueError(f"train-log id {value!r:.60} is no stream entry id (ms-seq)")
    return value


def newest_of(*checkpoints: Checkpoint | None) -> Checkpoint | None:
    """The checkpoint that contains the most of the train log (the later one on a tie).

    >>> a, b = (Checkpoint("r1", i, b"", "", 0.0) for i in ("5-0", "12-3"))
    >>> newest_of(a, None, b).train_log_id
    '12-3'

    """
    found = [c for c in checkpoints if c is not None]
    return max(found, key=lambda c: (stream_position(c.train_log_id), c.created_at), default=None)


class LabelStore(Protocol):
    """What the serve loop needs: queue, pending items, labels in, train log."""

    def enqueue(
        self, item_id: str, pending: str, item: str, ttl_seconds: float, slot: str = ""
    ) -> bool | WrongType:
        """Store the pending item and queue it in ``slot`` (see :func:`queue_slot`),
        atomically; False if already queued (see :class:`EnqueueRequest`); a
        :class:`WrongType` if one of the item's keys holds what the store did not write
        (nothing is queued)."""
        ...

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool | WrongType]:
        """:meth:`enqueue` for each request, in one round trip; a :class:`WrongType` answers
        for its request only. Safe to repeat after a failure: an item queued by the
        interrupted attempt (same pending payload) counts as queued."""
        ...

    def asked(self, item_ids: Sequence[str]) -> set[str]:
        """Those of ``item_ids`` asked already: pending (queued, held or waiting for more
        votes), labeled (within the label TTL) or dropped unlabeled by the workers (until
        its pending item would have expired: :meth:`WorkerQueue.drop`), in one round
        trip. An event consumed again (at-least-once delivery) is not asked again
        (docs/design.md, "Delivery and state semantics")."""
        ...

    def queue_depth(self) -> int:
        """Items in the label queues, all tiers (waiting or held by a worker)."""
        ...

    def queue_depths(self) -> dict[str, int]:
        """:meth:`queue_depth` by tier (:data:`TIERS`): only a worker of the tier takes
        its items, so an expert tier nobody serves shows here."""
        ...

    def queue_stats(self) -> dict[str, int]:
        """Counters the workers keep: ``stale`` (items dropped unlabeled as too old) and
        ``skipped`` (items dropped after nobody would label them)."""
        ...

    def agreement(self) -> dict[str, float]:
        """Per annotator, the share of its consensus votes that agreed with the consensus."""
        ...

    def pending_count(self) -> int:
        """Items waiting for their label (expired ones excluded)."""
        ...

    def read_labels(self, count: int) -> Sequence[tuple[str, str | Unreadable]]:
        """Up to ``count`` labels for this reader: its own unacknowledged ones first.

        An entry the store cannot read comes as :class:`Unreadable`, for
        :meth:`reject_label`: none is dropped unseen."""
        ...

    def join(self, entry_id: str, item_id: str, label: str) -> Joined:
        """Join a label with its pending item into the train log, atomically.

        Returns ``("learned", train_log_id)``, or ``("orphaned" | "duplicate", None)`` with
        the label left unacknowledged for :meth:`reject_label`; or a :class:`WrongType`,
        the label left unacknowledged and nothing changed, if one of the item's keys holds
        what the store did not write.

        Label entry ``entry_id`` joined again answers as it did the first time and changes
        nothing, for as long as the store's ``claim_idle_seconds`` (a label is held that
        long before another reader may take it over): serve asks again when the answer
        was lost with its connection, Redis having joined and acknowledged the label.
        """
        ...

    def join_many(self, requests: Sequence[tuple[str, str, str]]) -> list[Joined]:
        """:meth:`join` for ``(entry_id, item_id, label)`` requests, in order, in one round
        trip (a second label for an id in the same batch is a duplicate); a
        :class:`WrongType` answers for its request only."""
        ...

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        """Dead-letter a label and acknowledge it, once: a label acknowledged already (the
        first call's answer lost, and this one a retry) is not dead-lettered again."""
        ...

    def read_train_log(self, after: str | None, count: int) -> list[TrainLogEntry]:
        """Up to ``count`` train-log entries after ``after`` (from the start when None)."""
        ...

    def skip_train_log_entry(self, entry_id: str, dead_letter: str) -> bool:
        """Record that train-log entry ``entry_id`` cannot be learned: its dead letter, once
        for every replica and replay that skips it. True if this call recorded it."""
        ...

    def trim_labels(self, kept_seconds: float) -> int:
        """Drop the label entries every replica is done with (joined or dead-lettered, so
        acknowledged) that are older than ``kept_seconds``; returns how many. Labels not
        read yet, or read and not acknowledged, are kept whatever their age."""
        ...


class WorkerQueue(Protocol):
    """What a labeling worker needs: take items, give labels back."""

    def take(
        self,
        consumer: str,
        count: int,
        block_ms: int,
        tier: str = "crowd",
        stale_seconds: float | None = None,
    ) -> list[Entry]:
        """Up to ``count`` items of ``tier``: its own unfinished ones, then ones held too
        long by a worker that went away, then new ones (waiting up to ``block_ms``), the
        high-priority band before the other. Items queued more than ``stale_seconds``
        ago are dropped unlabeled and counted (see :meth:`LabelStore.queue_stats`)."""
        ...

    def take_own_again(self, consumer: str) -> None:
        """Hand ``consumer``'s unfinished items back first at its next :meth:`take`, once,
        as after a restart: a worker's run that failed (Redis away) dropped the batch it
        had in hand, which would otherwise wait until they are taken over as abandoned."""
        ...

    def complete(self, entry_id: str, label: str | None) -> None:
        """Write ``label`` (None: skip the item) and remove the item from the queue."""
        ...

    def keep(self, consumer: str, entry_ids: Sequence[str]) -> int:
        """Mark items ``consumer`` holds as still being worked on, so that no other worker
        takes them over as abandoned (for a worker that holds items long: the Label Studio
        bridge). Items taken over already stay with their new worker; returns how many
        were kept."""
        ...

    def release(self, entry_id: str, item: str) -> None:
        """Give an item back unlabeled, at the end of its queue, for another worker (a
        copy of a consensus item this worker has labeled already, an item it skipped)."""
        ...

    def drop(self, entry_id: str, item_id: str) -> None:
        """Remove an item nobody labels from the queue *and* from the pending items (it is
        no longer counted as waiting for its label; a label sent for it later is an
        orphan), and count it as ``skipped`` (:meth:`LabelStore.queue_stats`). It stays
        asked (:meth:`LabelStore.asked`) until its pending item would have expired: a copy
        of its event consumed again is not asked again."""
        ...

    def depth(self) -> int:
        """Items in the label queue."""
        ...


class CheckpointStore(Protocol):
    """Where signed learner snapshots are kept, one per replica."""

    def save(self, checkpoint: Checkpoint) -> None: ...

    def load(self, replica: str) -> Checkpoint | None: ...

    def newest(self) -> Checkpoint | None:
        """The checkpoint that contains the most of the train log, of any replica."""
        ...

    def trim_train_log(self) -> int:
        """Drop train-log entries every checkpoint already contains; returns how many."""
        ...


class ReplicaStates(Protocol):
    """Where each serve replica says whether it is ready, for ``stream-al status``: serve's
    ``/readyz`` answers for one replica and only to whoever reaches it; this answers for
    every replica, and names those that stopped saying anything."""

    def put_replica_state(
        self, replica: str, state: ReplicaState, ttl_seconds: float, forget_seconds: float
    ) -> None:
        """Keep ``state`` as ``replica``'s for ``ttl_seconds``; the replica stays listed
        (silent once its state expired) until it has said nothing for ``forget_seconds``."""
        ...

    def replica_states(self) -> list[ReplicaSeen]:
        """Every replica listed, by id."""
        ...


class ReplicaLeases(Protocol):
    """Which process holds each replica id: a replica id names a checkpoint, a consumer in
    the label stream's group and a state for ``stream-al status``, so two live processes
    must not share one (docs/design.md, "One process per replica id")."""

    def take_lease(self, replica: str, holder: str, ttl_seconds: float) -> LeaseTaken:
        """Hold ``replica``'s lease as ``holder`` for ``ttl_seconds`` from now, atomically:
        ``"kept"`` if ``holder`` held it already, ``"taken"`` if it was free (never held,
        or lapsed), else the :class:`LeaseHolder` that holds it (nothing changed)."""
        ...

    def drop_lease(self, replica: str, holder: str) -> bool:
        """Delete ``replica``'s lease if ``holder`` holds it (never another's); whether it
        did."""
        ...


class DurableCheckpoints(Protocol):
    """A second home for the checkpoints that survives Redis (a directory on a volume)."""

    def save(self, checkpoint: Checkpoint) -> None: ...

    def load(self, replica: str) -> Checkpoint | None: ...

    def newest(self) -> Checkpoint | None:
        """The checkpoint that contains the most of the train log, of any replica."""
        ...


class DeadLetterSink(Protocol):
    """Where invalid events go, with the reason; ``key`` is the event's origin
    (topic:partition:offset), so a compacted dead-letter topic takes them and keeps each."""

    def send(self, payload: str, key: str | None = None) -> None: ...


class EventSource(Protocol):
    """Events in, in batches; offsets committed when the loop asks (Kafka)."""

    def poll(self) -> list[tuple[str, bytes | Unreadable]]:
        """The next batch as ``(origin, raw value)`` pairs (origin: topic:partition:offset);
        an :class:`Unreadable` in place of the value of events the source could not read
        (:data:`TOMBSTONE` for a record without a value), which the loop dead-letters with
        its reason."""
        ...

    def commit(self) -> None:
        """Commit the offsets after every event polled so far; raises
        :class:`~stream_al.errors.BrokerUnavailable` when the group coordinator does not
        answer within :data:`COMMIT_TIMEOUT_S` (or so)."""
        ...

    def lag(self) -> dict[int, int]:
        """Events not yet consumed, per assigned partition whose position and end are
        known, without a request to the broker; each call is also a look for partitions
        that stopped being served (:meth:`stalled`)."""
        ...

    def stalled(self) -> int:
        """How many assigned partitions had stopped being served at the last :meth:`lag`:
        their position unmoved for :data:`~stream_al.io.stalled.UNSERVED_S` of polls while
        the broker holds events after it (:class:`~stream_al.io.stalled.StalledPartitions`,
        which says each in the log)."""
        ...

    def rewind(self) -> list[str]:
        """Consume the partitions assigned now from their beginning (the earliest offset
        the broker keeps) at the next poll, forgetting the positions held; returns them
        (``topic:partition``). Called with every event polled committed (the events topic
        was deleted and created again: the positions held are the old topic's)."""
        ...

    def close(self) -> None:
        """Leave the group, committing nothing, within a few seconds even with the broker
        away."""
        ...


class ProbedEventSource(EventSource, Protocol):
    """An event source that can say, without I/O, whether its broker answers now (serve's
    readiness follows it every turn)."""

    def unavailable(self) -> str | None:
        """Why the broker does not answer (None: it does)."""
        ...


MAX_BATCH_BYTES = 100_000_000
"""The most bytes a compressed Kafka record batch of events inflates to in serve; one that
would inflate further is dead-lettered unread. librdkafka's default
``receive.message.max.bytes``, which bounds the confluent backend's zstd and lz4 batches
(not its gzip ones) and its fetches; kafka-python's inflation stops at the same number
(:mod:`stream_al.io.kafka_batches`). An event is at most ``max_event_bytes``: only a batch
compressed to inflate hundreds of times comes near."""


AUTO_CREATE_TOPICS = "auto.create.topics.enable"
"""The broker setting under which a topic is created at its first use (Kafka's default:
true; off on many managed clusters)."""


@dataclass(frozen=True)
class ClusterTopics:
    """What a Kafka cluster says about its topics.

    Parameters
    ----------
    existing
        The topics that exist (those this client may describe).
    auto_create
        The broker's :data:`AUTO_CREATE_TOPICS`; None when it could not be read.
    unread
        Why it could not be read (not authorised, say); empty when it was.
    ids
        The topic id (KIP-516, in Kafka's own form) of each topic the catalog follows
        (serve's events topic) that exists: a topic deleted and created again keeps its
        name and gets a new id. Empty where the broker gives none (before Kafka 2.8).

    """

    existing: frozenset[str]
    auto_create: bool | None
    unread: str = ""
    ids: Mapping[str, str] = field(default_factory=dict)


def topic_id_text(raw: bytes) -> str | None:
    """A topic id's 16 bytes in Kafka's own form (URL-safe base64, unpadded, as
    ``kafka-topics.sh --describe`` prints it); None for the zero id (no id: a broker before
    Kafka 2.8, or no such topic).

    >>> topic_id_text(bytes.fromhex("43f43e43e32e4c33b2a7f84907728b0d"))
    'Q_Q-Q-MuTDOyp_hJB3KLDQ'
    >>> topic_id_text(bytes(16)) is None
    True

    """
    if len(raw) != 16 or not any(raw):
        return None
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TopicCatalog(Protocol):
    """Which topics exist and whether the broker creates missing ones: serve asks before it
    consumes (``stream_al.service.topics``), never on the hot path."""

    def describe(self) -> ClusterTopics:
        """The cluster's topics now; raises
        :class:`~stream_al.errors.BrokerUnavailable` when Kafka does not answer."""
        ...

    def close(self) -> None: ...


class Publisher(DeadLetterSink, Protocol):
    """Predictions and dead letters out; :meth:`flush` waits until the broker has them."""

    def prediction(self, key: str, payload: str) -> None: ...

    def send(self, payload: str, key: str | None = None) -> None: ...

    def flush(
        self, timeout: float | None = 30.0, give_up: Callable[[], bool] | None = None
    ) -> None:
        """Wait until the broker acknowledged everything sent; raises
        :class:`~stream_al.errors.BrokerUnavailable` when a send failed (it is sent again by
        the next flush), or when nothing came of ``timeout`` seconds of waiting or
        ``give_up()`` said so (asked every :data:`WAIT_SLICE_S` while it waits)."""
        ...

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for what is still unacknowledged, then drop it
        (its batch was not committed: it is consumed again) and close."""
        ...


class ServiceStore(LabelStore, CheckpointStore, Protocol):
    """Everything serve keeps in Redis."""

    def ping(self) -> bool: ...
