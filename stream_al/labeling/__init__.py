"""Labeling: workers that take queued items and get their labels from an oracle.

- :mod:`~stream_al.labeling.base`: the :class:`Oracle` interface and its answers
  (``SKIP``, ``QUIT``, ``TIMEOUT``, ``UNDO``);
- :mod:`~stream_al.labeling.classes`: the classes a person may answer in a session, each
  with one number key (:class:`SessionClasses`: new classes need a confirmation);
- :mod:`~stream_al.labeling.oracles`: the ``file:`` and ``terminal`` oracles;
- :mod:`~stream_al.labeling.web`: the ``web`` oracle, a labeling page with an undo;
- :mod:`~stream_al.labeling.worker`: the :class:`Worker` that drives an oracle;
- :mod:`~stream_al.labeling.run`: ``stream-al worker``, wired to the deployment;
- :mod:`~stream_al.labeling.label_studio`: the Label Studio bridge (not an oracle: many
  tasks are open at once).
"""

from __future__ import annotations

from stream_al.labeling.base import KEEP_SECONDS, QUIT, SKIP, TIMEOUT, UNDO, Oracle, Signal
from stream_al.labeling.classes import SessionClasses
from stream_al.labeling.oracles import FileOracle, TerminalOracle, make_oracle
from stream_al.labeling.worker import Worker, WorkerStats

__all__ = [
    "KEEP_SECONDS",
    "QUIT",
    "SKIP",
    "TIMEOUT",
    "UNDO",
    "FileOracle",
    "Oracle",
    "SessionClasses",
    "Signal",
    "TerminalOracle",
    "Worker",
    "WorkerStats",
    "make_oracle",
]
