"""Warm start: the learner knows a labeled history (or a saved model) before the first live event.

``--warm-start SPEC`` names where the knowledge comes from:

- ``csv:PATH``: a CSV file of labeled rows (a header row; the label column is ``--target``,
  the same typing rules as a ``csv:`` stream). Rows without a label are skipped and
  counted.
- ``first:N`` (``evaluate`` only): the first N events of ``--stream`` are the history, and
  the live stream is the rest. The usual way to ask what a warm start is worth.
- ``topic:NAME``: a Kafka topic of labeled events, read from the beginning to the end
  offsets it has when the warm start begins. A labeled event is an event
  (docs/design.md, "Message contracts") with a ``label``:
  ``{"id": "7", "features": {"x": 1.5}, "label": "UP"}``. Invalid records are
  skipped and counted, and the first few are logged with their topic:partition:offset;
  so is a record batch the consumer does not read (corrupt, or inflating beyond what it
  reads), counted once, its reason naming its offsets.
- ``model:PATH``: a model file (``stream-al model export``); its model, drift state and
  count of learned labels are taken, the strategy and the budget are the run's own.

Every history example is predicted and then learned, in order, before the first live
event (:meth:`~stream_al.core.learner.ActiveLearner.warm_start`). The budget is spent on
the live stream only: history examples count neither as events nor as labels.

Examples
--------
>>> parse_warm_start("first:5000")
WarmStart(spec='first:5000', kind='first', value='5000', target=None)
>>> parse_warm_start("first:0")
Traceback (most recent call last):
...
ValueError: --warm-start first:N needs N >= 1 (history events), got 'first:0'
>>> labeled_event('{"id": "a", "features": {"x": 1.5}, "label": "UP"}')
({'x': 1.5}, 'UP')

"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stream_al.core.learner import ActiveLearner
from stream_al.core.types import ClassLabel, Example, Features
from stream_al.data.streams import parse_stream, read_csv
from stream_al.data.tables import csv_table
from stream_al.io.base import Unreadable

if TYPE_CHECKING:
    from stream_al.config import KafkaSettings

__all__ = [
    "KINDS",
    "History",
    "WarmStart",
    "labeled_event",
    "load_history",
    "parse_warm_start",
    "read_topic",
    "warm_learner",
    "warm_up",
]

log = logging.getLogger("stream_al.data.histories")

KINDS = ("csv", "first", "topic", "model")
_SHOW_PROBLEMS = 5


@dataclass(frozen=True)
class WarmStart:
    """A parsed ``--warm-start`` spec (see the module docstring)."""

    spec: str
    kind: str
    value: str
    target: str | None = None

    @property
    def first(self) -> int:
        """N of ``first:N``."""
        return int(self.value)


def parse_warm_start(
    spec: str, target: str | None = None, kinds: Sequence[str] = KINDS
) -> WarmStart:
    """Check ``spec`` and return it parsed; raises ``ValueError`` saying what to fix.

    ``kinds`` are the kinds the command accepts (``serve`` has no ``first:``).
    """
    kind, sep, value = spec.partition(":")
    accepted = ", ".join(f"{k}:{_ARG[k]}" for k in kinds)
    if not sep or not value or kind not in kinds:
        raise ValueError(f"--warm-start {spec!r}: use one of {accepted}")
    if kind == "csv":
        if not target:
            raise ValueError(f"--warm-start {spec} needs --target COLUMN (the label column)")
        parse_stream(spec, target=target)  # the file exists and has the column
        return WarmStart(spec, kind, value, target)
    if kind == "first" and (not value.isdigit() or int(value) < 1):
        raise ValueError(f"--warm-start first:N needs N >= 1 (history events), got {spec!r}")
    if kind == "model" and not Path(value).is_file():
        raise ValueError(f"--warm-start {spec}: no such model file {value}")
    return WarmStart(spec, kind, value, None)


_ARG = {"csv": "PATH", "first": "N", "topic": "NAME", "model": "PATH"}


@dataclass(frozen=True)
class History:
    """Labeled examples to learn before the live stream, and what was left out."""

    examples: Sequence[Example]
    skipped: int = 0
    problems: tuple[str, ...] = field(default=())

    def describe(self, source: str) -> str:
        """One line for logs and reports."""
        text = f"warm start from {source}: {len(self.examples):,} labeled examples"
        if self.skipped:
            text += f", {self.skipped:,} skipped ({'; '.join(self.problems)})"
        return text


def _csv_history(path: Path, target: str) -> History:
    examples = read_csv(path, target)
    rows = sum(1 for _ in csv_table(path)) - 1  # the header
    skipped = rows - len(examples)
    problems = (f"rows without a {target!r} label",) if skipped else ()
    return History(examples, skipped, problems)


def labeled_event(raw: str | bytes) -> Example:
    """``(features, label)`` of a labeled event (JSON); ``ValueError`` says what is wrong.

    >>> labeled_event('{"id": "a", "features": {"x": 1.5}}')
    Traceback (most recent call last):
    ...
    ValueError: no "label"

    """
    from pydantic import ValidationError

    from stream_al.schemas import Event, loads

    try:
        message = loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    label = message.pop("label", None)
    if label is None or label == "" or isinstance(label, float | list | dict):
        raise ValueError('no "label"' if label in (None, "") else f"bad label {label!r}")
    try:
        event = Event.model_validate(message)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
    features: Features = dict(event.features)
    y: ClassLabel = label
    return features, y


def read_topic(settings: KafkaSettings, topic: str) -> list[tuple[str, bytes | Unreadable]]:
    """Every record of ``topic`` as of now (see :func:`stream_al.io.kafka.read_topic`)."""
    from stream_al.io.kafka import read_topic as records

    return list(records(settings, topic))


def _topic_history(records: Sequence[tuple[str, bytes | Unreadable]]) -> History:
    examples: list[Example] = []
    problems: list[str] = []
    for origin, raw in records:
        if isinstance(raw, Unreadable):  # a record batch not read: its reason names it
            problems.append(f"{origin}: {raw.reason}")
            continue
        try:
            examples.append(labeled_event(raw))
        except ValueError as exc:
            problems.append(f"{origin}: {exc}")
    for problem in problems[:_SHOW_PROBLEMS]:
        log.warning("warm start: skipped %s", problem)
    shown = tuple(problems[:_SHOW_PROBLEMS]) + (
        (f"and {len(problems) - _SHOW_PROBLEMS} more",) if len(problems) > _SHOW_PROBLEMS else ()
    )
    return History(examples, len(problems), shown)


def load_history(
    warm: WarmStart,
    kafka: KafkaSettings | None = None,
    read: Callable[[KafkaSettings, str], Sequence[tuple[str, bytes | Unreadable]]] = read_topic,
) -> History:
    """The labeled history of a ``csv:`` or ``topic:`` warm start."""
    if warm.kind == "csv":
        assert warm.target is not None
        return _csv_history(Path(warm.value), warm.target)
    if warm.kind == "topic":
        if kafka is None:
            raise ValueError("a topic: warm start needs the Kafka settings")
        return _topic_history(read(kafka, warm.value))
    raise ValueError(f"{warm.spec} holds no labeled history to load")


def warm_learner(
    learner: ActiveLearner, warm: WarmStart, history: History | None, key: bytes | None
) -> str:
    """Warm ``learner`` in place from ``history`` (csv:, topic:, first:) or the model file
    of ``warm`` (model:, checked with ``key``); returns what was done, for the log."""
    if warm.kind == "model":
        from stream_al.io.model_file import import_model

        if key is None:
            raise ValueError(
                "a model: warm start needs the signing key: set STREAM_AL_CHECKPOINT__KEY"
            )
        learner.adopt(import_model(warm.value, key))
        return f"warm start from {warm.spec}: {learner.n_learned:,} labels learned before"
    if history is None:
        raise ValueError(f"{warm.spec}: no history loaded")
    learner.warm_start(history.examples)
    return history.describe(warm.spec)


def warm_up(
    learner: ActiveLearner,
    warm: WarmStart,
    *,
    kafka: KafkaSettings | None = None,
    key: bytes | None = None,
) -> str:
    """Load what ``warm`` names and warm ``learner`` from it; returns what was done."""
    history = None if warm.kind == "model" else load_history(warm, kafka)
    if history is not None and not history.examples:
        log.warning("%s: nothing to learn, a cold start", history.describe(warm.spec))
    return warm_learner(learner, warm, history, key)
