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
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from stream_al.io import votes
from stream_al.io.base import (
    TIERS,
    Checkpoint,
    EnqueueRequest,
    Entry,
    Joined,
    JoinOutcome,
    LeaseHolder,
    LeaseTaken,
    ReplicaSeen,
    ReplicaState,
    TrainLogEntry,
    WrongType,
    agreement_ratios,
    item_age,
    tier_slots,
)

__all__ = ["MemoryStore"]


def _position(entry_id: str | None) -> int:
    return 0 if entry_id is None else int(entry_id.split("-", 1)[0])


class MemoryStore:
    """Label queue, pending items, label stream, train log, checkpoints, dead letters and
    the replicas' states."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        min_agreement: float = 0.5,
        requeue_seconds: float = votes.REQUEUE_SECONDS,
    ) -> None:
        self.min_agreement = min_agreement
        self.requeue_seconds = requeue_seconds
        self._clock = clock
        self._counter = 0
        self._queues: dict[str, OrderedDict[str, str]] = {}  # slot -> entry id -> item
        self._held: dict[str, tuple[str, str]] = {}  # entry id -> (consumer, item)
        self._stale = 0
        self._skipped_items = 0  # dropped after nobody would label them
        self._votes: dict[str, dict[str, Any]] = {}  # item id -> annotator -> vote
        self._agreement: Counter[str] = Counter()
        self._seen_consumers: set[str] = set()
        self._pending: dict[str, tuple[float, str]] = {}  # item id -> (deadline, payload)
        self._labeled: dict[str, float] = {}  # item id -> deadline of the "labeled" mark
        self._dropped: dict[str, float] = {}  # item id -> its pending item's deadline
        self._labels: list[Entry] = []
        self._labels_read = 0
        self._labels_unacked: dict[str, str] = {}
        self._answers: dict[str, tuple[JoinOutcome, str | None]] = {}  # label entry -> join's
        self._train_log: list[TrainLogEntry] = []
        self._skipped: set[str] = set()  # train-log entries that cannot be learned
        self._checkpoints: dict[str, Checkpoint] = {}
        # replica -> (its state as JSON, when that expires, when it was said)
        self._replica_states: dict[str, tuple[str, float, float]] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # replica -> (holder, expiry)
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

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool | WrongType]:
        # Its keys hold what it writes: never a WrongType (only Redis is shared).
        return [
            self.enqueue(r.item_id, r.pending, r.item, r.ttl_seconds, r.slot, r.copies)
            for r in requests
        ]

    def asked(self, item_ids: Sequence[str]) -> set[str]:
        now = self._clock()
        return {
            i
            for i in item_ids
            if self._pending.get(i, (0.0, ""))[0] > now
            or self._labeled.get(i, 0) > now
            or self._dropped.get(i, 0) > now
        }

    def queue_depth(self) -> int:
        return sum(len(q) for q in self._queues.values()) + len(self._held)

    def queue_depths(self) -> dict[str, int]:
        tier_of = {slot: tier for tier in TIERS for slot in tier_slots(tier)}
        depths = dict.fromkeys(TIERS, 0)
        for slot, queue in self._queues.items():
            depths[tier_of[slot]] += len(queue)
        for entry_id in self._held:
            depths[tier_of[entry_id.rpartition("/")[0]]] += 1
        return depths

    def queue_stats(self) -> dict[str, int]:
        return {"stale": self._stale, "skipped": self._skipped_items}

    def agreement(self) -> dict[str, float]:
        return agreement_ratios(dict(self._agreement))

    def pending_count(self) -> int:
        now = self._clock()
        for key in [k for k, (deadline, _) in self._pending.items() if deadline <= now]:
            del self._pending[key]
        for marks in (self._labeled, self._dropped):
            for key in [k for k, deadline in marks.items() if deadline <= now]:
                del marks[key]
        return len(self._pending)

    def read_labels(self, count: int) -> list[Entry]:
        batch = self._labels[self._labels_read : self._labels_read + count]
        self._labels_read += len(batch)
        self._labels_unacked.update(batch)
        return batch

    def join(self, entry_id: str, item_id: str, label: str) -> tuple[JoinOutcome, str | None]:
        answered = self._answers.get(entry_id)
        if answered is not None:  # joined already: the same answer, nothing done again
            return answered
        ballot = _Ballot(self, entry_id, item_id, label)
        answer = self._answers[entry_id] = votes.settle(ballot), ballot.log_id
        return answer

    def join_many(self, requests: Sequence[tuple[str, str, str]]) -> list[Joined]:
        return [self.join(*request) for request in requests]

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        if self._labels_unacked.pop(entry_id, None) is not None:
            self.dead_letters.append(dead_letter)

    def read_train_log(self, after: str | None, count: int) -> list[TrainLogEntry]:
        start = _position(after)
        return self._train_log[start : start + count]

    def skip_train_log_entry(self, entry_id: str, dead_letter: str) -> bool:
        if entry_id in self._skipped:
            return False
        self._skipped.add(entry_id)
        self.dead_letters.append(dead_letter)
        return True

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

    def take_own_again(self, consumer: str) -> None:
        self._seen_consumers.discard(consumer)

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

    def drop(self, entry_id: str, item_id: str) -> None:
        self.complete(entry_id, None)
        pending = self._pending.pop(item_id, None)
        if pending is not None:  # asked still, until the item would have expired
            self._dropped[item_id] = pending[0]
        self._skipped_items += 1

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

    def trim_labels(self, kept_seconds: float) -> int:
        return 0  # as the train log: a demo's labels are kept for inspection

    def send(self, payload: str, key: str | None = None) -> None:
        self.dead_letters.append(payload)

    # -- replica states ------------------------------------------------------------------

    def put_replica_state(
        self, replica: str, state: ReplicaState, ttl_seconds: float, forget_seconds: float
    ) -> None:
        now = self._clock()
        self._replica_states[replica] = (state.to_json(), now + ttl_seconds, now)
        for name, (_, _, said) in list(self._replica_states.items()):
            if now - said >= forget_seconds:
                del self._replica_states[name]

    def replica_states(self) -> list[ReplicaSeen]:
        now = self._clock()
        return [
            ReplicaSeen(
                name,
                ReplicaState.from_json(text) if now < expires else None,
                max(0.0, now - said),
            )
            for name, (text, expires, said) in sorted(self._replica_states.items())
        ]

    # -- replica leases -----------------------------------------------------------------

    def take_lease(self, replica: str, holder: str, ttl_seconds: float) -> LeaseTaken:
        now = self._clock()
        current, expires = self._leases.get(replica, ("", now))
        held = expires > now
        if held and current != holder:
            return LeaseHolder(current, expires - now)
        self._leases[replica] = (holder, now + ttl_seconds)
        return "kept" if held else "taken"

    def drop_lease(self, replica: str, holder: str) -> bool:
        current, expires = self._leases.get(replica, ("", 0.0))
        if current != holder or expires <= self._clock():
            return False
        del self._leases[replica]
        return True


T = TypeVar("T")


class _once(Generic[T]):
    """A property computed on first read and then kept (functools.cached_property without
    its lock, which costs a join on Python 3.11 more than the join itself)."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        value = instance.__dict__[self.compute.__name__] = self.compute(instance)
        return value


class _Ballot:
    """One join on a :class:`MemoryStore`: the facts and effects of
    :class:`~stream_al.io.votes.Ballot`."""

    def __init__(self, store: MemoryStore, entry_id: str, item_id: str, label: str) -> None:
        self.store, self.entry_id, self.item_id, self.label = store, entry_id, item_id, label
        self.now = store._clock()
        self.log_id: str | None = None

    # -- facts -------------------------------------------------------------------------

    @_once
    def pending(self) -> bool:
        current = self.store._pending.get(self.item_id)
        return current is not None and current[0] > self.now

    @_once
    def labeled(self) -> bool:
        return self.store._labeled.get(self.item_id, 0) > self.now

    @_once
    def _record(self) -> dict[str, Any]:
        """The pending record (only a consensus item's is decoded)."""
        payload = self.store._pending[self.item_id][1]
        return json.loads(payload) if '"votes_needed"' in payload else {}

    @_once
    def need(self) -> int:
        return int(self._record.get("votes_needed", 1))

    @_once
    def escalated(self) -> bool:
        return "escalated" in self._record

    @_once
    def _vote(self) -> dict[str, Any]:
        vote: dict[str, Any] = json.loads(self.label)
        return vote

    @_once
    def label_tier(self) -> str | None:
        return self._vote.get("tier")

    @_once
    def _annotator(self) -> str:
        return str(self._vote.get("annotator", votes.UNKNOWN_ANNOTATOR))

    @_once
    def repeated(self) -> bool:
        return self._annotator in self.store._votes.get(self.item_id, {})

    @_once
    def waited(self) -> float:
        earlier = self.store._votes.get(self.item_id, {}).get(self._annotator, {}).get("ts")
        ts = self._vote.get("ts")
        if not isinstance(earlier, int | float) or not isinstance(ts, int | float):
            return math.inf
        return float(ts - earlier)

    @_once
    def _voters(self) -> dict[str, dict[str, Any]]:
        """The item's votes by annotator, oldest first, this one included unless repeated."""
        voters = dict(self.store._votes.get(self.item_id, {}))
        if not self.repeated:
            voters[self._annotator] = self._vote
        return voters

    @_once
    def votes(self) -> int:
        return len(self._voters)

    @_once
    def _tally(self) -> list[tuple[str, int]]:
        """The two most frequent labels (as JSON) and their votes."""
        return Counter(json.dumps(v["label"]) for v in self._voters.values()).most_common(2)

    @_once
    def top(self) -> int:
        return self._tally[0][1]

    @_once
    def runner_up(self) -> int:
        return self._tally[1][1] if len(self._tally) > 1 else 0

    @property
    def min_agreement(self) -> float:
        return self.store.min_agreement

    @property
    def requeue_seconds(self) -> float:
        return self.store.requeue_seconds

    # -- effects -----------------------------------------------------------------------

    def learn(self) -> None:
        self._learn_as(self.label)

    def _learn_as(self, label: str) -> None:
        store = self.store
        deadline, payload = store._pending.pop(self.item_id)
        store._labeled[self.item_id] = deadline  # remembered as long as the item would live
        self.log_id = f"{len(store._train_log) + 1}-0"
        store._train_log.append(TrainLogEntry(self.log_id, payload, label))

    def ack(self) -> None:
        self.store._labels_unacked.pop(self.entry_id, None)

    def record(self) -> None:
        self.store._votes.setdefault(self.item_id, {})[self._annotator] = self._vote

    def requeue(self) -> None:
        self.store._add(self._record.get("slot", ""), self._record["queue_item"])

    def agree(self) -> None:
        best = self._tally[0][0]
        for name, vote in self._voters.items():
            self.store._agreement[f"{name}:total"] += 1
            self.store._agreement[f"{name}:agree"] += json.dumps(vote["label"]) == best

    def learn_consensus(self) -> None:
        best = self._tally[0][0]
        example = [v for v in self._voters.values() if json.dumps(v["label"]) == best][-1]
        consensus = {**example, "annotator": votes.CONSENSUS_ANNOTATOR}
        consensus["votes"] = {name: v["label"] for name, v in self._voters.items()}
        consensus["agreement"] = self.top / self.votes
        self._forget_votes()
        self._learn_as(json.dumps(consensus))

    def escalate(self) -> None:
        to = votes.ESCALATION
        escalated = {name: v["label"] for name, v in self._voters.items()}
        self._forget_votes()
        if "expert_item" in self._record:  # the forms serve wrote (service.routing)
            item = json.loads(self._record["expert_item"])
            record = json.loads(self._record["expert_record"])
        else:
            item = json.loads(self._record["queue_item"])
            item.update(tier=to.tier, priority=to.priority, votes_needed=to.votes_needed)
            record = self._record
            record.update(votes_needed=to.votes_needed, tier=to.tier, slot=to.slot)
        item["escalated"] = record["escalated"] = escalated
        self.store._add(to.slot, json.dumps(item))
        deadline = self.store._pending[self.item_id][0]
        self.store._pending[self.item_id] = (deadline, json.dumps(record))

    def _forget_votes(self) -> None:
        self.store._votes.pop(self.item_id, None)
