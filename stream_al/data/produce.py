"""``stream-al produce``: replay a labeled stream into the events topic.

Each example becomes an event ``{"id", "features"}`` (the label is *not* sent: it is what
the labelers are for). The id is the row number (0, 1, ...) unless the stream has an
``id`` column. ``--truth PATH`` writes the ground truth (``id,label``) that the worker's
``file:PATH`` oracle reads, so a simulation closes the loop.
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
    examples: Iterable[Example], id_column: str = "id"
) -> Iterable[tuple[str, str, Any]]:
    """``(id, event_json, label)`` for each example."""
    for i, (x, y) in enumerate(examples):
        features = {str(k): v for k, v in x.items()}
        item_id = _id_text(features.pop(id_column)) if id_column in features else str(i)
        yield item_id, json.dumps({"id": item_id, "features": features}), y


def replay(
    examples: Iterable[Example],
    send: Callable[[str, str], None],
    *,
    limit: int | None = None,
    rate: float | None = None,
    truth: str | Path | None = None,
    id_column: str = "id",
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send up to ``limit`` events through ``send(key, value)``, at most ``rate`` per second.

    Returns how many were sent.
    """
    with contextlib.ExitStack() as stack:
        writer = None
        if truth is not None:
            Path(truth).parent.mkdir(parents=True, exist_ok=True)
            writer = csv.writer(
                stack.enter_context(Path(truth).open("w", encoding="utf-8", newline=""))
            )
            writer.writerow(["id", "label"])
        return _send_all(examples, send, writer, limit, rate, id_column, progress, sleep, clock)


def _send_all(
    examples: Iterable[Example],
    send: Callable[[str, str], None],
    writer: Any,
    limit: int | None,
    rate: float | None,
    id_column: str,
    progress: Callable[[int], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> int:
    start = clock()
    sent = 0
    for item_id, value, label in event_records(examples, id_column):
        if limit is not None and sent >= limit:
            break
        if rate:
            ahead = sent / rate - (clock() - start)
            if ahead > 0:
                sleep(ahead)
        send(item_id, value)
        if writer is not None:
            writer.writerow([item_id, label])
        sent += 1
        if progress and sent % 1000 == 0:
            progress(sent)
    return sent
