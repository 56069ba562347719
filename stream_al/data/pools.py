"""Pool mode's input: a historical pool of unlabeled rows, ``csv:PATH`` or ``topic:NAME``.

``stream-al select --pool SPEC --k N`` reads the pool once, in a single pass with bounded
memory; :mod:`stream_al.core.pool` ranks the rows and picks a diverse batch, and
:mod:`stream_al.service.select` queues it into the label queue serve uses, with the same
tiers and consensus rules as the stream's queries (each item says ``"source": "pool"``).

"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_al.core.pool import PoolRow
from stream_al.data.streams import ID_COLUMN
from stream_al.data.tables import csv_table

__all__ = ["PoolSpec", "iter_csv_pool", "parse_pool"]


@dataclass(frozen=True)
class PoolSpec:
    """A parsed ``--pool`` spec: ``csv:PATH`` or ``topic:NAME``."""

    kind: str
    name: str


def parse_pool(spec: str, check_rows: bool = True) -> PoolSpec:
    """Check ``spec``; raises ``ValueError`` saying what to fix. A CSV pool's rows are
    read once to check them all, unless ``check_rows`` is False (they were checked).

    >>> parse_pool("topic:history")
    PoolSpec(kind='topic', name='history')
    >>> parse_pool("history.csv")
    Traceback (most recent call last):
    ...
    ValueError: pool 'history.csv' is not of the form csv:PATH or topic:NAME

    """
    kind, sep, name = spec.partition(":")
    if not sep or not name or kind not in ("csv", "topic"):
        raise ValueError(f"pool {spec!r} is not of the form csv:PATH or topic:NAME")
    if kind == "csv" and not Path(name).is_file():
        raise ValueError(f"no such pool file: {name}")
    if kind == "csv":
        table = csv_table(Path(name))
        next(table)
        # Every row read once before the ranking starts, which a bad row would stop (with
        # ``check_rows`` False: the first only, as the rows are checked while they are read).
        rows = table if check_rows else itertools.islice(table, 1)
        if not sum(1 for _ in rows):
            raise ValueError(f"{name} has a header but no rows: there is nothing to rank")
    return PoolSpec(kind, name)


def _value(text: str) -> Any:
    """A CSV cell as a feature: a finite number when it parses as one, else the text."""
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else None


def iter_csv_pool(
    path: str | Path, id_column: str | None = None, drop: Iterable[str] = ()
) -> Iterator[PoolRow]:
    """The rows of a CSV pool as ``(item_id, features)``, read lazily.

    Ids come from ``id_column`` (default: an ``id`` column when there is one, the rule of
    every command that reads a CSV: :data:`~stream_al.data.streams.ID_COLUMN`), else from
    the file name and the row number; the id column is never a feature. Columns in
    ``drop`` (a label column, say) are not features. Empty cells are missing values.
    """
    path = Path(path)
    table = csv_table(path)
    header = next(table)
    if id_column is None and ID_COLUMN in header:
        id_column = ID_COLUMN
    if id_column is not None and id_column not in header:
        raise ValueError(f"id column {id_column!r} is not in {path}")
    skip = set(drop) | ({id_column} if id_column else set())
    missing = skip - set(header) - {id_column}
    if missing:
        raise ValueError(f"column {sorted(missing)[0]!r} is not in {path}")
    keep = [(i, name) for i, name in enumerate(header) if name not in skip]
    id_at = header.index(id_column) if id_column else None
    for n, row in enumerate(table, 1):
        features = {}
        for i, name in keep:
            if row[i] != "":
                value = _value(row[i])
                if value is not None:
                    features[name] = value
        item_id = row[id_at] if id_at is not None else f"pool:{path.stem}:{n}"
        yield item_id, features
