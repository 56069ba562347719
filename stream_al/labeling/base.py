"""What a labeling worker asks for a label: the :class:`Oracle` interface and its answers.

An oracle answers one item at a time with its label or with a :class:`Signal`:

============ ==============================================================================
``SKIP``     no label for this item: the worker gives it back to the queue, for another
             labeler (and drops it if nobody else takes it)
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
from typing import Any

from stream_al.schemas import loads

__all__ = [
    "GIVE_BACKS",
    "KEEP_SECONDS",
    "QUIT",
    "SKIP",
    "TIMEOUT",
    "UNDO",
    "Oracle",
    "Signal",
    "Skips",
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

GIVE_BACKS = 3
"""How many times a worker (or the Label Studio bridge) gives back, unseen, an item it
skipped before it drops the item (docs/design.md, "Labeling")."""


class Skips:
    """The items a labeler skipped, and how often each came back to it unseen since: one
    rule for the worker and the Label Studio bridge. The newest ``size`` are kept.

    >>> skips = Skips()
    >>> skips.skipped("a")
    >>> "a" in skips, [skips.give_back("a") for _ in range(GIVE_BACKS + 1)], "a" in skips
    (True, [True, True, True, False], False)
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._times: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._times

    def skipped(self, item_id: str) -> None:
        """The labeler skipped ``item_id`` (it went back to the queue for another)."""
        self._times[item_id] = 0
        while len(self._times) > self.size:
            self._times.popitem(last=False)

    def give_back(self, item_id: str) -> bool:
        """A skipped item came back: True to give it back unseen once more, False (and it
        is forgotten) once it has come back :data:`GIVE_BACKS` times: drop it."""
        times = self._times[item_id] + 1
        if times <= GIVE_BACKS:
            self._times[item_id] = times
            return True
        del self._times[item_id]
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
    votes = item.get("votes_needed")
    if votes is not None and type(votes) is not int:
        return f"votes_needed is not an integer ({votes!r:.40})"
    return None
