"""The oracles a worker can be started with (``stream-al worker --oracle ...``).

- :class:`FileOracle` (``file:PATH``): the ground truth from a CSV (``id,label``) or JSONL
  (``{"id": ..., "label": ...}``) file, for simulations and benchmarks;
- :class:`TerminalOracle` (``terminal``): shows the item, the prediction, the
  probabilities and why it was asked, and reads the label from the keyboard;
- :class:`~stream_al.labeling.web.WebOracle` (``web``): the same in a browser, with an
  undo (in :mod:`stream_al.labeling.web`).

Label Studio is asynchronous (many tasks open at once), so it is not an oracle but a
bridge with its own loop on the same queue: :mod:`stream_al.labeling.label_studio.bridge`.

Also here, for every way of labeling: :func:`coerce_label` (a typed answer as the type of
the model's classes) and :func:`explanation_lines` (why an item was asked, for a person).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from stream_al.data.tables import csv_table, file_text
from stream_al.labeling.base import QUIT, SKIP, Oracle
from stream_al.labeling.classes import SessionClasses
from stream_al.runtime.logging import printable
from stream_al.schemas import MAX_CLASSES, label_problem, loads

__all__ = [
    "FileOracle",
    "TerminalOracle",
    "coerce_label",
    "explanation_lines",
    "make_oracle",
]


log = logging.getLogger("stream_al.worker")

_KIND_NAMES = {str: "text", int: "an integer", bool: "a boolean"}


class FileOracle(Oracle):
    """Labels from a file of ground truth: CSV with ``id`` and ``label`` columns (or the
    label column ``column``: a labeled stream's own CSV is its truth), or JSONL.

    The file may grow while the worker runs (``stream-al produce --truth`` writes each
    event's truth before sending it): an id it does not know makes it read the file again
    if the file changed. An id it still does not know is skipped (and counted by the
    worker). It answers at once, so the worker takes items ``batch`` at a time.
    """

    name = "file"
    batch = 50

    def __init__(self, path: str | Path, column: str = "label"):
        self.path = Path(path)
        self.column = column
        if not self.path.is_file():
            raise ValueError(f"no such truth file: {path}")
        self._stamp = self._stat()
        self.truth = self._read()
        self._said_unknown = False  # an item not in the file was said (once)

    def _stat(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_size, stat.st_mtime_ns

    def _read(self, growing: bool = False) -> dict[str, Any]:
        """The truth in the file; ``growing``: the file is being written, so a last line
        without its newline is a row still being written (read it next time)."""
        # A byte-order mark, as spreadsheets write, is not part of "id" (tables' rule).
        lines = file_text(self.path).splitlines(keepends=True)
        if growing and lines and not lines[-1].endswith("\n"):
            lines.pop()
        if self.path.suffix in (".jsonl", ".ndjson"):
            rows = self._jsonl_rows(lines)
        else:
            rows = self._csv_rows(lines)
        truth: dict[str, Any] = {}
        first: dict[str, str] = {}  # id -> where its label was read
        classes: set[Any] = set()
        kind: tuple[type, str] | None = None  # the first label's, and where it was read
        for where, item_id, label in rows:
            # Labels serve's model would refuse, each answer a dead letter: said at start. A
            # JSONL label may be any JSON (1.5, null, a list: that one stopped the worker
            # with "unhashable type"), so its kind is checked too, before it is compared.
            problem = label_problem(label)
            if problem is not None:
                raise ValueError(f"{self.path}: {where}: {problem}")
            # A model learns one kind (the first label's): every answer of another kind
            # would be a dead letter and its item left pending.
            if kind is None:
                kind = (type(label), where)
            elif type(label) is not kind[0]:
                raise ValueError(
                    f"{self.path}: {where}: label {label!r} is {_KIND_NAMES[type(label)]}, "
                    f"the labels before it (from {kind[1]}) {_KIND_NAMES[kind[0]]}: a model "
                    "learns labels of one kind"
                )
            if item_id in truth and truth[item_id] != label:
                raise ValueError(
                    f"{self.path}: id {item_id!r} is labeled {truth[item_id]!r} on "
                    f"{first[item_id]} and {label!r} on {where}: keep the true one"
                )
            classes.add(label)
            if len(classes) > MAX_CLASSES:
                raise ValueError(
                    f"{self.path}: more than {MAX_CLASSES:,} classes by {where}, more than a "
                    "model learns: is the label column an id? (name it with --target)"
                )
            truth[item_id], first[item_id] = label, first.get(item_id, where)
        return truth

    def _jsonl_rows(self, lines: list[str]) -> Iterator[tuple[str, str, Any]]:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = loads(line)
            except ValueError as exc:
                raise ValueError(f"{self.path}:{n}: not JSON ({exc})") from None
            if not isinstance(row, dict) or "id" not in row or "label" not in row:
                raise ValueError(f"{self.path}:{n}: needs an object with 'id' and 'label'")
            item_id = row["id"]
            if type(item_id) not in (str, int):  # an object's str() matches no event's id
                raise ValueError(
                    f"{self.path}:{n}: 'id' is {type(item_id).__name__}: an id is text"
                )
            yield f"line {n}", str(item_id), row["label"]

    def _csv_rows(self, lines: list[str]) -> Iterator[tuple[str, str, Any]]:
        table = csv_table(self.path, lines)
        header = next(table)
        if not {"id", self.column} <= set(header):
            raise ValueError(
                f"{self.path}: a truth CSV needs 'id' and {self.column!r} columns (its columns: "
                f"{', '.join(header)}; name the label column with --target)"
            )
        at, label = header.index("id"), header.index(self.column)
        for n, row in enumerate(table, 1):
            if row[label] != "":
                yield f"row {n}", row[at], row[label]

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        item_id = str(item.get("id"))
        if item_id not in self.truth and self._stat() != self._stamp:
            self._stamp = self._stat()
            try:
                self.truth = self._read(growing=True)
            except ValueError as exc:  # broken while it grows: go on with what was read
                log.warning("truth file not read again, the labels read before kept: %s", exc)
        if item_id not in self.truth and not self._said_unknown:
            # Said once: items of another stream were skipped in silence, one by one.
            self._said_unknown = True
            such = f", such as {next(iter(self.truth))!r}" if self.truth else ""
            log.warning(
                "item %r is not in the truth file %s (%s ids%s): skipped, as is any other it "
                "does not hold (is it the truth of the stream serve reads? A CSV's id column "
                "is the item id; without one, stream-al produce numbers the rows from 0)",
                item_id,
                self.path,
                f"{len(self.truth):,}",
                such,
            )
        return self.truth.get(item_id, SKIP)


class TerminalOracle(Oracle):
    """Asks a person at a terminal.

    Shows the worker's progress, the features, the prediction with its probabilities, why
    the item was asked and the session's classes, then reads a line: the label; an empty
    line skips the item; ``:q`` (or end of input) quits. A label that spells a known
    class gets that class's type. A class the model has never seen is asked again for a
    confirmation (``y`` adds it; any other line is read as the answer instead); with a
    fixed class list (:class:`~stream_al.labeling.classes.SessionClasses`) any other label
    is refused. No number keys: a typed line is text, and classes may be numbers. No
    undo, and no timeout: it waits for the line.
    """

    name = "terminal"

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        classes: SessionClasses | None = None,
    ):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.classes = classes or SessionClasses()
        self._progress = ""

    def progress(self, line: str) -> None:
        self._progress = line

    def _show(self, item: dict[str, Any]) -> None:
        lines = [""]
        if self._progress:
            lines.append(f"-- {self._progress}")
        head = f"== item {item.get('id')}  (queued by {item.get('strategy')}: "
        head += f"{item.get('reason')}, uncertainty {item.get('score', 0):.3f}"
        threshold = item.get("threshold")
        if threshold is not None:
            head += f", confidence threshold {threshold:.3f}"
        lines.append(head + ")")
        for name, value in (item.get("features") or {}).items():
            lines.append(f"   {name:>24} = {value}")
        proba = item.get("proba") or {}
        ranked = sorted(proba.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v:.0%}" for k, v in ranked[:6])
        lines.append(f"   model says: {item.get('prediction')!r}  ({shown or 'no idea yet'})")
        lines.extend(f"   {line}" for line in explanation_lines(item))
        names = ", ".join(self.classes.names) or "none yet"
        lines.append(f"   classes: {names}{'' if self.classes.closed else ' (or a new one)'}")
        # An event's text goes to a person's terminal: its control characters (escape
        # sequences, carriage returns) could rewrite what the labeler sees, so they show.
        self.stdout.write("".join(printable(line) + "\n" for line in lines))

    def _read(self, prompt: str) -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        return None if not line else line.strip()

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        self.classes.observe(item)
        self._show(item)
        text = self._read("label ([Enter] skip, :q quit): ")
        while True:
            if text is None or text == ":q":
                return QUIT
            if not text:
                return SKIP
            problem = self.classes.check(text)
            label = coerce_label(text, item)
            refused = label_problem(label)  # 20 digits for int classes: no class
            if problem is None and refused is None:
                return label
            if refused is not None or self.classes.closed:
                problem = refused or problem
                text = self._read(f"   {problem}; label ([Enter] skip, :q quit): ")
                continue
            again = self._read(f"   {problem}: [y] add it, or give the label: ")
            if again == "y":
                self.classes.add(text)
                return label
            text = again


def explanation_lines(item: dict[str, Any]) -> list[str]:
    """Why the item was picked, in a few lines a labeler can read.

    >>> explanation_lines({"tier": "expert", "priority": "high", "explanation": {
    ...     "measure": "leaf", "budget": {"budget": 0.1, "target": 0.2, "spent": 0.09,
    ...     "boosted": True}, "drift": {"detections": 1, "label_free": 0, "swaps": 2},
    ...     "top_features": [["x", 1.5]]}})  # doctest: +NORMALIZE_WHITESPACE
    ['why: measure leaf; budget 0.1 (boosted to 0.2 after a drift), 9.0% spent;
      drifts 1, label-free 0, model swaps 2; expert tier, high priority',
     'pushed most by: x (+1.5)']

    """
    why = item.get("explanation") or {}
    if not why:
        return []
    parts = [f"measure {why.get('measure')}"]
    budget = why.get("budget") or {}
    if budget:
        boost = f" (boosted to {budget['target']:g} after a drift)" if budget.get("boosted") else ""
        parts.append(f"budget {budget['budget']:g}{boost}, {budget['spent']:.1%} spent")
    drift = why.get("drift") or {}
    if drift:
        parts.append(
            f"drifts {drift.get('detections', 0)}, label-free {drift.get('label_free', 0)}, "
            f"model swaps {drift.get('swaps', 0)}"
        )
    parts.append(f"{item.get('tier', 'crowd')} tier, {item.get('priority', 'normal')} priority")
    lines = ["why: " + "; ".join(parts)]
    top = why.get("top_features")
    if top:
        lines.append("pushed most by: " + ", ".join(f"{n} ({v:+g})" for n, v in top))
    return lines


def coerce_label(text: str, item: dict[str, Any]) -> Any:
    """``text`` as the type of the classes the model knows (``"1"`` -> 1 for int classes)."""
    prediction = item.get("prediction")
    if prediction is not None and str(prediction) == text:
        return prediction
    if isinstance(prediction, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif isinstance(prediction, int):
        try:
            return int(text)
        except ValueError:
            pass
    return text


def make_oracle(
    spec: str, classes: SessionClasses | None = None, target: str | None = None
) -> Oracle:
    """``file:PATH`` (its label column ``target``, default ``label``) or ``terminal``
    (asking within ``classes``)."""
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return FileOracle(arg, target or "label")
    if kind == "terminal" and not arg:
        return TerminalOracle(classes=classes)
    raise ValueError(f"unknown oracle {spec!r}; use file:PATH, terminal, web or label-studio")
