"""The serve loop: events in, queries out, labels joined, the train log learned.

:class:`LabelLoop` is the heart of ``stream-al serve`` and of the embedded demo; it does
not know whether its stores are Redis or the in-memory twins. One thread drives it:

1. :meth:`LabelLoop.decide_batch` validates and decides every event of a batch (no I/O),
   then :meth:`LabelLoop.complete_batch` performs the side effects: for a queried event
   its pending features and its queue entry in one atomic step (a replayed event is not
   queued again, and, looked up before it is decided, not asked or charged again), the
   prediction, the dead letters. Decisions are made once: a batch
   whose side effects failed half way (Redis restarting, say) is completed, not decided
   again.
2. :meth:`LabelLoop.process_labels` joins each label with its pending item into the
   train log (atomically; a repeated label is learned once); orphaned, duplicate and
   invalid labels are dead-lettered and counted.
3. :meth:`LabelLoop.apply_train_log` learns the new train-log entries in log order. The
   model learns only from the log, so a checkpoint plus the log after it rebuilds exactly
   the model that was lost.

:class:`~stream_al.service.runner.Service` runs it on Kafka and Redis.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from stream_al.core.explain import top_contributions
from stream_al.core.feature_kinds import IdLikeText, InvalidExample, InvalidFeatures, InvalidLabel
from stream_al.core.learner import ActiveLearner, AskedBefore, Assessment, Decision
from stream_al.core.routing import Routing
from stream_al.core.strategies import QUERY_RANDOM
from stream_al.io.base import (
    DeadLetterSink,
    EnqueueRequest,
    LabelStore,
    TrainLogEntry,
    Unreadable,
    WrongType,
)
from stream_al.runtime.metrics import EVENT_OUTCOMES, LABEL_OUTCOMES, SAMPLES, Metrics
from stream_al.schemas import DeadLetter, Event, Label, parse_event, prediction_json
from stream_al.service.routing import queue_request

__all__ = ["ACCURACY_WINDOW", "ASKED_HERE_KEPT", "Action", "LabelLoop", "dead_letter", "read_event"]

log = logging.getLogger("stream_al.service")

MAX_DEAD_LETTER_PAYLOAD = 16_384
# The reason is cut too: pydantic names every error, four per feature of a union, so an
# event of 56 KB (below max_event_bytes) gave a 1.26 MB reason, a dead letter larger than
# a Kafka message may be, whose send failed for ever and stopped the loop.
MAX_DEAD_LETTER_ERROR = 4_096
MAX_VALIDATION_ERRORS = 20
ACCURACY_WINDOW = 500
ASKED_HERE_KEPT = 20_000
"""Ids the loop remembers its learner asked (about 2 MB): a copy of such an event (a
producer's retry, a partition handed back to this replica) changes nothing in the learner.
An older one's copy is charged once more, as one the store knows but this learner does
not (``ActiveLearner.decide``'s ``asked_before``)."""


# A \uXXXX escape of half a UTF-16 surrogate pair without the other half: JSON writers
# (Python's json.dumps among them) write one for a string that is no text, and the parser
# refuses it as "unexpected end of hex escape", which sends one looking for a cut escape.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|"
    rb"(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


_JSON_KINDS = {
    type(None): "JSON null",
    bool: "a JSON boolean",
    int: "a JSON number",
    float: "a JSON number",
    str: "a JSON string",
    list: "a JSON array",
}


def _message(err: Any) -> str:
    """A validation error's message, saying what a lone surrogate escape is, and what JSON
    value stands where an object should ("Input should be an object" alone left one to
    guess whether the message was cut, framed or of another kind)."""
    raw = err.get("input")
    if err["type"] == "model_type" and type(raw) in _JSON_KINDS:
        return f"{err['msg']}, got {_JSON_KINDS[type(raw)]}"
    if err["type"] == "json_invalid" and isinstance(raw, bytes | str):
        found = _LONE_SURROGATE.search(raw.encode() if isinstance(raw, str) else raw)
        if found is not None:
            escape = found.group().decode()
            return (
                f"{err['msg']}: {escape} is half of a UTF-16 surrogate pair, no character "
                "(the text was not valid Unicode where it was written)"
            )
    return str(err["msg"])


def _error_text(exc: Exception) -> str:
    """The reason for a dead letter: a validation error's first
    :data:`MAX_VALIDATION_ERRORS` errors (and how many more there were)."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        text = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {_message(err)}"
            for err in errors[:MAX_VALIDATION_ERRORS]
        )
        more = len(errors) - MAX_VALIDATION_ERRORS
        return f"{text}; and {more:,} more errors" if more > 0 else text
    return str(exc)


_UTF8_BOM = "\ufeff"


def _framing_hint(raw: str | bytes) -> str:
    """What to fix when ``raw`` is JSON framed or encoded otherwise than as UTF-8 text:
    "Invalid JSON at column 1" alone did not say why; nothing otherwise.

    Confluent's Schema Registry serializers frame a message (a zero byte, a 4-byte schema
    id, then Avro, Protobuf or JSON); a UTF-8 byte order mark comes before the text of
    some Windows tools and .NET writers; UTF-16 text has a zero byte beside each ASCII
    character (and a byte order mark of its own, or none).

    >>> _framing_hint("\ufeff{}")[:52]
    ' (the message begins with a UTF-8 byte order mark, U'
    >>> _framing_hint('{"id": 1}'.encode("utf-16-le"))[:42]
    ' (the message is UTF-16 text, not UTF-8: a'

    """
    if isinstance(raw, str):  # a label: Redis's bytes read as UTF-8 already
        raw = raw[:1].encode("utf-8", "replace")
    if raw.startswith(_UTF8_BOM.encode()):
        return (
            " (the message begins with a UTF-8 byte order mark, U+FEFF, which JSON does not "
            "take: write the JSON without one)"
        )
    head = raw[:4]
    little, big = head[1:2] == head[3:4] == b"\0", head[0:1] == head[2:3] == b"\0"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (little and head[0]) or (big and head[1]):
        return (
            " (the message is UTF-16 text, not UTF-8: a zero byte beside each character; "
            "encode the JSON as UTF-8)"
        )
    if len(raw) < 5 or raw[0] != 0:
        return ""
    schema = int.from_bytes(raw[1:5], "big")
    return (
        f" (Confluent Schema Registry's framing: a zero byte and schema id {schema} before the "
        "value; serve reads plain JSON events: produce them with a plain JSON or string "
        "serializer)"
    )


def read_event(raw: str | bytes, max_event_bytes: int, max_features: int) -> Event | str:
    """The event ``raw`` holds, or why serve dead-letters it (``max_event_bytes`` and
    ``max_features``: the ``STREAM_AL_SERVICE__*`` settings).

    >>> read_event('{"id": "e1", "features": {"x": 1}}', 65_536, 1_000).id
    'e1'
    >>> read_event('{"id": "e1", "features": {"x": 1, "y": 2}}', 65_536, 1)
    'event has 2 features, more than max_features (1)'
    >>> framed = bytes([0, 0, 0, 0, 7]) + b'{"id": "e1"}'
    >>> print(read_event(framed, 65_536, 1))  # doctest: +ELLIPSIS
    message: Invalid JSON: ... (Confluent Schema Registry's framing: a zero byte and schema id 7 ...

    """
    if len(raw) > max_event_bytes:
        return f"event of {len(raw)} bytes is larger than max_event_bytes"
    if not raw:  # the parser's "EOF while parsing a value" read as an event cut short
        return "empty message (0 bytes), no event: produce each event as a JSON object"
    try:
        event = parse_event(raw)
    except ValidationError as exc:
        return _error_text(exc) + _framing_hint(raw)
    if len(event.features) > max_features:
        return f"event has {len(event.features)} features, more than max_features ({max_features})"
    return event


def dead_letter(origin: str, error: str, raw: str | bytes, now: float) -> str:
    """A dead-letter record as JSON; huge payloads and reasons are cut (the reason says
    so), so that every dead letter fits in a Kafka message."""
    if len(error) > MAX_DEAD_LETTER_ERROR:
        error = f"{error[:MAX_DEAD_LETTER_ERROR]}... (reason cut from {len(error)} chars)"
    if isinstance(raw, bytes):
        # Only the bytes the kept characters can need (4 a character at most) are decoded:
        # an event of up to max_event_bytes (or a topic's whole max.message.bytes) decoded
        # whole took as much memory again, or four times as much, to keep 16 KiB of it.
        payload = raw[: 4 * MAX_DEAD_LETTER_PAYLOAD + 4].decode("utf-8", errors="replace")
        size = f"{len(raw)} bytes"
    else:
        payload, size = raw, f"{len(raw)} chars"
    if len(payload) > MAX_DEAD_LETTER_PAYLOAD:
        error = f"{error} (payload cut from {size} to {MAX_DEAD_LETTER_PAYLOAD} chars)"
        payload = payload[:MAX_DEAD_LETTER_PAYLOAD]
    return DeadLetter(source=origin, error=error, payload=payload, ts=now).model_dump_json()


# What the join writes in a train-log entry, and the fields learning reads from each.
_ENTRY_FIELDS = {"item": ("features", "prediction"), "label": ("label",)}


def _entry_parts(entry: TrainLogEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """A train-log entry's item and label, or :class:`InvalidExample` naming the field that
    is not what the join writes (an entry written by hand or by another program): its
    dead letter said ``KeyError: 'prediction'`` or ``AttributeError: 'list' object has no
    attribute 'get'``, and a field missing read as "EOF while parsing a value".

    >>> _entry_parts(TrainLogEntry("1-0", '{"features": {}}', '{"label": 1}'))
    Traceback (most recent call last):
    ...
    stream_al.core.feature_kinds.InvalidExample: its item has no 'prediction' (not an entry ...

    """
    parts: list[dict[str, Any]] = []
    for name, raw in (("item", entry.item), ("label", entry.label)):
        problem = f"it has no {name} field" if not raw else ""
        try:
            value = from_json(raw) if raw else None
        except ValueError as exc:
            problem = f"its {name} is not JSON ({exc})"
        else:
            if type(value) is dict:
                missing = [f for f in _ENTRY_FIELDS[name] if f not in value]
                if not missing:
                    parts.append(value)
                    continue
                problem = f"its {name} has no {missing[0]!r}"
            elif raw:
                problem = f"its {name} is {_JSON_KINDS.get(type(value), 'JSON')}, not an object"
        raise InvalidExample(
            f"{problem} (not an entry serve's join wrote: written by hand or by another program?)"
        )
    return parts[0], parts[1]


@dataclass
class _HeldLabel:
    """A label read from the store, kept until it is handled: its join request (entry id,
    item id, label JSON), or why it is invalid; ``raw`` is what the entry held."""

    entry_id: str
    raw: str
    join: tuple[str, str, str] | None = None
    invalid: str | None = None
    done: bool = False


@dataclass
class Action:
    """One event of a batch: its decision and what remains to be done for it."""

    origin: str
    event: Event | None
    decision: Decision | None
    outcome: str
    dead_letter: str | None = None
    model_version: int = 0
    decided_at: float = 0.0
    done: bool = False
    explanation: dict[str, Any] | None = None


class LabelLoop:
    """Events in, queries out, labels joined, the train log learned (see the module doc).

    Parameters
    ----------
    learner
        The active learner (the only place the model lives).
    store
        Label queue, pending items, labels and train log.
    dead_letters
        Where invalid events go.
    predictions
        ``predictions(item_id, payload)`` publishes a prediction; None publishes nothing.
    metrics
        Prometheus metrics to update, or None.
    max_queue_depth
        When the label queue holds this many items, new queries are skipped.
    label_ttl
        Seconds a queried item waits for its label before it is forgotten.
    max_event_bytes
        Larger events are dead-lettered without being parsed.
    max_features
        Events with more features are dead-lettered.
    clock
        Wall-clock seconds, for timestamps.
    routing
        Tiers and priority bands of the queried items.
    hold_labels_seconds
        How long labels read are kept for another try when their handling failed (see
        :meth:`process_labels`); serve's is half the store's ``claim_idle_seconds``, so
        that no other replica has taken them over and the store still has their answers.

    """

    def __init__(
        self,
        learner: ActiveLearner,
        *,
        store: LabelStore,
        dead_letters: DeadLetterSink,
        predictions: Callable[[str, str], None] | None = None,
        metrics: Metrics | None = None,
        max_queue_depth: int = 10_000,
        label_ttl: float = 7 * 24 * 3600.0,
        max_event_bytes: int = 65_536,
        max_features: int = 1_000,
        clock: Callable[[], float] = time.time,
        routing: Routing | None = None,
        hold_labels_seconds: float = 30.0,
    ):
        self._asked_here: dict[str, None] = {}  # ids the learner charged, oldest first
        self.learner = learner
        self.routing = routing or Routing()
        self.store = store
        self.dead_letters = dead_letters
        self.predictions = predictions
        self.metrics = metrics
        self.max_queue_depth = max_queue_depth
        self.label_ttl = label_ttl
        self.max_event_bytes = max_event_bytes
        self.max_features = max_features
        self.clock = clock
        self.hold_labels_seconds = hold_labels_seconds
        self._held_labels: list[_HeldLabel] = []  # read, not all handled yet
        self._held_since = 0.0  # monotonic time they were read
        self.last_applied: str | None = None
        self.events = Counter(dict.fromkeys(EVENT_OUTCOMES, 0))
        self.label_outcomes = Counter(dict.fromkeys(LABEL_OUTCOMES, 0))
        self.applied = 0
        self.skipped = 0  # train-log entries that could not be learned
        # Dead letters of skipped train-log entries not written yet (Redis away).
        self._skipped: list[tuple[str, str]] = []
        self._id_like = IdLikeText()
        self._told_ignored = False  # the names beyond the cap are logged once
        # Called with (item, label) for each learned train-log entry (benchmarks, audits).
        self.on_learned: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self._accuracy: dict[str, deque[bool]] = {
            sample: deque(maxlen=ACCURACY_WINDOW) for sample in SAMPLES
        }

    @property
    def learner(self) -> ActiveLearner:
        """The active learner; one set in its place (restored from a checkpoint) holds
        no charge of the questions this loop remembers, which it forgets."""
        return self._learner

    @learner.setter
    def learner(self, learner: ActiveLearner) -> None:
        self._learner = learner
        self._asked_here.clear()
        self._ignored_seen = learner.n_features_ignored  # a restored one counts its own

    # -- events ------------------------------------------------------------------------

    def decide_batch(self, batch: Sequence[tuple[str, str | bytes | Unreadable]]) -> list[Action]:
        """Validate and decide every event of ``batch`` (pairs of origin and raw JSON, or
        the :class:`~stream_al.io.base.Unreadable` the source put for events it could not
        read, dead-lettered with its reason).

        No I/O but a look at the queue depth (for backpressure) and one at which of the
        batch's ids were asked already (:meth:`~stream_al.io.base.LabelStore.asked`: such
        an event is predicted as queried, not asked or charged again). No event stops the
        batch: one the model cannot take (a feature of another kind than it learned) is
        invalid, with the reason; one whose decision raised anything else is invalid too,
        with the exception's text (the last line of defence). The batch's valid events are
        predicted together where the model allows it
        (:meth:`~stream_al.core.learner.ActiveLearner.assess_many`: nothing is learned
        while a batch is decided), then decided one by one, in order: the decisions are
        those of one event at a time.
        """
        room = self.max_queue_depth - self.store.queue_depth()
        now = self.clock()
        read = [self._read(origin, raw, now) for origin, raw in batch]
        valid = [item[1] for item in read if not isinstance(item, Action)]
        # Events consumed again (a crash before the commit, a producer's retry): one look
        # for the batch at which of them were asked already (Delivery and state semantics).
        asked = self.store.asked([event.id for event in valid]) if valid else set()
        features = [dict(event.features) for event in valid]
        ahead = self._assess_ahead(features)
        actions: list[Action] = []
        k = 0
        for (origin, raw), item in zip(batch, read, strict=True):
            if isinstance(item, Action):
                actions.append(item)
                continue
            assert not isinstance(raw, Unreadable)  # read: an Action
            event, x, assessed = item[1], features[k], ahead[k] if ahead is not None else None
            k += 1
            asked_before: AskedBefore | None = None
            if event.id in self._asked_here:
                asked_before = "here"
            elif event.id in asked:
                asked_before = "elsewhere"
            try:
                action = self._decide(origin, event, x, assessed, room > 0, now, asked_before)
            except InvalidFeatures as exc:
                actions.append(self._invalid(origin, str(exc), raw, now))
                continue
            except Exception as exc:  # whatever the model raised: this event only
                error = f"the model could not decide this event: {type(exc).__name__}: {exc}"
                log.warning("%s: %s", origin, error)
                actions.append(self._invalid(origin, error, raw, now))
                continue
            if action.outcome == "queried":
                room -= 1
            if action.decision is not None and action.decision.queried:
                self._remember_asked(event.id)
            actions.append(action)
        self._count_ignored_features()
        return actions

    def _remember_asked(self, item_id: str) -> None:
        """``item_id`` was charged by this learner: a copy of its event that comes again
        changes nothing in it (the oldest of :data:`ASKED_HERE_KEPT` ids are forgotten)."""
        asked = self._asked_here
        asked[item_id] = None
        if len(asked) > ASKED_HERE_KEPT:
            del asked[next(iter(asked))]

    def _read(
        self, origin: str, raw: str | bytes | Unreadable, now: float
    ) -> Action | tuple[str, Event]:
        """The event ``raw`` holds, or the invalid action that says why there is none."""
        if isinstance(raw, Unreadable):
            return self._invalid(origin, raw.reason, raw.payload, now)
        event = read_event(raw, self.max_event_bytes, self.max_features)
        if isinstance(event, str):
            return self._invalid(origin, event, raw, now)
        return origin, event

    def _assess_ahead(self, xs: list[dict[str, Any]]) -> list[Assessment] | None:
        """The batch's assessments at once, or None: each event assessed as it is decided."""
        try:
            return self.learner.assess_many(xs)
        except Exception:  # an event the model cannot predict: it raises when decided alone
            return None

    def _decide(
        self,
        origin: str,
        event: Event,
        x: dict[str, Any],
        assessed: Assessment | None,
        may_query: bool,
        now: float,
        asked_before: AskedBefore | None = None,
    ) -> Action:
        learner = self.learner
        label_free = learner.n_label_free_drifts
        decision = learner.decide(x, event.cost, may_query, assessed, asked_before)
        if learner.n_label_free_drifts > label_free and self.metrics is not None:
            self.metrics.drift_detections.labels(detector="label-free").inc()
        action = Action(origin, event, decision, "", None, learner.model_version, now)
        if asked_before is not None:
            action.outcome = "duplicate"  # its question is there: not queued again
        elif decision.queried:
            action.outcome = "queried"  # or "duplicate", once the store has answered
            action.explanation = self._explain(event, decision)
        else:
            action.outcome = "not_queried" if may_query else "backpressure"
        return action

    def _explain(self, event: Event, decision: Decision) -> dict[str, Any]:
        """Why this item was picked, as the labeler and the audit trail see it."""
        learner = self.learner
        budget = learner.budget
        why: dict[str, Any] = {
            "strategy": learner.strategy_name,
            "measure": learner.uncertainty,
            "score": decision.score,
            "threshold": decision.threshold,
            "reason": decision.reason,
            "budget": {
                "budget": budget.budget,
                "target": budget.target,
                "spent": budget.spent,
                "boosted": budget.target > budget.budget,
            },
            "drift": {
                "detections": learner.n_drifts,
                "label_free": learner.n_label_free_drifts,
                "swaps": learner.n_swaps,
            },
        }
        top = top_contributions(learner.model, event.features, decision.prediction)
        if top:
            why["top_features"] = [[name, value] for name, value in top]
        return why

    def _invalid(self, origin: str, error: str, raw: str | bytes, now: float) -> Action:
        return Action(origin, None, None, "invalid", dead_letter(origin, error, raw, now))

    def complete_batch(self, actions: Sequence[Action]) -> None:
        """Perform the side effects of ``actions`` not done yet (safe to call again).

        The batch's queue entries go to the store in one round trip first; predictions
        and dead letters follow (a prediction says whether its item was really queued).
        An event whose item key in the store holds what another program wrote there is
        dead-lettered with the key's name, not predicted; the rest of the batch goes on.
        """
        asked, ids = [], set()
        for action in actions:
            if action.done or action.outcome != "queried":
                continue
            assert action.event is not None
            if action.event.id in ids:
                # The same event twice in one batch (a producer's retry): one item. Redis
                # takes a record stored identically as queued by an earlier try at this
                # batch, so the second copy was counted queried, the item queued once.
                action.outcome = "duplicate"
                continue
            ids.add(action.event.id)
            asked.append(action)
        queued = self.store.enqueue_many([self._enqueue_request(a) for a in asked])
        for action, ok in zip(asked, queued, strict=True):
            if isinstance(ok, WrongType):
                self._not_queued(action, ok)
            elif not ok:
                action.outcome = "duplicate"  # at-least-once delivery: already queued
        counts: Counter[str] = Counter()
        try:
            for action in actions:
                if action.done:
                    continue
                if action.dead_letter is not None:  # a dead letter or a prediction
                    self.dead_letters.send(action.dead_letter, key=action.origin)
                elif action.event is not None and action.decision is not None and self.predictions:
                    self.predictions(action.event.id, self._prediction(action))
                action.done = True
                counts[action.outcome] += 1
        finally:  # what was done is counted even if a send failed midway
            self.events.update(counts)
            if self.metrics is not None:
                for outcome, n in counts.items():
                    self.metrics.events.labels(outcome=outcome).inc(n)

    def _not_queued(self, action: Action, wrong: WrongType) -> None:
        """Dead-letter a queried event whose item key holds what the store did not write
        (nothing was queued), as an invalid event: it alone, the batch goes on."""
        assert action.event is not None
        error = f"{wrong.reason}; delete the key, then send this event again"
        log.warning("%s: %s", action.origin, error)
        payload = action.event.model_dump_json(exclude_none=True)
        action.outcome = "invalid"
        action.dead_letter = dead_letter(action.origin, error, payload, self.clock())

    def _enqueue_request(self, action: Action) -> EnqueueRequest:
        event, decision = action.event, action.decision
        assert event is not None and decision is not None
        return queue_request(
            item_id=event.id,
            features=event.features,
            prediction=decision.prediction,
            proba=decision.proba,
            score=decision.score,
            reason=decision.reason,
            threshold=decision.threshold,
            strategy=self.learner.strategy_name,
            enqueued_at=action.decided_at,
            model_version=action.model_version,
            routing=self.routing,
            label_ttl=self.label_ttl,
            explanation=action.explanation,
        )

    def _prediction(self, action: Action) -> str:
        event, decision = action.event, action.decision
        assert event is not None and decision is not None
        return prediction_json(
            event.id,
            decision.prediction,
            decision.proba,
            decision.queried,  # a duplicate's question is there too: queried
            decision.score,
            action.model_version,
            action.decided_at,
        )

    def process_events(
        self, batch: Sequence[tuple[str, str | bytes | Unreadable]]
    ) -> list[Decision | None]:
        """Decide and complete a batch at once (the embedded loop's convenience)."""
        actions = self.decide_batch(batch)
        self.complete_batch(actions)
        return [a.decision for a in actions]

    # -- labels ------------------------------------------------------------------------

    def process_labels(self, max_count: int = 500) -> int:
        """Join up to ``max_count`` waiting labels into the train log; returns how many.

        An entry the store could not read, a label that fails validation, or one whose
        handling raised (the last line of defence) is dead-lettered with its reason.

        Labels read are kept until each is handled (joined, or dead-lettered, and counted):
        a failure mid-way (Redis away) leaves them for the next call, which handles the
        rest before it reads more. The store answers a label joined again as it did the
        first time, so one whose join Redis ran while the answer was lost with the
        connection is counted once, by its outcome. Labels kept longer than
        ``hold_labels_seconds`` are let go: the store hands them out again as labels a
        reader held and did not acknowledge.
        """
        held = self._held_labels
        if held and time.monotonic() - self._held_since >= self.hold_labels_seconds:
            log.warning(
                "%d labels read %.0f s ago are let go unhandled: the label stream hands "
                "out again those not acknowledged; one Redis joined meanwhile is learned "
                "but not counted",
                sum(not label.done for label in held),
                time.monotonic() - self._held_since,
            )
            held = []
        if not held:
            held = [
                self._read_label(entry_id, raw)
                for entry_id, raw in self.store.read_labels(max_count)
            ]
            self._held_since = time.monotonic()
        self._held_labels = held
        joined = self._handle_labels(held)
        self._held_labels = []
        return joined

    def forget_labels(self) -> None:
        """Drop the labels read and not handled yet (the store they came from lost its
        data: so did their entries)."""
        self._held_labels = []

    def _read_label(self, entry_id: str, raw: str | Unreadable) -> _HeldLabel:
        """A label read from the store: its join request, or why it is invalid."""
        if isinstance(raw, Unreadable):
            return _HeldLabel(entry_id, raw.payload, invalid=raw.reason)
        try:
            label = Label.model_validate_json(raw)
            # Refused here, the item stays pending for a label of the right kind; the
            # learner refuses it too, for a replica that has not learned a label yet.
            self.learner.check_label(label.label)
            if label.ts is None:
                label = label.model_copy(update={"ts": self.clock()})
        except ValidationError as exc:
            return _HeldLabel(entry_id, raw, invalid=_error_text(exc) + _framing_hint(raw))
        except InvalidLabel as exc:
            return _HeldLabel(entry_id, raw, invalid=str(exc))
        except Exception as exc:  # whatever it was: this label only
            error = f"could not read this label: {type(exc).__name__}: {exc}"
            return _HeldLabel(entry_id, raw, invalid=error)
        return _HeldLabel(entry_id, raw, join=(entry_id, label.id, label.model_dump_json()))

    def _handle_labels(self, held: Sequence[_HeldLabel]) -> int:
        """Dead-letter the invalid labels of ``held`` and join the others, each once: a
        label is marked done when its outcome is counted."""
        for label in held:
            if not label.done and label.invalid is not None:
                self._reject(label, "invalid", label.invalid)
        joining = [(label, label.join) for label in held if not label.done and label.join]
        outcomes = self.store.join_many([request for _, request in joining])
        joined = 0
        for (label, _), joined_as in zip(joining, outcomes, strict=True):
            if isinstance(joined_as, WrongType):
                why = f"{joined_as.reason}; delete the key, then send this label again"
                log.warning("labels:%s: %s", label.entry_id, why)
                self._reject(label, "invalid", why)
                continue
            outcome, _ = joined_as
            if outcome == "learned":
                joined += 1
                self._count_label("learned")
                label.done = True
            elif outcome in ("voted", "escalated"):
                self._count_label(outcome)
                label.done = True
            elif outcome == "repeat":
                why = "repeated vote: this annotator labeled this item already"
                self._reject(label, "duplicate", why)
            elif outcome == "late":
                why = "late vote: the votes disagreed and the item went to an expert"
                self._reject(label, "duplicate", why)
            elif outcome == "duplicate":
                why = "duplicate label: this item was labeled and learned already"
                self._reject(label, "duplicate", why)
            else:
                why = "orphaned label: no pending item with this id (never queried, or expired)"
                self._reject(label, "orphaned", why)
        return joined

    def _reject(self, label: _HeldLabel, outcome: str, error: str) -> None:
        origin = f"labels:{label.entry_id}"
        self.store.reject_label(label.entry_id, dead_letter(origin, error, label.raw, self.clock()))
        self._count_label(outcome)
        label.done = True

    def _count_label(self, outcome: str) -> None:
        self.label_outcomes[outcome] += 1
        if self.metrics is not None:
            self.metrics.labels.labels(outcome=outcome).inc()

    def apply_train_log(self, max_count: int = 1000) -> int:
        """Learn the train-log entries after the last applied one, in order; returns how
        many were read.

        An entry the learner cannot learn (it raised, e.g. a feature of another kind than
        it learned) is skipped, counted, and dead-lettered once for all replicas: each
        replica and each replay skips it the same way, so their models stay equal.
        """
        self._record_skipped()  # what an earlier call could not write
        entries = self.store.read_train_log(self.last_applied, max_count)
        learned = 0
        for entry in entries:
            try:
                self._learn(entry)
                learned += 1
            except Exception as exc:  # the same entry fails the same way on every replica
                self._skip(entry, exc)
            self.last_applied = entry.entry_id
        self.applied += len(entries)
        if self.metrics is not None and learned:
            self.metrics.train_log_applied.inc(learned)
            self.metrics.model_features.set(self.learner.n_features)
        self._count_ignored_features()
        self._record_skipped()
        return len(entries)

    def _count_ignored_features(self) -> None:
        """Count the feature values the learner left out since the last call (their names
        came after it had learned its cap of names); the first time, say why and the fix."""
        learner = self.learner
        ignored = learner.n_features_ignored - self._ignored_seen
        if ignored <= 0:
            return
        self._ignored_seen = learner.n_features_ignored
        if self.metrics is not None:
            self.metrics.features_ignored.inc(ignored)
        if self._told_ignored:
            return
        self._told_ignored = True
        log.warning(
            "the model has learned %d feature names, its cap "
            "(STREAM_AL_LEARNER__MAX_MODEL_FEATURES): names beyond it, such as %.80r, are "
            "ignored in learning and prediction (events are decided and learned on the "
            "features the model knows; counted in stream_al_features_ignored_total, said "
            "once). A name that changes per event (an id or a timestamp as a key) is the "
            "usual cause: fix the producer's keys (send such a value as a feature's value, "
            "or in meta); if the schema really has more features, raise the setting and "
            "restart",
            learner.n_features,
            learner.first_ignored_feature,
        )

    def _learn(self, entry: TrainLogEntry) -> None:
        item, label = _entry_parts(entry)
        learner, metrics = self.learner, self.metrics
        drifts, swaps = learner.n_drifts, learner.n_swaps
        at_random = item.get("reason") == QUERY_RANDOM
        learner.learn(item["features"], label["label"], item["prediction"], at_random)
        for name in self._id_like.learn(item["features"]):
            log.warning(
                "feature %r took a new value in nearly every labeled example: an id among "
                "the features? The model cannot learn from it, and a tree that splits on it "
                "predicts worse; leave ids out of features (meta is not learned)",
                name,
            )
        if self.on_learned is not None:
            self.on_learned(item, label)
        correct = item["prediction"] == label["label"]
        self._accuracy["labeled"].append(correct)
        if at_random:
            self._accuracy["random"].append(correct)
        if metrics is not None:
            if learner.n_drifts > drifts:
                metrics.drift_detections.labels(detector="adwin").inc()
            if learner.n_swaps > swaps:
                metrics.drift_detections.labels(detector="challenger").inc()
            # Learned by now: times that are no numbers (a hand-written entry) must not
            # raise here, which counted and dead-lettered the entry as skipped.
            ts: Any = label.get("ts")
            enqueued_at: Any = item.get("enqueued_at")
            if type(ts) in (int, float) and type(enqueued_at) in (int, float):
                delay = ts - enqueued_at
                if math.isfinite(delay) and delay >= 0:
                    metrics.label_delay.observe(delay)

    def _skip(self, entry: TrainLogEntry, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, InvalidExample) else f"{type(exc).__name__}: {exc}"
        error = f"train-log entry {entry.entry_id} cannot be learned, skipped: {reason}"
        log.warning("%s", error)
        payload = f'{{"item": {entry.item}, "label": {entry.label}}}'
        origin = f"train_log:{entry.entry_id}"
        self._skipped.append((entry.entry_id, dead_letter(origin, error, payload, self.clock())))
        self.skipped += 1
        if self.metrics is not None:
            self.metrics.train_log_skipped.inc()

    def _record_skipped(self) -> None:
        while self._skipped:
            entry_id, letter = self._skipped[0]
            self.store.skip_train_log_entry(entry_id, letter)
            self._skipped.pop(0)

    def replay(self, after: str | None, progress: Callable[[], None] = lambda: None) -> int:
        """Learn the whole train log after ``after`` (a checkpoint's last entry, None for
        all of it); ``progress()`` after each chunk, the last (empty) one included.
        Returns how many entries."""
        self.last_applied = after
        total = 0
        while True:
            n = self.apply_train_log(5000)
            total += n
            progress()
            if n == 0:
                return total

    def accuracy(self, sample: str) -> float | None:
        """Accuracy of the predictions on the last labeled items of ``sample``."""
        window = self._accuracy[sample]
        return sum(window) / len(window) if window else None

    def update_gauges(self) -> None:
        """Budget, threshold, queue, pending and accuracy gauges (a few store calls)."""
        if self.metrics is None:
            return
        m, learner = self.metrics, self.learner
        m.budget_target.set(learner.budget.target)
        m.budget_spent.set(learner.budget.spent)
        threshold = learner.strategy.threshold
        if threshold is not None:
            m.threshold.set(threshold)
        for tier, depth in self.store.queue_depths().items():
            m.queue_depth.labels(tier=tier).set(depth)
        m.pending_items.set(self.store.pending_count())
        m.stale_items.set(self.store.queue_stats()["stale"])
        for annotator, ratio in self.store.agreement().items():
            m.agreement.labels(annotator=annotator).set(ratio)
        m.asking_stopped.set(1 if learner.asking_stopped else 0)
        for sample in self._accuracy:
            value = self.accuracy(sample)
            if value is not None:
                m.accuracy.labels(sample=sample).set(value)
