"""In-process twins of the Redis stores: the embedded default used by ``stream-al demo``.

:class:`MemoryStore` keeps the semantics the service relies on: JSON payloads,
increasing entry ids, enqueue-unless-known with a TTL, atomic join, items held by a worker
until completed. It is single-process and not thread-safe, like the loop that uses it.

Examples
--------
>>> store = MemoryStore()
>>> store.enqueue("a", '{"features": {}}', '{"id": "a"}', ttl_seconds=60)
True
>>> store.enqueue("a", '{"features": {"x": 1}}', '{"id": "a"}', ttl_seconds=60)  # a replay
False
>>> [(entry_id, item)] = store.take("worker-1", 10, block_ms=0)
>>> store.complete(entry_id, '{"id": "a", "label": "cat"}')
>>> [(label_id, label)] = store.read_labels(10)
>>> store.join(label_id, "a", label)
('learned', '1-0')
>>> store.queue_depth(), store.pending_count()
(0, 0)

"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from stream_al.io.base import (
    Checkpoint,
    EnqueueRequest,
    Entry,
    JoinOutcome,
    TrainLogEntry,
    item_age,
    tier_slots,
)

__all__ = ["MemoryStore"]


def _position(entry_id: str | None) -> int:
    return 0 if entry_id is None else int(entry_id.split("-", 1)[0])


class MemoryStore:
    """Label queue, pending items, label stream, train log, checkpoints and dead letters."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counter = 0
        self._queues: dict[str, OrderedDict[str, str]] = {}  # slot -> entry id -> item
        self._held: dict[str, tuple[str, str]] = {}  # entry id -> (consumer, item)
        self._stale = 0
        self._seen_consumers: set[str] = set()
        self._pending: dict[str, tuple[float, str]] = {}  # item id -> (deadline, payload)
        self._labeled: dict[str, float] = {}  # item id -> deadline of the "labeled" mark
        self._labels: list[Entry] = []
        self._labels_read = 0
        self._labels_unacked: dict[str, str] = {}
        self._train_log: list[TrainLogEntry] = []
        self._checkpoints: dict[str, Checkpoint] = {}
        self.dead_letters: list[str] = []

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._counter}-0"

    # -- serve side --------------------------------------------------------------------

    def enqueue(
        self, item_id: str, pending: str, item: str, ttl_seconds: float, slot: str = ""
    ) -> bool:
        now = self._clock()
        current = self._pending.get(item_id)
        if current is not None and current[0] > now:
            return current[1] == pending  # the same attempt again: it is queued
        if self._labeled.get(item_id, 0) > now:
            return False
        self._pending[item_id] = (now + ttl_seconds, pending)
        entry_id = self._next_id()
        self._queues.setdefault(slot, OrderedDict())[f"{slot}/{entry_id}" if slot else entry_id] = (
            item
        )
        return True

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool]:
        return [self.enqueue(*request) for request in requests]

    def queue_depth(self) -> int:
        return sum(len(q) for q in self._queues.values()) + len(self._held)

    def queue_stats(self) -> dict[str, int]:
        return {"stale": self._stale}

    def pending_count(self) -> int:
        now = self._clock()
        for key in [k for k, (deadline, _) in self._pending.items() if deadline <= now]:
            del self._pending[key]
        for key in [k for k, deadline in self._labeled.items() if deadline <= now]:
            del self._labeled[key]
        return len(self._pending)

    def read_labels(self, count: int) -> list[Entry]:
        batch = self._labels[self._labels_read : self._labels_read + count]
        self._labels_read += len(batch)
        self._labels_unacked.update(batch)
        return batch

    def join(self, entry_id: str, item_id: str, label: str) -> tuple[JoinOutcome, str | None]:
        now = self._clock()
        taken = self._pending.pop(item_id, None)
        if taken is None or taken[0] <= now:
            return ("duplicate" if self._labeled.get(item_id, 0) > now else "orphaned"), None
        self._labeled[item_id] = taken[0]  # remembered as long as the item would have lived
        log_id = f"{len(self._train_log) + 1}-0"
        self._train_log.append(TrainLogEntry(log_id, taken[1], label))
        self._labels_unacked.pop(entry_id, None)
        return "learned", log_id

    def join_many(
        self, requests: Sequence[tuple[str, str, str]]
    ) -> list[tuple[JoinOutcome, str | None]]:
        return [self.join(*request) for request in requests]

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        self.dead_letters.append(dead_letter)
        self._labels_unacked.pop(entry_id, None)

    def read_train_log(self, after: str | None, count: int) -> list[TrainLogEntry]:
        start = _position(after)
        return self._train_log[start : start + count]

    @property
    def unacknowledged_labels(self) -> int:
        return len(self._labels_unacked)

    # -- worker side -------------------------------------------------------------------

    def take(
        self,
        consumer: str,
        count: int,
        block_ms: int = 0,
        tier: str = "crowd",
        stale_seconds: float | None = None,
    ) -> list[Entry]:
        taken: list[Entry] = []
        if consumer not in self._seen_consumers:  # a restarted worker gets its items back
            self._seen_consumers.add(consumer)
            taken = [(e, item) for e, (c, item) in self._held.items() if c == consumer][:count]
        for slot in tier_slots(tier):  # the high band first
            queue = self._queues.get(slot)
            while queue and len(taken) < count:
                entry_id, item = queue.popitem(last=False)
                if stale_seconds is not None and item_age(item, time.time()) > stale_seconds:
                    self._stale += 1
                    continue
                self._held[entry_id] = (consumer, item)
                taken.append((entry_id, item))
        return taken

    def complete(self, entry_id: str, label: str | None) -> None:
        if label is not None:
            self._labels.append((self._next_id(), label))
        self._held.pop(entry_id, None)
        for queue in self._queues.values():
            queue.pop(entry_id, None)

    def depth(self) -> int:
        return self.queue_depth()

    # -- checkpoints and dead letters --------------------------------------------------

    def save(self, checkpoint: Checkpoint) -> None:
        self._checkpoints[checkpoint.replica] = checkpoint

    def load(self, replica: str) -> Checkpoint | None:
        return self._checkpoints.get(replica)

    def newest(self) -> Checkpoint | None:
        return max(
            self._checkpoints.values(), key=lambda c: _position(c.train_log_id), default=None
        )

    def trim_train_log(self) -> int:
        return 0  # memory is not the bottleneck of a demo; keep the log for inspection

    def send(self, payload: str) -> None:
        self.dead_letters.append(payload)
