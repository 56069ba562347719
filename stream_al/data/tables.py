"""CSV files as every command reads them, held to one set of rules.

A CSV (a stream, a warm-start history, a pool) is UTF-8 text (a byte-order mark is
allowed, as spreadsheet programs write one), its first row names the columns, each name
once and none empty, and every later row has as many cells as the header (blank lines are
skipped). A file that breaks a rule is refused with the line that breaks it and what to
fix: read as it is, a row with a cell too few would hand a feature's value to the label,
and a column named twice would lose one of the two without a word.

Examples
--------
>>> rows = csv_table(Path("t.csv"), ["a,b,label\\n", "1,2,x\\n", "\\n", "3,4,y\\n"])
>>> next(rows), list(rows)
(['a', 'b', 'label'], [['1', '2', 'x'], ['3', '4', 'y']])
>>> list(csv_table(Path("t.csv"), ["a,b,label\\n", "1,2,x\\n", "3,4\\n"]))
Traceback (most recent call last):
...
ValueError: t.csv:3: 2 cells, the header has 3
>>> next(csv_table(Path("t.csv"), ["a,a,label\\n"]))
Traceback (most recent call last):
...
ValueError: t.csv: column 'a' appears twice in the header

"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["csv_table", "file_text"]


def csv_table(path: Path, lines: Iterable[str] | None = None) -> Iterator[list[str]]:
    """The header, then each row, of the CSV file ``path`` (or of ``lines``, the file's
    text read already); ``ValueError`` names the file, the line and what to fix."""
    if lines is not None:
        yield from _checked(path, csv.reader(lines))
        return
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            yield from _checked(path, csv.reader(f))
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def file_text(path: Path) -> str:
    """The whole text of ``path`` by the same rule (UTF-8, a byte-order mark dropped), for
    a reader that needs the text before its rows (a file still being written)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ValueError:
    return ValueError(
        f"{path} is not UTF-8 text (it has the byte 0x{exc.object[exc.start]:02x}): "
        "save it as UTF-8"
    )


def _checked(path: Path, reader: Any) -> Iterator[list[str]]:
    try:
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path} is empty: a CSV needs a header row")
        seen: set[str] = set()
        for i, name in enumerate(header, 1):
            if not name.strip():
                raise ValueError(f"{path}: column {i} of the header has no name")
            if name in seen:
                raise ValueError(f"{path}: column {name!r} appears twice in the header")
            seen.add(name)
        yield header
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                cells = f"{len(row)} cell" + ("s" if len(row) != 1 else "")
                raise ValueError(f"{path}:{reader.line_num}: {cells}, the header has {len(header)}")
            yield row
    except csv.Error as exc:  # a cell beyond the field size limit, a NUL byte
        raise ValueError(f"{path}:{reader.line_num}: not CSV ({exc})") from None
