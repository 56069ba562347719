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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "DeadLetterSink",
    "Entry",
    "JoinOutcome",
    "LabelStore",
    "TrainLogEntry",
    "WorkerQueue",
]

Entry = tuple[str, str]
"""A stream entry: ``(entry_id, payload_json)``."""

JoinOutcome = Literal["learned", "orphaned", "duplicate"]


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


class LabelStore(Protocol):
    """What the serve loop needs: queue, pending items, labels in, train log."""

    def enqueue(self, item_id: str, pending: str, item: str, ttl_seconds: float) -> bool:
        """Store the pending item and queue it, atomically; False if already queued."""
        ...

    def enqueue_many(self, requests: Sequence[tuple[str, str, str, float]]) -> list[bool]:
        """:meth:`enqueue` for ``(item_id, pending, item, ttl_seconds)`` requests, in one
        round trip. Safe to repeat after a failure: an item queued by the interrupted
        attempt (same pending payload) counts as queued."""
        ...

    def queue_depth(self) -> int:
        """Items in the label queue (waiting or held by a worker)."""
        ...

    def pending_count(self) -> int:
        """Items waiting for their label (expired ones excluded)."""
        ...

    def read_labels(self, count: int) -> list[Entry]:
        """Up to ``count`` labels for this reader: its own unacknowledged ones first."""
        ...

    def join(self, entry_id: str, item_id: str, label: str) -> tuple[JoinOutcome, str | None]:
        """Join a label with its pending item into the train log, atomically.

        Returns ``("learned", train_log_id)``, or ``("orphaned" | "duplicate", None)`` with
        the label left unacknowledged for :meth:`reject_label`.
        """
        ...

    def join_many(
        self, requests: Sequence[tuple[str, str, str]]
    ) -> list[tuple[JoinOutcome, str | None]]:
        """:meth:`join` for ``(entry_id, item_id, label)`` requests, in order, in one round
        trip (a second label for an id in the same batch is a duplicate)."""
        ...

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        """Dead-letter a label and acknowledge it."""
        ...

    def read_train_log(self, after: str | None, count: int) -> list[TrainLogEntry]:
        """Up to ``count`` train-log entries after ``after`` (from the start when None)."""
        ...


class WorkerQueue(Protocol):
    """What a labeling worker needs: take items, give labels back."""

    def take(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Up to ``count`` items: its own unfinished ones, then ones held too long by a
        worker that went away, then new ones (waiting up to ``block_ms``)."""
        ...

    def complete(self, entry_id: str, label: str | None) -> None:
        """Write ``label`` (None: skip the item) and remove the item from the queue."""
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


class DeadLetterSink(Protocol):
    """Where invalid events go, with the reason."""

    def send(self, payload: str) -> None: ...
