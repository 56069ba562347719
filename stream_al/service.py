"""The label loop that wires the active learner to its stores.

:class:`LabelLoop` is the heart of ``stream-al serve`` and of the embedded demo. It runs on
one thread and does three things, each a method the caller drives in turn:

1. :meth:`LabelLoop.process_events`: validate each event, decide, and for a queried one
   store its features under its id (put-if-absent, with a TTL) and push it to the label
   queue; invalid events go to the dead letters with the reason.
2. :meth:`LabelLoop.process_labels`: join each label with its pending features (an atomic
   take, so a repeated label is learned once), append the example to the train log and
   acknowledge the label; orphaned, duplicate and invalid labels go to the dead letters.
3. :meth:`LabelLoop.apply_train_log`: learn the new train-log entries in log order. The
   model only ever learns from the log, so replaying the log after a checkpoint rebuilds
   exactly the model that was lost.

Nothing here knows whether the stores are Redis or the in-memory twins.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from stream_al.core.learner import ActiveLearner, Decision
from stream_al.io.base import DeadLetters, LabelQueue, LabelStream, PendingStore, TrainLog
from stream_al.schemas import DeadLetter, Event, Label

__all__ = ["EVENT_OUTCOMES", "LABEL_OUTCOMES", "LabelLoop"]

# Outcomes are a closed set (they label metrics); every one is counted from the start.
EVENT_OUTCOMES = ("predicted", "queried", "duplicate", "backpressure", "invalid")
LABEL_OUTCOMES = ("joined", "orphaned", "duplicate", "invalid")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()
        )
    return str(exc)


class LabelLoop:
    """Events in, queries out, labels joined, the train log learned.

    Parameters
    ----------
    learner
        The active learner (the only place the model lives).
    queue, pending, labels, train_log, dead_letters
        The stores (see :mod:`stream_al.io.base`).
    predictions
        Called with each prediction as JSON, or None to publish nothing.
    max_queue_depth
        When the label queue holds this many items, new queries are skipped.
    label_ttl
        Seconds a queried item waits for its label before it is forgotten.
    clock
        Wall-clock seconds, for timestamps.

    """

    def __init__(
        self,
        learner: ActiveLearner,
        *,
        queue: LabelQueue,
        pending: PendingStore,
        labels: LabelStream,
        train_log: TrainLog,
        dead_letters: DeadLetters,
        predictions: Callable[[str], None] | None = None,
        max_queue_depth: int = 10_000,
        label_ttl: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ):
        self.learner = learner
        self.queue = queue
        self.pending = pending
        self.labels = labels
        self.train_log = train_log
        self.dead_letters = dead_letters
        self.predictions = predictions
        self.max_queue_depth = max_queue_depth
        self.label_ttl = label_ttl
        self.clock = clock
        self.last_applied: str | None = None
        self.events = Counter(dict.fromkeys(EVENT_OUTCOMES, 0))
        self.label_outcomes = Counter(dict.fromkeys(LABEL_OUTCOMES, 0))

    # -- events ------------------------------------------------------------------------

    def process_events(self, batch: Iterable[tuple[str, str | bytes]]) -> list[Decision | None]:
        """Decide every event of ``batch`` (pairs of origin and raw JSON).

        Returns the decisions in order, None for an event that was dead-lettered.
        """
        room = self.max_queue_depth - self.queue.depth()
        out: list[Decision | None] = []
        for origin, raw in batch:
            try:
                event = Event.model_validate_json(raw)
            except ValidationError as exc:
                self._dead_letter(origin, exc, raw)
                self.events["invalid"] += 1
                out.append(None)
                continue
            decision = self._decide(event, may_query=room > 0)
            if decision.queried:
                room -= 1
            out.append(decision)
        return out

    def _decide(self, event: Event, may_query: bool) -> Decision:
        learner = self.learner
        decision = learner.decide(dict(event.features), event.cost, may_query=may_query)
        now = self.clock()
        outcome = "predicted"
        if not may_query:
            outcome = "backpressure"
        elif decision.queried:
            outcome = self._enqueue(event, decision, now)
        self.events[outcome] += 1
        if self.predictions is not None:
            self.predictions(
                _json(
                    {
                        "id": event.id,
                        "prediction": decision.prediction,
                        "proba": {str(k): v for k, v in decision.proba.items()},
                        "queried": outcome == "queried",
                        "score": decision.score,
                        "model_version": learner.model_version,
                        "ts": now,
                    }
                )
            )
        return decision

    def _enqueue(self, event: Event, decision: Decision, now: float) -> str:
        version = self.learner.model_version
        stored = _json(
            {
                "features": event.features,
                "prediction": decision.prediction,
                "score": decision.score,
                "enqueued_at": now,
                "model_version": version,
            }
        )
        if not self.pending.put(event.id, stored, self.label_ttl):
            return "duplicate"  # at-least-once delivery: this id is already waiting
        self.queue.push(
            _json(
                {
                    "id": event.id,
                    "features": event.features,
                    "proba": {str(k): v for k, v in decision.proba.items()},
                    "prediction": decision.prediction,
                    "score": decision.score,
                    "strategy": self.learner.strategy_name,
                    "threshold": decision.threshold,
                    "reason": decision.reason,
                    "enqueued_at": now,
                    "model_version": version,
                }
            )
        )
        return "queried"

    # -- labels ------------------------------------------------------------------------

    def process_labels(self, max_count: int = 500) -> int:
        """Join up to ``max_count`` waiting labels into the train log; returns how many."""
        joined = 0
        for entry_id, raw in self.labels.read(max_count):
            origin = f"labels:{entry_id}"
            try:
                label = Label.model_validate_json(raw)
            except ValidationError as exc:
                self._dead_letter(origin, exc, raw)
                self.label_outcomes["invalid"] += 1
                self.labels.ack(entry_id)
                continue
            stored = self.pending.take(label.id)
            if stored is None:
                if self.pending.was_taken(label.id):
                    outcome, why = "duplicate", "a label for this item was already learned"
                else:
                    outcome, why = (
                        "orphaned",
                        "no pending item with this id (never queried, or its TTL expired)",
                    )
                self._dead_letter(origin, ValueError(f"{outcome} label: {why}"), raw)
                self.label_outcomes[outcome] += 1
                self.labels.ack(entry_id)
                continue
            item = json.loads(stored)
            self.train_log.append(
                _json(
                    {
                        "id": label.id,
                        "features": item["features"],
                        "label": label.label,
                        "prediction": item["prediction"],
                        "annotator": label.annotator,
                        "enqueued_at": item["enqueued_at"],
                        "labeled_at": label.ts if label.ts is not None else self.clock(),
                    }
                )
            )
            self.labels.ack(entry_id)
            self.label_outcomes["joined"] += 1
            joined += 1
        return joined

    def apply_train_log(self, max_count: int = 1000) -> int:
        """Learn the train-log entries after the last applied one, in order."""
        entries = self.train_log.read_after(self.last_applied, max_count)
        learn = self.learner.learn
        for entry_id, raw in entries:
            example = json.loads(raw)
            learn(example["features"], example["label"], example["prediction"])
            self.last_applied = entry_id
        return len(entries)

    # -- dead letters ------------------------------------------------------------------

    def _dead_letter(self, origin: str, exc: Exception, raw: str | bytes) -> None:
        payload = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        record = DeadLetter(source=origin, error=_error_text(exc), payload=payload, ts=self.clock())
        self.dead_letters.send(record.model_dump_json())
