"""The small interfaces the service talks to; Redis and Kafka adapters and the in-memory
twins (the embedded default) implement them.

Payloads cross these interfaces as JSON text, in every implementation, so the embedded
mode exercises exactly the serialisation the servers see.

=================  =====================================================================
``LabelQueue``     queried items waiting for a labeler (workers take, then acknowledge)
``PendingStore``   the features of each queried item, kept until its label arrives
``LabelStream``    labels from workers to the service
``TrainLog``       joined (features, label) examples, learned in log order
``DeadLetters``    what could not be used, with the reason and the origin
=================  =====================================================================
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DeadLetters", "Entry", "LabelQueue", "LabelStream", "PendingStore", "TrainLog"]

Entry = tuple[str, str]
"""An entry of a log-like store: ``(entry_id, payload_json)``."""


class LabelQueue(Protocol):
    """Queried items waiting for a labeler."""

    def push(self, payload: str) -> str:
        """Append an item; returns its entry id."""
        ...

    def depth(self) -> int:
        """Items not yet acknowledged by a worker (waiting or being labeled)."""
        ...

    def take(self, consumer: str, count: int) -> list[Entry]:
        """Up to ``count`` items for ``consumer`` that no worker holds."""
        ...

    def ack(self, entry_id: str) -> None:
        """The item is done (labeled or deliberately dropped)."""
        ...


class PendingStore(Protocol):
    """The features of queried items, under their item id, until the label arrives."""

    def put(self, item_id: str, payload: str, ttl_seconds: float) -> bool:
        """Store unless already present (then False: the item was queried before)."""
        ...

    def take(self, item_id: str) -> str | None:
        """Remove and return the item atomically; None when absent or expired."""
        ...

    def was_taken(self, item_id: str) -> bool:
        """Whether the item was taken recently (a second label for it is a duplicate)."""
        ...

    def count(self) -> int:
        """Items currently pending."""
        ...


class LabelStream(Protocol):
    """Labels from workers to the service."""

    def append(self, payload: str) -> str:
        """A worker adds a label; returns its entry id."""
        ...

    def read(self, count: int) -> list[Entry]:
        """Up to ``count`` labels not yet read by this consumer."""
        ...

    def ack(self, entry_id: str) -> None:
        """The label has been joined (or dead-lettered)."""
        ...


class TrainLog(Protocol):
    """Joined examples in the order the model learns them."""

    def append(self, payload: str) -> str:
        """Append an example; returns its entry id (ids increase along the log)."""
        ...

    def read_after(self, entry_id: str | None, count: int) -> list[Entry]:
        """Up to ``count`` entries after ``entry_id`` (from the start when None)."""
        ...


class DeadLetters(Protocol):
    """Where unusable messages go, with the reason."""

    def send(self, payload: str) -> None:
        """Keep a dead-letter record (a ``DeadLetter`` as JSON)."""
        ...
