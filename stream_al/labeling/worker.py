"""The labeling worker: takes items from the label queue and asks an oracle for each.

A worker takes items from the label queue, asks an :class:`~stream_al.labeling.base.Oracle`
for each label, writes the label to the label stream and removes the item from the queue,
in one atomic step. An item a worker took and did not finish (it crashed, it quit) stays
with it: the same worker gets it back when it restarts, and another worker takes it over
once it has been held longer than ``claim_idle_seconds`` (docs/design.md, "Delivery and
state semantics"). A consensus item comes in copies, and the worker votes once on each
item (docs/design.md, "Tiers, priorities and consensus").

A skipped item goes back to the queue, at its end, for another labeler; a worker that
meets an item it skipped again gives it back unseen, and after :data:`GIVE_BACKS` such
meetings (nobody else took it: the worker is alone in its tier) it drops the item: out of
the queue and out of the pending items, counted as ``skipped`` (docs/design.md,
"Labeling"). The worker reports its progress (labeled, skipped, pace) to the oracle
before each item and to its log every :data:`REPORT_SECONDS`.

With an oracle that has an undo window (:attr:`~stream_al.labeling.base.Oracle.undo_seconds`
above 0, the web page) the worker holds each answer that long before writing it, and
wakes up at least every :data:`~stream_al.labeling.base.KEEP_SECONDS` to write an expired
answer and to keep the item on screen from being taken over.

The oracles are in :mod:`stream_al.labeling.oracles` and :mod:`stream_al.labeling.web`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stream_al.io.base import WorkerQueue, check_tier
from stream_al.labeling.base import (
    GIVE_BACKS,
    KEEP_SECONDS,
    QUIT,
    SKIP,
    TIMEOUT,
    UNDO,
    Oracle,
    Skips,
    unreadable_item,
)
from stream_al.labeling.oracles import coerce_label
from stream_al.schemas import loads

__all__ = ["GIVE_BACKS", "REPORT_SECONDS", "Worker", "WorkerStats"]

log = logging.getLogger("stream_al.worker")

REPORT_SECONDS = 10.0
"""How often a working worker logs its progress."""


@dataclass
class WorkerStats:
    """What a worker did: items labeled, skipped, dropped as unreadable, and items nobody
    would label dropped after their give-backs."""

    labeled: int = 0
    skipped: int = 0
    unreadable: int = 0
    dropped: int = 0
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
        # Consensus items come in copies: this worker's one vote per item, not two.
        self._voted: OrderedDict[str, int] = OrderedDict()
        # Items this worker skipped: id -> times given back unseen since.
        self._skipped = Skips()
        self._reported = (time.monotonic(), 0)

    def stop(self) -> None:
        self._stop = True
        self.oracle.stop()  # a person may be mid-answer

    def stopped(self) -> bool:
        return self._stop

    def run(self, max_items: int | None = None, idle_exit: float | None = None) -> WorkerStats:
        """Work until stopped, ``max_items`` done, or the queue idle for ``idle_exit`` s."""
        idle_since = time.monotonic()
        while not self._stop:
            if max_items is not None and self.stats.labeled + self.stats.skipped >= max_items:
                break
            entries = self.queue.take(
                self.name, self.batch, 500, tier=self.tier, stale_seconds=self.stale_seconds
            )
            if self._held is not None and time.monotonic() - self._held_at >= self._hold:
                self._flush()
            if not entries:
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                continue
            idle_since = time.monotonic()
            for entry_id, raw in entries:
                if not self._handle(entry_id, raw):
                    self._flush()
                    return self.stats
            self._report()
        self._flush()
        return self.stats

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

    def _vote_once(self, entry_id: str, raw: str, item: dict[str, Any]) -> bool:
        """Whether to label this copy: a copy of an item already voted on goes back for
        another worker (a few times; alone in its tier, the worker votes again and the
        service sends the item to an expert)."""
        item_id = str(item.get("id"))
        seen = self._voted.get(item_id)
        if seen is None:
            self._voted[item_id] = 0
            while len(self._voted) > 10_000:
                self._voted.popitem(last=False)
            return True
        if seen < 3:
            self._voted[item_id] = seen + 1
            self.queue.release(entry_id, raw)
            return False
        return True

    def _pass_on(self, entry_id: str, raw: str, item: dict[str, Any]) -> None:
        """An item this worker skipped comes again: give it back unseen, or drop it once
        it has come back :data:`GIVE_BACKS` times (no other labeler took it)."""
        item_id = str(item.get("id"))
        if self._skipped.give_back(item_id):
            self.queue.release(entry_id, raw)
            return
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
        if int(item.get("votes_needed") or 1) > 1 and not self._vote_once(entry_id, raw, item):
            return True
        self.oracle.progress(self.stats.line())
        return self._finish(entry_id, item, self._ask(entry_id, item))

    def _finish(self, entry_id: str, item: dict[str, Any], answer: Any) -> bool:
        if answer is QUIT:
            self._stop = True
            return False
        if answer is SKIP:
            self.stats.skipped += 1
            self._skipped.skipped(str(item.get("id")))
            self.queue.release(entry_id, json.dumps(item))  # for another labeler
            return True
        if isinstance(answer, str):
            answer = coerce_label(answer, item)
        label = {"id": item["id"], "label": answer, "annotator": self.annotator, "ts": self.clock()}
        label["tier"] = item.get("tier", self.tier)  # an escalated item takes an expert's
        self.stats.labeled += 1
        if not self._hold:
            self.queue.complete(entry_id, json.dumps(label))
            return True
        self._flush()  # the answer before this one is final now
        self._held, self._held_item = (entry_id, json.dumps(label)), item
        self._held_at = time.monotonic()
        self.oracle.holding(True)
        return True
