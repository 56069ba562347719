"""What a labeling worker asks for a label: the :class:`Oracle` interface and its answers.

An oracle answers one item at a time with its label or with a :class:`Signal`:

============ ==============================================================================
``SKIP``     no label for this item: the worker gives it back to the queue, for another
             labeler (and drops it if nobody else takes it within a minute)
``QUIT``     stop working: the item stays with the worker (it gets it back on restart)
``TIMEOUT``  no answer within the timeout the worker gave (it writes an answer it held,
             marks the item as still worked on, then asks again)
``UNDO``     the labeler took the last answer back: the worker asks for that item again
============ ==============================================================================

``TIMEOUT`` and ``UNDO`` come only from an oracle with an undo window
(:attr:`Oracle.undo_seconds` above 0): the worker holds each of its answers that long
before writing it, and only such an oracle is given a timeout.

The oracles are in :mod:`stream_al.labeling.oracles` (``file:``, ``terminal``) and
:mod:`stream_al.labeling.web` (``web``); the worker that drives them is
:class:`~stream_al.labeling.worker.Worker`.

Examples
--------
An oracle implements :meth:`Oracle.label`; the rest has defaults:

>>> class Everything(Oracle):
...     name = "everything"
...
...     def label(self, item, timeout=None):
...         return "cat" if item.get("id") else SKIP
>>> oracle = Everything()
>>> oracle.label({"id": "a"}), oracle.label({}), oracle.undo_seconds, oracle.batch
('cat', SKIP, 0.0, 1)

"""

from __future__ import annotations

import abc
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from stream_al.io.votes import REQUEUE_SECONDS
from stream_al.runtime.backoff import Backoff
from stream_al.schemas import MAX_ID_CHARS, loads

__all__ = [
    "FIRST_GAP_SECONDS",
    "KEEP_SECONDS",
    "LONGEST_GAP_SECONDS",
    "QUIT",
    "SKIP",
    "TIMEOUT",
    "UNDO",
    "GiveBacks",
    "Oracle",
    "Signal",
    "unreadable_item",
]


class Signal:
    """An oracle's answer that is not a label; there are four, compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SKIP = Signal("SKIP")
"""The oracle has no label for this item: it goes back to the queue for another labeler."""
QUIT = Signal("QUIT")
"""Stop working; the item stays with this worker (it gets it back on restart)."""
TIMEOUT = Signal("TIMEOUT")
"""No answer within the timeout (the worker writes a held answer, then asks again)."""
UNDO = Signal("UNDO")
"""The labeler took the last answer back: show that item again."""

FIRST_GAP_SECONDS = 0.25
"""An item a labeler passes on (:class:`GiveBacks`) goes back at once the first time it
comes to it again, then no sooner than this after; each gap doubles, up to
:data:`LONGEST_GAP_SECONDS`."""

LONGEST_GAP_SECONDS = 4.0
"""The longest a labeler holds such an item before it goes back: another labeler back from
a pause waits at most this for it (and it stays below the claim-idle times: held longer,
another worker could take it over while this one still means to give it back)."""


@dataclass
class _Pace:
    due: float  # when the item met again may next go back
    offered: float | None = None  # when it first went back
    value: Any = None  # what the caller keeps with it (a vote)
    gaps: Backoff = field(
        default_factory=lambda: Backoff(FIRST_GAP_SECONDS, 2.0, LONGEST_GAP_SECONDS)
    )


class GiveBacks:
    """The items a labeler passed on for another (it skipped them, or voted on a copy) and
    what becomes of one that comes to it again: one rule for the worker and the Label
    Studio bridge, for skips and for consensus copies (docs/design.md, "Labeling").

    Whether anybody else is there is judged by time, not by a count: a labeler alone ran
    through a count in milliseconds, and another away for a second looked like nobody.
    An item met again goes back at once the first time, then each time no sooner than a
    gap after the last (:data:`FIRST_GAP_SECONDS`, doubling up to
    :data:`LONGEST_GAP_SECONDS`; the labeler holds it in between). Once it has been going
    back for ``seconds`` and still comes back, nobody else took it in all that time:
    :meth:`act` says so and the caller ends it (drops a skipped item, votes again). The
    time counts from the first give-back: an item can sit unoffered with a worker whose
    connection dropped mid-batch, and that was nobody's chance to take it. The newest
    ``size`` are kept.

    >>> skips = GiveBacks(seconds=60.0)
    >>> skips.add("a", due=100.0)  # skipped at 100: it goes back at once
    >>> acted = []
    >>> while not acted or acted[-1][1]:  # a labeler alone: the item always returns
    ...     now = skips.due("a")
    ...     acted.append((now - 100, skips.act("a", now)))
    >>> [t for t, _ in acted[:7]], [t for t, _ in acted[-3:]], len(acted)
    ([0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 11.75], [55.75, 59.75, 60.0], 20)
    >>> "a" in skips, skips.act("a", 200.0)  # the caller ends it (and may discard it)
    (True, False)

    """

    def __init__(self, seconds: float = REQUEUE_SECONDS, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._paces: OrderedDict[str, _Pace] = OrderedDict()

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._paces

    def add(self, item_id: str, due: float, value: Any = None) -> None:
        """``item_id`` was passed on at ``due`` (again: its time starts again), with
        ``value`` kept for the caller (:meth:`value`)."""
        self._paces[item_id] = _Pace(due, value=value)
        self._paces.move_to_end(item_id)
        while len(self._paces) > self.size:
            self._paces.popitem(last=False)

    def discard(self, item_id: str) -> None:
        """Forget ``item_id`` (ended, or taken back)."""
        self._paces.pop(item_id, None)

    def value(self, item_id: str) -> Any:
        """What :meth:`add` kept with ``item_id``."""
        return self._paces[item_id].value

    def due(self, item_id: str) -> float:
        """When ``item_id`` met now may be acted on (:meth:`act`); until then the labeler
        holds it."""
        return self._paces[item_id].due

    def act(self, item_id: str, now: float) -> bool:
        """``item_id`` met at ``now`` (not before :meth:`due`): True to give it back, False
        once it has been going back for ``seconds`` (nobody else took it). The next time
        waits a gap longer than the last, and not past the end of that time."""
        pace = self._paces[item_id]
        if pace.offered is None:
            pace.offered = now
        end = pace.offered + self.seconds
        pace.due = now + pace.gaps.next()
        if now < end:
            pace.due = min(pace.due, end)
            return True
        return False


KEEP_SECONDS = 30.0
"""How often an item a person has in front of them is marked as worked on
(:meth:`~stream_al.io.base.WorkerQueue.keep`): the longest timeout the worker gives an
oracle with an undo window."""


class Oracle(abc.ABC):
    """Where labels come from: one item at a time (see the module docstring).

    Only :meth:`label` must be implemented; an oracle without an undo window, a server or
    a person who may be mid-answer keeps the defaults of the rest.

    Attributes
    ----------
    name
        The oracle's kind (``file``, ``terminal``, ``web``): the ``annotator`` written on
        its labels unless the worker is given one.
    undo_seconds
        How long the worker holds each answer before writing it, so the labeler can take
        it back (:data:`UNDO`); 0 (the default): no undo, each answer is written at once.
    batch
        How many items the worker takes from the queue at once: 1 (the default) for a
        person, more for an oracle that answers at once.

    """

    name: str
    undo_seconds: float = 0.0
    batch: int = 1

    @abc.abstractmethod
    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        """The label of ``item`` (a query item, see :mod:`stream_al.schemas`), or a
        :class:`Signal`.

        Parameters
        ----------
        item
            The item: its id, features, the model's prediction and probabilities, and
            why it was asked.
        timeout
            Seconds to wait for an answer before returning :data:`TIMEOUT`; None waits as
            long as it takes. The worker gives one only to an oracle with an undo window.

        Returns
        -------
        The label, :data:`SKIP` or :data:`QUIT`; with an undo window also :data:`UNDO` or
        :data:`TIMEOUT`.

        """

    def holding(self, can_undo: bool) -> None:  # noqa: B027 (a hook, empty by default)
        """The worker holds the last answer (True: it can still be undone) or has written
        it (False). Nothing by default."""

    def progress(self, line: str) -> None:  # noqa: B027 (a hook, empty by default)
        """The worker's progress so far (``12 labeled, 1 skipped, 4.3 per minute``), given
        before each item, for an oracle that shows it to a person. Nothing by default."""

    def stop(self) -> None:  # noqa: B027 (a hook, empty by default)
        """The worker is stopping (a signal, from another thread): make a :meth:`label`
        that waits for a person return :data:`QUIT` soon. Nothing by default."""

    def close(self) -> None:  # noqa: B027 (a hook, empty by default)
        """Release what the oracle holds (a server, a connection) once the worker is done.
        Nothing by default."""


def unreadable_item(raw: str) -> str | None:
    """Why the queue entry ``raw`` is not an item a worker can label (None: it is): a
    worker drops such an entry unlabeled, as no label could name it.

    >>> unreadable_item('{"id": "e1", "features": {}}') is None
    True
    >>> unreadable_item('[1, 2]'), unreadable_item('{"id": 7}')
    ('not a JSON object', 'no item id (a non-empty string)')

    """
    try:
        item = loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(item, dict):
        return "not a JSON object"
    if not isinstance(item.get("id"), str) or not item["id"]:
        return "no item id (a non-empty string)"
    if len(item["id"]) > MAX_ID_CHARS:  # serve would dead-letter its label: labeled for nothing
        return f"item id of {len(item['id'])} characters, more than {MAX_ID_CHARS}"
    votes = item.get("votes_needed")
    if votes is not None and type(votes) is not int:
        return f"votes_needed is not an integer ({votes!r:.40})"
    return None
