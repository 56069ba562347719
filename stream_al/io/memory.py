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

import json
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from stream_al.io.base import (
    Checkpoint,
    EnqueueRequest,
    Entry,
    JoinOutcome,
    TrainLogEntry,
    agreement_ratios,
    item_age,
    tier_slots,
)

__all__ = ["MemoryStore"]


def _position(entry_id: str | None) -> int:
    return 0 if entry_id is None else int(entry_id.split("-", 1)[0])


class MemoryStore:
    """Label queue, pending items, label stream, train log, checkpoints and dead letters."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, min_agreement: float = 0.5
    ) -> None:
        self.min_agreement = min_agreement
        self._clock = clock
        self._counter = 0
        self._queues: dict[str, OrderedDict[str, str]] = {}  # slot -> entry id -> item
        self._held: dict[str, tuple[str, str]] = {}  # entry id -> (consumer, item)
        self._stale = 0
        self._votes: dict[str, dict[str, Any]] = {}  # item id -> annotator -> label
        self._requeues: Counter[str] = Counter()
        self._agreement: Counter[str] = Counter()
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
        self,
        item_id: str,
        pending: str,
        item: str,
        ttl_seconds: float,
        slot: str = "",
        copies: int = 1,
    ) -> bool:
        now = self._clock()
        current = self._pending.get(item_id)
        if current is not None and current[0] > now:
            return current[1] == pending  # the same attempt again: it is queued
        if self._labeled.get(item_id, 0) > now:
            return False
        self._pending[item_id] = (now + ttl_seconds, pending)
        for _ in range(copies):
            self._add(slot, item)
        return True

    def _add(self, slot: str, item: str) -> None:
        entry_id = self._next_id()
        queue = self._queues.setdefault(slot, OrderedDict())
        queue[f"{slot}/{entry_id}" if slot else entry_id] = item

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool]:
        return [
            self.enqueue(r.item_id, r.pending, r.item, r.ttl_seconds, r.slot, r.copies)
            for r in requests
        ]

    def queue_depth(self) -> int:
        return sum(len(q) for q in self._queues.values()) + len(self._held)

    def queue_stats(self) -> dict[str, int]:
        return {"stale": self._stale}

    def agreement(self) -> dict[str, float]:
        return agreement_ratios(dict(self._agreement))

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
        current = self._pending.get(item_id)
        if current is not None and current[0] > now and '"votes_needed"' in current[1]:
            voted = self._vote(item_id, current, label)
            if isinstance(voted, str) and voted in ("voted", "escalated", "repeat", "late"):
                self._labels_unacked.pop(entry_id, None)
                return voted, None  # type: ignore[return-value]
            if voted is not None:
                label = voted  # the votes agreed: learn their consensus label
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

    def _vote(self, item_id: str, current: tuple[float, str], label: str) -> str | None:
        """The consensus rules of the Redis store's join script, in Python: an outcome
        (``voted``, ``escalated``, ``repeat``), the consensus label, or None (no vote)."""
        pending = json.loads(current[1])
        need = int(pending.get("votes_needed", 1))
        if need <= 1:
            late = pending.get("escalated") and json.loads(label).get("tier") != "expert"
            return "late" if late else None
        vote = json.loads(label)
        annotator = str(vote.get("annotator", "unknown"))
        votes = self._votes.setdefault(item_id, {})
        if annotator in votes:
            self._requeues[item_id] += 1
            if self._requeues[item_id] <= 2 * need:
                self._add(pending.get("slot", ""), pending["queue_item"])
            else:  # nobody else in sight: one expert decides
                self._escalate(item_id, current, pending, self._votes.pop(item_id))
            return "repeat"
        votes[annotator] = vote
        if len(votes) < need:
            return "voted"
        del self._votes[item_id]
        tally = Counter(json.dumps(v["label"]) for v in votes.values())
        (best, best_n), *rest = tally.most_common()
        if (not rest or rest[0][1] < best_n) and best_n / len(votes) >= self.min_agreement:
            for name, v in votes.items():
                self._agreement[f"{name}:total"] += 1
                self._agreement[f"{name}:agree"] += json.dumps(v["label"]) == best
            example = next(v for v in votes.values() if json.dumps(v["label"]) == best)
            consensus = {**example, "annotator": "consensus", "agreement": best_n / len(votes)}
            consensus["votes"] = {name: v["label"] for name, v in votes.items()}
            return json.dumps(consensus)
        self._escalate(item_id, current, pending, votes)
        return "escalated"

    def _escalate(
        self,
        item_id: str,
        current: tuple[float, str],
        pending: dict[str, Any],
        votes: dict[str, Any],
    ) -> None:
        escalated = {name: v["label"] for name, v in votes.items()}
        item = json.loads(pending["queue_item"])
        item.update(tier="expert", priority="high", votes_needed=1, escalated=escalated)
        self._add("expert:high", json.dumps(item))
        pending.update(votes_needed=1, tier="expert", slot="expert:high", escalated=escalated)
        self._pending[item_id] = (current[0], json.dumps(pending))

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

    def keep(self, consumer: str, entry_ids: Sequence[str]) -> int:
        # Nothing is ever taken over here (one process): only count what is held.
        return sum(1 for e in entry_ids if self._held.get(e, ("",))[0] == consumer)

    def release(self, entry_id: str, item: str) -> None:
        self._held.pop(entry_id, None)
        slot = entry_id.rpartition("/")[0]
        self._add(slot, item)

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
