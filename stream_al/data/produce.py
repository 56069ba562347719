"""``stream-al produce``: replay a labeled stream into the events topic.

Each example becomes an event ``{"id", "features"}`` (the label is *not* sent: it is what
the labelers are for). The id is the row number (0, 1, ...) unless the stream has ids (a
CSV's ``id`` column, never a feature: :data:`~stream_al.data.streams.ID_COLUMN`).
``--truth PATH`` writes the ground truth (``id,label``) that the worker's ``file:PATH``
oracle reads, so a simulation closes the loop; each event's truth is written (and
flushed) before the event is sent, so a worker labeling while events still arrive finds
it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stream_al.core.types import Example

__all__ = ["event_records", "replay"]


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def event_records(
    examples: Iterable[Example], id_column: str = "id", ids: Iterable[str] | None = None
) -> Iterable[tuple[str, str, Any]]:
    """``(id, event_json, label)`` for each example: its id from ``ids`` when given, else
    from an ``id_column`` feature (taken out of the features), else its number."""
    given = iter(ids) if ids is not None else None
    for i, (x, y) in enumerate(examples):
        features = {str(k): v for k, v in x.items()}
        item_id = _id_text(features.pop(id_column)) if id_column in features else str(i)
        if given is not None:
            item_id = next(given)
        yield item_id, json.dumps({"id": item_id, "features": features}), y


def replay(
    examples: Iterable[Example],
    send: Callable[[str, str], None],
    *,
    limit: int | None = None,
    rate: float | None = None,
    truth: str | Path | None = None,
    id_column: str = "id",
    ids: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send up to ``limit`` events through ``send(key, value)``, at most ``rate`` per second;
    their ids are ``ids`` when given (see :func:`event_records`).

    Returns how many were sent.
    """
    with contextlib.ExitStack() as stack:
        writer = truth_file = None
        if truth is not None:
            Path(truth).parent.mkdir(parents=True, exist_ok=True)
            truth_file = stack.enter_context(Path(truth).open("w", encoding="utf-8", newline=""))
            writer = csv.writer(truth_file)
            writer.writerow(["id", "label"])
        records = event_records(examples, id_column, ids)
        return _send_all(records, send, truth_file, writer, limit, rate, progress, sleep, clock)


def _send_all(
    records: Iterable[tuple[str, str, Any]],
    send: Callable[[str, str], None],
    truth_file: Any,
    writer: Any,
    limit: int | None,
    rate: float | None,
    progress: Callable[[int], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> int:
    start = clock()
    sent = 0
    for item_id, value, label in records:
        if limit is not None and sent >= limit:
            break
        if rate:
            ahead = sent / rate - (clock() - start)
            if ahead > 0:
                sleep(ahead)
        if writer is not None:  # the truth first: a worker may ask for it at once
            writer.writerow([item_id, label])
            truth_file.flush()
        send(item_id, value)
        sent += 1
        if progress and sent % 1000 == 0:
            progress(sent)
    return sent
