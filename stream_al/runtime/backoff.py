"""One backoff policy for every retry loop: waits that double up to a ceiling.

>>> b = Backoff(initial=0.1, factor=2.0, maximum=0.5)
>>> [b.next() for _ in range(5)]
[0.1, 0.2, 0.4, 0.5, 0.5]
>>> b.reset(); b.next()
0.1

"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from stream_al.errors import Unavailable

__all__ = ["RECOVERABLE", "Backoff", "rerun_until_done", "retrying"]

T = TypeVar("T")

log = logging.getLogger("stream_al.runtime")

# What a loop waits out: a server away (translated by stream_al.io) or a raw socket error.
RECOVERABLE: tuple[type[Exception], ...] = (Unavailable, OSError)


@dataclass
class Backoff:
    """Exponential backoff: ``initial`` seconds, times ``factor`` after each failure, at most
    ``maximum``; :meth:`reset` after a success."""

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        """The wait before the next attempt (and the one after it grows)."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


def retrying(
    what: str,
    fn: Callable[[], T],
    *,
    stopping: Callable[[], bool],
    on_failure: Callable[[str], None] = lambda reason: None,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """``fn()``, retried with backoff while it fails recoverably; None if stopped first.

    ``on_failure`` hears each failure (``"waiting for redis: ..."``), e.g. to turn the
    readiness off.
    """
    backoff = backoff or Backoff()
    while not stopping():
        try:
            return fn()
        except RECOVERABLE as exc:
            delay = backoff.next()
            on_failure(f"waiting for {what}: {exc}")
            log.warning(
                "waiting for %s (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay
            )
            sleep(delay)
    return None


def rerun_until_done(
    run: Callable[[], T],
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``run()``, run again after each recoverable failure (a server away) with backoff: a
    worker's loop outlives a server restart. A run that lasted longer than the longest
    wait was working: its failure is a new outage, waited for from the first step again
    (not 10 s after a blip because of an outage hours before)."""
    backoff = backoff or Backoff()
    while True:
        started = clock()
        try:
            return run()
        except RECOVERABLE as exc:
            if clock() - started > backoff.maximum:
                backoff.reset()
            delay = backoff.next()
            log.warning("%s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
            sleep(delay)
