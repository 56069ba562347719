"""Messages the broker refuses as larger than their topic takes (its ``max.message.bytes``):
sent again as they were, they are refused again, for ever, and serve stops at that batch,
again at every restart. Both publishers send them again one at a time
(:func:`send_each_alone`); one refused alone becomes a short dead letter
(:func:`as_short_dead_letter`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from stream_al.schemas import DeadLetter

__all__ = ["SHORT_DEAD_LETTER_CHARS", "Refusals", "as_short_dead_letter", "send_each_alone"]

log = logging.getLogger("stream_al.kafka")

Message = tuple[str, bytes | None, bytes]
"""A message sent: ``(topic, key, value)``."""


SHORT_DEAD_LETTER_CHARS = 512
"""How much of a refused message's payload its short dead letter keeps
(:func:`as_short_dead_letter`): small enough for any topic that takes a message at all."""


def as_short_dead_letter(
    topic: str, key: bytes | None, value: bytes, refusal: str, dead_letter_topic: str
) -> bytes | None:
    """A short dead letter for a message the broker refused, alone, as larger than ``topic``
    takes (its ``max.message.bytes``), or None when ``value`` is as short already (nothing
    smaller to send: it stays undelivered).

    Sent again, it would be refused for ever, and its batch with it: the loop stopped at
    that event, again at every restart. A dead letter keeps its origin and reason, its
    payload cut; a prediction becomes a dead letter that says why it is missing.

    >>> short = as_short_dead_letter("p", b"e1", b'{"id": "e1"}' + b" " * 4000, "too large", "d")
    >>> DeadLetter.model_validate_json(short).error  # doctest: +ELLIPSIS
    'the prediction of e1 (4,012 bytes) was refused by topic p as larger than it takes ...'
    >>> as_short_dead_letter("d", None, short, "too large", "d") is None
    True

    """
    cut = SHORT_DEAD_LETTER_CHARS
    why = f"refused by topic {topic} as larger than it takes ({refusal}; its max.message.bytes)"
    text = value.decode("utf-8", errors="replace")
    if topic == dead_letter_topic:
        try:
            letter = DeadLetter.model_validate_json(value)
        except ValueError:  # not serve's: keep what it held as the payload
            letter = DeadLetter(source=topic, error="", payload=text, ts=time.time())
        error = (
            f"{letter.error[:cut]} (this dead letter of {len(value):,} bytes was {why}: "
            f"its payload and reason are cut to {cut} characters)"
        )
        short = DeadLetter(
            source=letter.source, error=error, payload=letter.payload[:cut], ts=letter.ts
        )
    else:
        item = (key or b"").decode("utf-8", errors="replace")
        error = (
            f"the prediction of {item} ({len(value):,} bytes) was {why}: the event is "
            f"dead-lettered instead, the prediction cut to {cut} characters"
        )
        short = DeadLetter(
            source=f"{topic}:{item}", error=error, payload=text[:cut], ts=time.time()
        )
    encoded = short.model_dump_json().encode()
    return encoded if len(encoded) < len(value) else None  # each refusal shorter, or done


class Refusals(Protocol):
    """A publisher's undelivered messages: refused as too large, and failed otherwise."""

    too_large: list[Message]
    failed: list[Message]

    @property
    def last_error(self) -> object: ...


def send_each_alone(
    publisher: Refusals,
    send: Callable[[str, bytes | None, bytes], None],
    wait: Callable[[], bool],
    dead_letter_topic: str,
    batch_bytes: int,
    not_delivered: Callable[[str], Exception],
) -> None:
    """Send ``publisher.too_large`` again, each message in a batch of its own (a batch of
    small messages can be larger than a topic takes); one refused alone is replaced by its
    short dead letter. Slower, never stuck.

    ``send`` sends one message; ``wait`` waits for its delivery report (False: not yet,
    in time), which puts it back in ``publisher.too_large`` if it was refused again, or in
    ``publisher.failed`` if it failed otherwise (the broker away: the rest waits for the
    next flush, as ``publisher.too_large``). ``not_delivered(why)`` is the error raised
    when a message sent alone is not delivered in time.
    """
    todo, publisher.too_large = publisher.too_large, []
    log.warning(
        "kafka: %d messages refused as larger than their topic takes (%s): sent again one at "
        "a time, slower; raise max.message.bytes of topic %s above the producer's batches "
        "(%d bytes)",
        len(todo),
        publisher.last_error,
        " and ".join(sorted({topic for topic, _, _ in todo})),
        batch_bytes,
    )
    while todo:
        record = todo.pop(0)
        try:
            send(*record)
        except BaseException:
            publisher.too_large = [record, *todo]
            raise
        try:
            done = wait()
        except BaseException:
            publisher.too_large += todo  # the one sent: its delivery report says
            raise
        if not done:
            publisher.too_large = todo + publisher.too_large
            raise not_delivered(
                "a message refused as too large is not delivered alone; the next flush "
                "waits for it again"
            )
        for topic, key, value in publisher.too_large:  # refused alone: too large itself
            error = str(publisher.last_error)
            short = as_short_dead_letter(topic, key, value, error, dead_letter_topic)
            if short is None:
                log.error(
                    "kafka: topic %s refuses even a %d-byte message as too large: it stays "
                    "undelivered; raise the topic's max.message.bytes",
                    topic,
                    len(value),
                )
                publisher.failed.append((topic, key, value))
            else:
                todo.insert(0, (dead_letter_topic, key, short))  # its key: compaction
        publisher.too_large = []
        if publisher.failed:  # the broker away, say: the flush raises, the rest waits
            publisher.too_large = todo
            return
