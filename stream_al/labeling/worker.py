"""The labeling worker: takes items from the label queue and asks an oracle for each.

A worker takes items from the label queue, asks an :class:`~stream_al.labeling.base.Oracle`
for each label, writes the label to the label stream and removes the item from the queue,
in one atomic step. An item a worker took and did not finish (it crashed, it quit) stays
with it: the same worker gets it back when it restarts, and another worker takes it over
once it has been held longer than ``claim_idle_seconds`` (docs/design.md, "Delivery and
state semantics"). A consensus item comes in copies, and the worker votes once on each
item: a copy of an item it voted on goes back for another annotator, paced, for
:data:`~stream_al.io.votes.REQUEUE_SECONDS`; if it still comes back, the worker sends its
vote again, which sends the item to an expert (:class:`VotedCopies`; docs/design.md, "Tiers,
priorities and consensus").

A skipped item goes back to the queue, at its end, for another labeler; a worker that
meets an item it skipped again gives it back unseen, paced as the copies are, and once it
has been going back for ``requeue_seconds`` (nobody else took it: the worker is alone in
its tier) it drops the item: out of the queue and out of the pending items, counted as
``skipped`` (:class:`~stream_al.labeling.base.GiveBacks`; docs/design.md, "Labeling").
The worker reports its progress (labeled, skipped, pace) to the oracle before each item
and to its log every :data:`REPORT_SECONDS`.

With an oracle that has an undo window (:attr:`~stream_al.labeling.base.Oracle.undo_seconds`
above 0, the web page) the worker holds each answer that long before writing it, and
wakes up at least every :data:`~stream_al.labeling.base.KEEP_SECONDS` to write an expired
answer and to keep the item on screen from being taken over.

The oracles are in :mod:`stream_al.labeling.oracles` and :mod:`stream_al.labeling.web`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stream_al.io.base import WorkerQueue, check_tier
from stream_al.io.votes import REQUEUE_SECONDS
from stream_al.labeling.base import (
    FIRST_GAP_SECONDS,
    KEEP_SECONDS,
    LONGEST_GAP_SECONDS,
    QUIT,
    SKIP,
    TIMEOUT,
    UNDO,
    GiveBacks,
    Oracle,
    unreadable_item,
)
from stream_al.labeling.oracles import coerce_label
from stream_al.schemas import loads

__all__ = [
    "FIRST_GAP_SECONDS",
    "LONGEST_GAP_SECONDS",
    "REPORT_SECONDS",
    "VotedCopies",
    "Worker",
    "WorkerStats",
]

log = logging.getLogger("stream_al.worker")

REPORT_SECONDS = 10.0
"""How often a working worker logs its progress."""


class VotedCopies:
    """The consensus items a worker voted on, and what becomes of a copy of one that comes
    to it again: one rule, in one object (docs/design.md, "Tiers, priorities and
    consensus").

    The copy is for another annotator, so it goes back to the queue: at once the first
    time, then each time no sooner than a gap after the last (from
    :data:`FIRST_GAP_SECONDS`, doubling up to :data:`LONGEST_GAP_SECONDS`): a worker alone
    in its tier holds the copy between times instead of reading it again at once, and
    another annotator away for a moment still finds it. Once a copy has been going back
    for ``requeue_seconds`` and still comes back, nobody else took one in all that time:
    the vote goes again, and the join (:data:`~stream_al.io.votes.RULES`, which reads the
    same ``ts``) sends the item to an expert. The time counts from the first give-back,
    not from the vote: a copy can sit unoffered with a worker whose connection dropped
    mid-batch until it is claimed again, and that was nobody's chance to take it. The
    newest ``size`` are kept.

    Times are the worker's clock, the one that stamps each label's ``ts``.

    >>> copies = VotedCopies(requeue_seconds=60.0)
    >>> copies.voted("a", {"id": "a", "label": "cat", "ts": 100.0})
    >>> acted = []
    >>> while not acted or acted[-1][1] is None:  # a worker alone: the copy always returns
    ...     now = copies.due("a")
    ...     acted.append((now - 100, copies.act("a", now)))
    >>> [t for t, _ in acted[:7]], [t for t, _ in acted[-3:]], len(acted)
    ([0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 11.75], [55.75, 59.75, 60.0], 20)
    >>> acted[-1][1]  # given back 19 times in a minute, then the vote goes again
    {'id': 'a', 'label': 'cat', 'ts': 160.0}

    A copy met first long after the vote (it sat with a worker cut off mid-batch) goes
    back all the same: the minute starts there.

    >>> copies.voted("b", {"id": "b", "label": "dog", "ts": 100.0})
    >>> copies.act("b", 400.0) is None, copies.due("b")
    (True, 400.25)
    """

    def __init__(self, requeue_seconds: float = REQUEUE_SECONDS, size: int = 10_000) -> None:
        self._copies = GiveBacks(requeue_seconds, size)  # each with its vote

    @property
    def requeue_seconds(self) -> float:
        return self._copies.seconds

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._copies

    def voted(self, item_id: str, label: dict[str, Any]) -> None:
        """The worker wrote ``label`` (with its ``ts``) as its vote on ``item_id`` (again,
        after an undo: the vote and its time are the new ones)."""
        self._copies.add(item_id, due=float(label["ts"]), value=label)

    def discard(self, item_id: str) -> None:
        """The vote on ``item_id`` was taken back (undone, then skipped): none to send."""
        self._copies.discard(item_id)

    def due(self, item_id: str) -> float:
        """When a copy of ``item_id`` met now may be acted on (:meth:`act`); until then
        the worker holds it."""
        return self._copies.due(item_id)

    def act(self, item_id: str, now: float) -> dict[str, Any] | None:
        """A copy of ``item_id`` at ``now`` (not before :meth:`due`): None to give it back,
        or, once copies have gone back for ``requeue_seconds``, the vote to send again (its
        ``ts`` ``now``; :class:`~stream_al.labeling.base.GiveBacks` paces them)."""
        if self._copies.act(item_id, now):
            return None
        return {**self._copies.value(item_id), "ts": now}


@dataclass
class WorkerStats:
    """What a worker did: items labeled, skipped, dropped as unreadable, items nobody
    would label dropped after their give-backs, and consensus votes sent again because no
    other annotator took a copy in time (those items went to an expert)."""

    labeled: int = 0
    skipped: int = 0
    unreadable: int = 0
    dropped: int = 0
    voted_again: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self, now: float | None = None) -> str:
        """One line of progress: ``12 labeled, 1 skipped, 4.3 per minute``.

        >>> WorkerStats(labeled=12, skipped=1, started=0.0).line(now=180.0)
        '12 labeled, 1 skipped, 4.3 per minute'

        """
        minutes = max(((time.monotonic() if now is None else now) - self.started) / 60, 1e-9)
        rate = (self.labeled + self.skipped) / minutes
        return f"{self.labeled:,} labeled, {self.skipped:,} skipped, {rate:.1f} per minute"


class Worker:
    """Takes items, gets labels, gives them back (see the module docstring).

    Parameters
    ----------
    queue
        The label queue (Redis or its in-memory twin).
    oracle
        Where labels come from; with an undo window (``oracle.undo_seconds``) each answer
        is held that long before it is written.
    name
        This worker's consumer name (stable across restarts to get its items back).
    annotator
        The ``annotator`` written on each label (default: the oracle's name).
    batch
        Items taken at once (1 for a person, more for a file: ``oracle.batch``).
    tier
        Which tier's items this worker labels: ``crowd`` or ``expert``.
    stale_seconds
        Items queued longer ago are dropped unlabeled (counted in Redis); None keeps all.
    requeue_seconds
        How long the worker gives back the copies of a consensus item it voted on, for
        other annotators, before it votes again (:data:`~stream_al.io.votes.REQUEUE_SECONDS`,
        which the join follows too), and an item it skipped before it drops it.

    """

    def __init__(
        self,
        queue: WorkerQueue,
        oracle: Oracle,
        name: str,
        annotator: str | None = None,
        batch: int = 1,
        clock: Callable[[], float] = time.time,
        tier: str = "crowd",
        stale_seconds: float | None = None,
        requeue_seconds: float = REQUEUE_SECONDS,
    ):
        check_tier(tier)
        self.tier = tier
        self.stale_seconds = stale_seconds
        self.queue = queue
        self.oracle = oracle
        self.name = name
        self.annotator = annotator or oracle.name
        self.batch = batch
        self.clock = clock
        self.stats = WorkerStats()
        self._stop = False
        # An oracle with an undo: the last answer waits here until its window has passed.
        self._hold = float(oracle.undo_seconds)
        self._held: tuple[str, str] | None = None  # (entry id, label JSON)
        self._held_item: dict[str, Any] | None = None
        self._held_at = 0.0
        # Consensus items come in copies: this worker's one vote per item, not two; the
        # copies met again held until they may go back: entry id -> (due, item id, item).
        self._voted = VotedCopies(requeue_seconds)
        self._holding: dict[str, tuple[float, str, str]] = {}
        # Items this worker skipped, given back unseen when met again (held the same way).
        self._skipped = GiveBacks(requeue_seconds)
        self._reported = (time.monotonic(), 0)

    def stop(self) -> None:
        self._stop = True
        self.oracle.stop()  # a person may be mid-answer

    def stopped(self) -> bool:
        return self._stop

    def run(self, max_items: int | None = None, idle_exit: float | None = None) -> WorkerStats:
        """Work until stopped, ``max_items`` done, or the queue idle for ``idle_exit`` s.

        A run begins with the worker's own unfinished items: run again after a failure
        (Redis away), it gets back the batch the failure dropped from its hands, which
        waited for the claim-idle time otherwise (300 s by default), except the copies
        and the answer it still holds."""
        self.queue.take_own_again(self.name)
        idle_since = time.monotonic()
        while not self._stop:
            if max_items is not None and self.stats.labeled + self.stats.skipped >= max_items:
                break
            self._give_back_due()
            entries = self.queue.take(
                self.name,
                self.batch,
                self._block_ms(),
                tier=self.tier,
                stale_seconds=self.stale_seconds,
            )
            if self._held is not None and time.monotonic() - self._held_at >= self._hold:
                self._flush()
            if not entries:
                # Not idle while holding items: they still go back, or end (a vote sent
                # again, a skipped item dropped).
                idle = time.monotonic() - idle_since
                if idle_exit is not None and not self._holding and idle >= idle_exit:
                    break
                continue
            idle_since = time.monotonic()
            held = {*self._holding, *(self._held[:1] if self._held else ())}
            for entry_id, raw in entries:
                if entry_id in held:  # taken again after a failure: still in hand
                    continue
                if not self._handle(entry_id, raw):
                    self._finish_run()
                    return self.stats
            self._report()
        self._finish_run()
        return self.stats

    def _finish_run(self) -> None:
        """Write the held answer; the copies held go back for other annotators now."""
        self._flush()
        for entry_id, (_, _, raw) in list(self._holding.items()):
            self.queue.release(entry_id, raw)
            del self._holding[entry_id]

    def _block_ms(self) -> int:
        """How long a take waits for items: 500 ms, or until the first held copy is due
        (waiting on the queue, not sleeping: a new item ends the wait)."""
        if not self._holding:
            return 500
        wait = min(due for due, _, _ in self._holding.values()) - self.clock()
        return max(1, min(500, math.ceil(wait * 1000)))

    def _give_back_due(self) -> None:
        now = self.clock()
        for entry_id, (due, item_id, raw) in list(self._holding.items()):
            if due <= now:
                del self._holding[entry_id]
                if item_id in self._skipped:
                    self._pass_on(entry_id, raw, loads(raw))
                else:
                    self._meet_again(entry_id, raw, item_id)

    def _report(self) -> None:
        """Log the progress every :data:`REPORT_SECONDS` while something changes."""
        now, done = time.monotonic(), self.stats.labeled + self.stats.skipped
        if now - self._reported[0] >= REPORT_SECONDS and done != self._reported[1]:
            self._reported = (now, done)
            log.info("worker %s: %s; queue %d", self.name, self.stats.line(), self.queue.depth())

    def _flush(self) -> None:
        """Write the held answer (its undo window has passed, or the worker stops)."""
        if self._held is not None:
            entry_id, label = self._held
            self._held = self._held_item = None
            self.queue.complete(entry_id, label)
            self.oracle.holding(False)

    def _ask(self, entry_id: str, item: dict[str, Any]) -> Any:
        """The oracle's answer for ``item``; with an undo, a taken-back answer is asked
        again first (and an expired hold written while the labeler thinks)."""
        if not self._hold:
            return self.oracle.label(item)
        while True:
            # Wake up to write an expired hold, and now and then to keep the item shown:
            # a person may look at it longer than claim_idle_seconds.
            left = KEEP_SECONDS
            if self._held is not None:
                left = min(left, max(0.0, self._held_at + self._hold - time.monotonic()))
            answer = self.oracle.label(item, timeout=left)
            if answer is TIMEOUT:
                if self._held is not None and time.monotonic() >= self._held_at + self._hold:
                    self._flush()
                self.queue.keep(self.name, [entry_id])
            elif answer is UNDO:
                if self._held is not None and self._held_item is not None:
                    (held_entry, _), held_item = self._held, self._held_item
                    self._held = self._held_item = None
                    self.stats.labeled -= 1
                    self._finish(held_entry, held_item, self._ask(held_entry, held_item))
            else:
                return answer

    def _meet_again(self, entry_id: str, raw: str, item_id: str) -> None:
        """A copy of an item this worker voted on: held until it may go back, then given
        back for another annotator, or (nobody else took one in time) the vote sent again,
        which sends the item to an expert (:class:`VotedCopies`)."""
        if item_id not in self._voted:  # forgotten (the newest 10,000 are kept)
            self.queue.release(entry_id, raw)
            return
        now, due = self.clock(), self._voted.due(item_id)
        if now < due:
            self._holding[entry_id] = (due, item_id, raw)
            return
        vote = self._voted.act(item_id, now)
        if vote is None:
            self.queue.release(entry_id, raw)
            return
        if not self.stats.voted_again:
            log.warning(
                "worker %s: no other annotator took a copy of item %s in %.0f s: its vote "
                "goes again, and the item to the expert tier (as will others like it: is "
                "this worker alone in its tier?)",
                self.name,
                item_id,
                self._voted.requeue_seconds,
            )
        self.stats.voted_again += 1
        self.queue.complete(entry_id, json.dumps(vote))

    def _pass_on(self, entry_id: str, raw: str, item: dict[str, Any]) -> None:
        """An item this worker skipped comes again: held until it may go back, then given
        back unseen, or dropped once it has been going back for ``requeue_seconds`` and
        still comes (no other labeler took it; :class:`~stream_al.labeling.base.GiveBacks`)."""
        item_id = str(item.get("id"))
        now, due = self.clock(), self._skipped.due(item_id)
        if now < due:
            self._holding[entry_id] = (due, item_id, raw)
            return
        if self._skipped.act(item_id, now):
            self.queue.release(entry_id, raw)
            return
        self._skipped.discard(item_id)
        self.stats.dropped += 1
        if int(item.get("votes_needed") or 1) > 1:
            self.queue.complete(entry_id, None)  # other copies still wait for their votes
        else:
            self.queue.drop(entry_id, item_id)

    def _handle(self, entry_id: str, raw: str) -> bool:
        problem = unreadable_item(raw)
        if problem is not None:
            # No labeler can answer it and no label could name it: held, it would come
            # back to this worker after every restart and stop it again.
            log.warning("queue entry %s dropped unlabeled: %s: %.200s", entry_id, problem, raw)
            self.stats.unreadable += 1
            self.queue.complete(entry_id, None)
            return True
        item = loads(raw)
        if str(item.get("id")) in self._skipped:
            self._pass_on(entry_id, raw, item)
            return True
        if int(item.get("votes_needed") or 1) > 1 and str(item.get("id")) in self._voted:
            self._meet_again(entry_id, raw, str(item.get("id")))
            return True
        self.oracle.progress(self.stats.line())
        return self._finish(entry_id, item, self._ask(entry_id, item))

    def _finish(self, entry_id: str, item: dict[str, Any], answer: Any) -> bool:
        if answer is QUIT:
            self._stop = True
            return False
        if answer is SKIP:
            self.stats.skipped += 1
            self._skipped.add(str(item.get("id")), due=self.clock())
            self._voted.discard(str(item.get("id")))  # an undone vote, if any
            self.queue.release(entry_id, json.dumps(item))  # for another labeler
            return True
        if isinstance(answer, str):
            answer = coerce_label(answer, item)
        label = {"id": item["id"], "label": answer, "annotator": self.annotator, "ts": self.clock()}
        label["tier"] = item.get("tier", self.tier)  # an escalated item takes an expert's
        self.stats.labeled += 1
        if int(item.get("votes_needed") or 1) > 1:
            self._voted.voted(str(item["id"]), label)
        if not self._hold:
            self.queue.complete(entry_id, json.dumps(label))
            return True
        self._flush()  # the answer before this one is final now
        self._held, self._held_item = (entry_id, json.dumps(label)), item
        self._held_at = time.monotonic()
        self.oracle.holding(True)
        return True
