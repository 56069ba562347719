"""In-process twins of the label queue, pending store, label stream, train log and dead
letters: the embedded default used by ``stream-al demo`` (SQLite to Redis's Postgres).

They keep the same semantics as the Redis implementations where the service relies on
them: JSON payloads, increasing entry ids, put-if-absent with a TTL, atomic take, items
held by a worker until acknowledged. They are single-process and not thread-safe, like
the serve loop that uses them.

Examples
--------
>>> queue = MemoryLabelQueue()
>>> entry = queue.push('{"id": "a"}')
>>> queue.take("worker-1", 10)
[('1-0', '{"id": "a"}')]
>>> queue.take("worker-2", 10), queue.depth()
([], 1)
>>> queue.ack(entry); queue.depth()
0

"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from stream_al.io.base import Entry

__all__ = [
    "MemoryDeadLetters",
    "MemoryLabelQueue",
    "MemoryLabelStream",
    "MemoryPendingStore",
    "MemoryTrainLog",
]


class _Log:
    """An append-only log with Redis-stream-like ids ``"<n>-0"``."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def append(self, payload: str) -> str:
        entry_id = f"{len(self._entries) + 1}-0"
        self._entries.append((entry_id, payload))
        return entry_id

    @staticmethod
    def position(entry_id: str | None) -> int:
        return 0 if entry_id is None else int(entry_id.split("-", 1)[0])

    def __len__(self) -> int:
        return len(self._entries)


class MemoryLabelQueue(_Log):
    """Items wait until a worker takes them, then until that worker acknowledges them."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: OrderedDict[str, str] = OrderedDict()
        self._held: dict[str, tuple[str, str]] = {}

    def push(self, payload: str) -> str:
        entry_id = self.append(payload)
        self._waiting[entry_id] = payload
        return entry_id

    def depth(self) -> int:
        return len(self._waiting) + len(self._held)

    def take(self, consumer: str, count: int) -> list[Entry]:
        taken: list[Entry] = []
        while self._waiting and len(taken) < count:
            entry_id, payload = self._waiting.popitem(last=False)
            self._held[entry_id] = (consumer, payload)
            taken.append((entry_id, payload))
        return taken

    def ack(self, entry_id: str) -> None:
        self._held.pop(entry_id, None)
        self._waiting.pop(entry_id, None)


class MemoryPendingStore:
    """Put-if-absent with a time to live; take is atomic (there is one thread)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}
        self._taken: dict[str, float] = {}

    def put(self, item_id: str, payload: str, ttl_seconds: float) -> bool:
        now = self._clock()
        current = self._items.get(item_id)
        if current is not None and current[0] > now:
            return False
        self._items[item_id] = (now + ttl_seconds, payload)
        return True

    def take(self, item_id: str) -> str | None:
        item = self._items.pop(item_id, None)
        now = self._clock()
        if item is None or item[0] <= now:
            return None
        # Remember the id as long as the item itself would have lived.
        self._taken[item_id] = item[0]
        return item[1]

    def was_taken(self, item_id: str) -> bool:
        deadline = self._taken.get(item_id)
        return deadline is not None and deadline > self._clock()

    def count(self) -> int:
        now = self._clock()
        expired = [k for k, (deadline, _) in self._items.items() if deadline <= now]
        for k in expired:
            del self._items[k]
        for k in [k for k, deadline in self._taken.items() if deadline <= now]:
            del self._taken[k]
        return len(self._items)


class MemoryLabelStream(_Log):
    """Labels in arrival order; one reader (the service) with its own cursor."""

    def __init__(self) -> None:
        super().__init__()
        self._cursor = 0
        self._unacked: set[str] = set()

    def read(self, count: int) -> list[Entry]:
        batch = self._entries[self._cursor : self._cursor + count]
        self._cursor += len(batch)
        self._unacked.update(entry_id for entry_id, _ in batch)
        return batch

    def ack(self, entry_id: str) -> None:
        self._unacked.discard(entry_id)

    @property
    def unacknowledged(self) -> int:
        return len(self._unacked)


class MemoryTrainLog(_Log):
    """Joined examples; readers keep their own position."""

    def read_after(self, entry_id: str | None, count: int) -> list[Entry]:
        start = self.position(entry_id)
        return self._entries[start : start + count]


class MemoryDeadLetters:
    """Dead letters kept in a list (the demo prints how many)."""

    def __init__(self) -> None:
        self.records: list[str] = []

    def send(self, payload: str) -> None:
        self.records.append(payload)
