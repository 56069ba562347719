"""The labeling worker and its oracles.

A worker takes items from the label queue, asks an :class:`Oracle` for each label, writes
the label to the label stream and removes the item from the queue, in one atomic step.
An item a worker took and did not finish (it crashed, it quit) stays with it: the same
worker gets it back when it restarts, and another worker takes it over once it has been
held longer than ``claim_idle_seconds``.

Oracles:

- :class:`FileOracle` (``file:PATH``): the ground truth from a CSV (``id,label``) or JSONL
  (``{"id": ..., "label": ...}``) file, for simulations and benchmarks;
- :class:`TerminalOracle` (``terminal``): shows the item, the prediction, the
  probabilities and why it was asked, and reads the label from the keyboard;
- :class:`~stream_al.labeling.web.WebOracle` (``web``): the same in a browser, with an undo: the
  worker holds each answer ``undo_seconds`` before writing it.

Label Studio is asynchronous (many tasks open at once), so it is not an oracle but a
bridge with its own loop on the same queue: :mod:`stream_al.labeling.label_studio.bridge`.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from stream_al.io.base import WorkerQueue, check_tier

__all__ = [
    "KEEP_SECONDS",
    "QUIT",
    "SKIP",
    "FileOracle",
    "Oracle",
    "TerminalOracle",
    "Worker",
    "WorkerStats",
    "make_oracle",
]


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# How often an item a person has in front of them is marked as worked on (WorkerQueue.keep).
KEEP_SECONDS = 30.0

SKIP = _Signal("SKIP")
"""The oracle has no label for this item: it is dropped from the queue."""
QUIT = _Signal("QUIT")
"""Stop working; the item stays with this worker (it gets it back on restart)."""


class Oracle(Protocol):
    """Where labels come from."""

    name: str

    def label(self, item: dict[str, Any]) -> Any:
        """The label of ``item`` (a query item, see the schemas), ``SKIP`` or ``QUIT``."""
        ...


class FileOracle:
    """Labels from a file of ground truth: CSV with ``id`` and ``label`` columns, or JSONL.

    An id the file does not know is skipped (and counted by the worker).
    """

    name = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"no such truth file: {path}")
        self.truth = self._read()

    def _read(self) -> dict[str, Any]:
        truth: dict[str, Any] = {}
        with self.path.open(encoding="utf-8", newline="") as f:
            if self.path.suffix in (".jsonl", ".ndjson"):
                for n, line in enumerate(f, 1):
                    if line.strip():
                        row = json.loads(line)
                        if "id" not in row or "label" not in row:
                            raise ValueError(f"{self.path}:{n}: needs 'id' and 'label'")
                        truth[str(row["id"])] = row["label"]
            else:
                reader = csv.DictReader(f)
                if not reader.fieldnames or not {"id", "label"} <= set(reader.fieldnames):
                    raise ValueError(f"{self.path}: a truth CSV needs 'id' and 'label' columns")
                for row in reader:
                    truth[row["id"]] = row["label"]
        return truth

    def label(self, item: dict[str, Any]) -> Any:
        return self.truth.get(str(item.get("id")), SKIP)


class TerminalOracle:
    """Asks a person at a terminal.

    Shows the features, the prediction with its probabilities and why the item was
    asked, then reads a line: the label; an empty line skips the item; ``:q`` (or end of
    input) quits. A label that spells a known class gets that class's type.
    """

    name = "terminal"

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def _show(self, item: dict[str, Any]) -> None:
        out = self.stdout
        out.write(f"\n== item {item.get('id')}  (queued by {item.get('strategy')}: ")
        out.write(f"{item.get('reason')}, uncertainty {item.get('score', 0):.3f}")
        threshold = item.get("threshold")
        if threshold is not None:
            out.write(f", confidence threshold {threshold:.3f}")
        out.write(")\n")
        for name, value in (item.get("features") or {}).items():
            out.write(f"   {name:>24} = {value}\n")
        proba = item.get("proba") or {}
        ranked = sorted(proba.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v:.0%}" for k, v in ranked[:6])
        out.write(f"   model says: {item.get('prediction')!r}  ({shown or 'no idea yet'})\n")
        for line in explanation_lines(item):
            out.write(f"   {line}\n")

    def label(self, item: dict[str, Any]) -> Any:
        self._show(item)
        while True:
            self.stdout.write("label ([Enter] skip, :q quit): ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                return QUIT
            text = line.strip()
            if text == ":q":
                return QUIT
            if not text:
                return SKIP
            return coerce_label(text, item)


def explanation_lines(item: dict[str, Any]) -> list[str]:
    """Why the item was picked, in a few lines a labeler can read.

    >>> explanation_lines({"tier": "expert", "priority": "high", "explanation": {
    ...     "measure": "leaf", "budget": {"budget": 0.1, "target": 0.2, "spent": 0.09,
    ...     "boosted": True}, "drift": {"detections": 1, "label_free": 0, "swaps": 2},
    ...     "top_features": [["x", 1.5]]}})  # doctest: +NORMALIZE_WHITESPACE
    ['why: measure leaf; budget 0.1 (boosted to 0.2 after a drift), 9.0% spent;
      drifts 1, label-free 0, model swaps 2; expert tier, high priority',
     'pushed most by: x (+1.5)']

    """
    why = item.get("explanation") or {}
    if not why:
        return []
    parts = [f"measure {why.get('measure')}"]
    budget = why.get("budget") or {}
    if budget:
        boost = f" (boosted to {budget['target']:g} after a drift)" if budget.get("boosted") else ""
        parts.append(f"budget {budget['budget']:g}{boost}, {budget['spent']:.1%} spent")
    drift = why.get("drift") or {}
    if drift:
        parts.append(
            f"drifts {drift.get('detections', 0)}, label-free {drift.get('label_free', 0)}, "
            f"model swaps {drift.get('swaps', 0)}"
        )
    parts.append(f"{item.get('tier', 'crowd')} tier, {item.get('priority', 'normal')} priority")
    lines = ["why: " + "; ".join(parts)]
    top = why.get("top_features")
    if top:
        lines.append("pushed most by: " + ", ".join(f"{n} ({v:+g})" for n, v in top))
    return lines


def coerce_label(text: str, item: dict[str, Any]) -> Any:
    """``text`` as the type of the classes the model knows (``"1"`` -> 1 for int classes)."""
    prediction = item.get("prediction")
    if prediction is not None and str(prediction) == text:
        return prediction
    if isinstance(prediction, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif isinstance(prediction, int):
        try:
            return int(text)
        except ValueError:
            pass
    return text


def make_oracle(spec: str) -> Oracle:
    """``file:PATH`` or ``terminal``."""
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return FileOracle(arg)
    if kind == "terminal" and not arg:
        return TerminalOracle()
    raise ValueError(f"unknown oracle {spec!r}; use file:PATH, terminal, web or label-studio")


@dataclass
class WorkerStats:
    labeled: int = 0
    skipped: int = 0
    unreadable: int = 0


class Worker:
    """Takes items, gets labels, gives them back (see the module docstring).

    Parameters
    ----------
    queue
        The label queue (Redis or its in-memory twin).
    oracle
        Where labels come from.
    name
        This worker's consumer name (stable across restarts to get its items back).
    annotator
        The ``annotator`` written on each label (default: the oracle's name).
    batch
        Items taken at once (1 for a person, more for a file).
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
        self._hold = float(getattr(oracle, "undo_seconds", 0) or 0)
        self._held: tuple[str, str] | None = None  # (entry id, label JSON)
        self._held_item: dict[str, Any] | None = None
        self._held_at = 0.0
        # Consensus items come in copies: this worker's one vote per item, not two.
        self._voted: OrderedDict[str, int] = OrderedDict()

    def stop(self) -> None:
        self._stop = True
        getattr(self.oracle, "stop", lambda: None)()  # a person may be mid-answer

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
        self._flush()
        return self.stats

    def _flush(self) -> None:
        """Write the held answer (its undo window has passed, or the worker stops)."""
        if self._held is not None:
            entry_id, label = self._held
            self._held = self._held_item = None
            self.queue.complete(entry_id, label)
            getattr(self.oracle, "holding", lambda can_undo: None)(False)

    def _ask(self, entry_id: str, item: dict[str, Any]) -> Any:
        """The oracle's answer for ``item``; with an undo, a taken-back answer is asked
        again first (and an expired hold written while the labeler thinks)."""
        if not self._hold:
            return self.oracle.label(item)
        from stream_al.labeling.web import TIMEOUT, UNDO

        while True:
            # Wake up to write an expired hold, and now and then to keep the item shown:
            # a person may look at it longer than claim_idle_seconds.
            left = KEEP_SECONDS
            if self._held is not None:
                left = min(left, max(0.0, self._held_at + self._hold - time.monotonic()))
            answer = self.oracle.label(item, timeout=left)  # type: ignore[call-arg]
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

    def _handle(self, entry_id: str, raw: str) -> bool:
        try:
            item = json.loads(raw)
        except ValueError:
            self.stats.unreadable += 1
            self.queue.complete(entry_id, None)
            return True
        if int(item.get("votes_needed") or 1) > 1 and not self._vote_once(entry_id, raw, item):
            return True
        return self._finish(entry_id, item, self._ask(entry_id, item))

    def _finish(self, entry_id: str, item: dict[str, Any], answer: Any) -> bool:
        if answer is QUIT:
            self._stop = True
            return False
        if answer is SKIP:
            self.stats.skipped += 1
            self.queue.complete(entry_id, None)
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
        getattr(self.oracle, "holding", lambda can_undo: None)(True)
        return True
