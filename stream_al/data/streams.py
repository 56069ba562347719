"""Labeled streams for evaluation, the demo and replay: ``csv:``, ``river:`` and ``synth:``.

A stream spec names where labeled events come from:

- ``csv:PATH`` with a target column: a header row, one event per row. Columns whose every
  non-empty value parses as a number become floats (nan and inf count as missing); the
  others stay strings; empty cells are missing features. The target keeps its text
  (``"1"``, ``"UP"``). An ``id`` column is the item id, never a feature (the rule of every
  command that reads a CSV: :data:`ID_COLUMN`). A file with a header and no rows is
  refused.
- ``river:NAME``: a dataset bundled with River, read offline: Phishing, Bananas,
  ImageSegments, Shuttle.
- ``synth:NAME``: a drifting generator, seeded, ``n_events`` long (default 20,000):

  ================  ==========================================================================
  ``sea-drift``     SEA, noise 10%, the four concepts in turn (abrupt drifts at each quarter)
  ``agrawal-drift`` Agrawal classification function 1, then 4 (River's numbering), drift
                    centred at the middle of the stream, 1,000 events wide
  ``hyperplane``    rotating hyperplane, 10 features of which 2 drift, 5% noise
  ``rbf-drift``     random RBF, 50 centroids all moving (speed 1e-3), 10 features, 2 classes
  ``led-drift``     LED digits with 17 irrelevant features, the relevant ones swapped with
                    irrelevant ones in the middle of the stream (1 then 5 drifting features)
  ``stagger``       STAGGER concepts 0, 1, 2 in turn, abrupt drifts at each third
  ================  ==========================================================================

Examples
--------
>>> spec = parse_stream("synth:sea-drift", n_events=5)
>>> [y for _, y in spec.events(seed=0)]
[True, True, False, False, False]

"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_al.core.feature_kinds import MAX_CLASSES, label_size_problem
from stream_al.core.types import Example
from stream_al.data.tables import csv_table

__all__ = [
    "ID_COLUMN",
    "ID_RULE",
    "RIVER_DATASETS",
    "SYNTH_STREAMS",
    "Example",
    "StreamSpec",
    "parse_stream",
    "read_csv",
    "read_csv_ids",
]

ID_COLUMN = "id"
"""A CSV's ``id`` column is the item id, never a feature: in ``evaluate``, ``demo``, warm
starts, ``produce`` and ``select`` alike (a row number or an id fed to a model as a
feature teaches it noise: on Elec2, 75.3% with every label without it, 27.8% with it)."""
ID_RULE = "a CSV's id column, if it has one, is the item id, never a feature"
"""The rule in the words of the commands' help."""


def _river_dataset(name: str) -> Callable[[], Iterable[Example]]:
    """River's dataset class ``name``, imported when the stream is read."""

    def make() -> Iterable[Example]:
        from river import datasets

        dataset: Iterable[Example] = getattr(datasets, name)()
        return dataset

    return make


RIVER_DATASETS: dict[str, Callable[[], Iterable[Example]]] = {
    name: _river_dataset(name) for name in ("Phishing", "Bananas", "ImageSegments", "Shuttle")
}

DEFAULT_SYNTH_EVENTS = 20_000


def _drift(
    first: Iterable[Example], second: Iterable[Example], position: int, width: int, seed: int
) -> Iterator[Example]:
    """River's ``ConceptDriftStream`` (same draws, same examples), safe on long streams.

    River computes ``exp(-4 (t - position) / width)``, which overflows once ``t`` is more
    than about 177 widths before the drift, e.g. a drift at 500,000 of width 1,000.
    """
    rng = random.Random(seed)
    old, new = iter(first), iter(second)
    t = 0
    while True:
        t += 1
        v = -4.0 * (t - position) / width
        p_new = 0.0 if v > 700.0 else 1.0 / (1.0 + math.exp(v))
        try:
            yield next(old) if rng.random() > p_new else next(new)
        except StopIteration:
            return


def _abrupt(concepts: list[Any], length: int) -> Iterator[Example]:
    """Each concept for ``length`` events in turn, the last one to the end.

    (River's ConceptDriftStream overflows ``math.exp`` for abrupt widths on long streams.)
    """
    for concept in concepts[:-1]:
        yield from itertools.islice(iter(concept), length)
    yield from iter(concepts[-1])


def _sea(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    concepts = [synth.SEA(variant=v, noise=0.1, seed=seed + v) for v in range(4)]
    return _abrupt(concepts, max(1, n // 4))


def _agrawal(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    return _drift(
        synth.Agrawal(classification_function=1, seed=seed),
        synth.Agrawal(classification_function=4, seed=seed),
        position=n // 2,
        width=min(1000, max(1, n // 20)),
        seed=seed,
    )


def _hyperplane(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    return synth.Hyperplane(
        seed=seed, n_features=10, n_drift_features=2, mag_change=0.001, noise_percentage=0.05
    )


def _rbf(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    return synth.RandomRBFDrift(
        seed_model=seed,
        seed_sample=seed + 1,
        n_classes=2,
        n_features=10,
        n_centroids=50,
        change_speed=0.001,
        n_drift_centroids=50,
    )


def _led(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    concepts = [
        synth.LEDDrift(
            seed=seed, noise_percentage=0.1, irrelevant_features=True, n_drift_features=k
        )
        for k in (1, 5)
    ]
    return _abrupt(concepts, max(1, n // 2))


def _stagger(seed: int, n: int) -> Iterable[Example]:
    from river.datasets import synth

    concepts = [synth.STAGGER(classification_function=f, seed=seed + f) for f in range(3)]
    return _abrupt(concepts, max(1, n // 3))


SYNTH_STREAMS: dict[str, Callable[[int, int], Iterable[Example]]] = {
    "sea-drift": _sea,
    "agrawal-drift": _agrawal,
    "hyperplane": _hyperplane,
    "rbf-drift": _rbf,
    "led-drift": _led,
    "stagger": _stagger,
}


@dataclass(frozen=True)
class StreamSpec:
    """A parsed stream spec; :meth:`events` yields ``(features, label)`` pairs."""

    spec: str
    kind: str
    name: str
    target: str | None = None
    n_events: int | None = None

    def events(self, seed: int = 0) -> Iterator[Example]:
        """The stream's events; synthetic streams depend on ``seed``, the others do not."""
        if self.kind == "csv":
            assert self.target is not None
            it: Iterable[Example] = read_csv(Path(self.name), self.target)
        elif self.kind == "river":
            it = RIVER_DATASETS[self.name]()
        else:
            n = self.n_events or DEFAULT_SYNTH_EVENTS
            return itertools.islice(iter(SYNTH_STREAMS[self.name](seed, n)), n)
        if self.n_events is not None:
            return itertools.islice(iter(it), self.n_events)
        return iter(it)

    def ids(self) -> Iterator[str] | None:
        """The events' item ids, in the order of :meth:`events`, when the stream has them
        (a CSV's ``id`` column); None: the events are numbered from 0."""
        if self.kind != "csv" or ID_COLUMN not in _header(Path(self.name)):
            return None
        assert self.target is not None
        ids = read_csv_ids(Path(self.name), self.target)
        return iter(ids if self.n_events is None else ids[: self.n_events])

    @property
    def depends_on_seed(self) -> bool:
        return self.kind == "synth"


def parse_stream(spec: str, target: str | None = None, n_events: int | None = None) -> StreamSpec:
    """Check ``spec`` and return it parsed; raises ``ValueError`` saying what to fix."""
    kind, sep, name = spec.partition(":")
    if not sep or not name:
        raise ValueError(f"stream {spec!r} is not of the form csv:PATH, river:NAME or synth:NAME")
    if n_events is not None and n_events < 1:
        raise ValueError(f"the number of events must be at least 1, got {n_events}")
    if kind == "csv":
        path = Path(name)
        if not path.is_file():
            what = "is not a file" if path.exists() else "no such file"
            raise ValueError(f"{name}: {what} (give the path of a CSV file as csv:PATH)")
        if not target:
            raise ValueError(f"csv stream {name} needs --target COLUMN (the label column)")
        _check_csv(path, target)
        return StreamSpec(spec, "csv", name, target, n_events)
    if kind == "river":
        if name not in RIVER_DATASETS:
            raise ValueError(
                f"unknown River dataset {name!r}; choose one of: {', '.join(RIVER_DATASETS)}"
            )
        return StreamSpec(spec, "river", name, None, n_events)
    if kind == "synth":
        if name not in SYNTH_STREAMS:
            raise ValueError(
                f"unknown synthetic stream {name!r}; choose one of: {', '.join(SYNTH_STREAMS)}"
            )
        return StreamSpec(spec, "synth", name, None, n_events)
    raise ValueError(f"unknown stream kind {kind!r} in {spec!r}; use csv:, river: or synth:")


def _header(path: Path) -> list[str]:
    """The header of a CSV stream (:func:`parse_stream` checked its rows)."""
    return next(csv_table(path))


def _check_csv(path: Path, target: str) -> None:
    """Read every row of a CSV stream once, before any is used: a bad row found halfway
    would stop a replay with half the stream sent, or an evaluation after minutes."""
    table = csv_table(path)
    header = next(table)
    first = next(table, None)
    if first is None:
        raise ValueError(f"{path} has a header but no rows: there are no events to read")
    if target not in header:
        raise ValueError(
            f"target column {target!r} is not in {path}; its columns are: {', '.join(header)}"
        )
    at = header.index(target)
    classes: set[str] = set()
    for line, row in enumerate(itertools.chain([first], table), start=1):
        label = row[at]
        if label == "" or label in classes:
            continue
        problem = label_size_problem(label)
        if problem is not None:  # every event with it would be a dead letter or a failure
            raise ValueError(f"{path}, row {line}, column {target!r}: {problem}")
        if len(classes) <= MAX_CLASSES:
            classes.add(label)
    if not classes:
        raise ValueError(
            f"no row of {path} has a label in column {target!r}: there are no events to read"
        )
    if len(classes) > MAX_CLASSES:
        raise ValueError(
            f"column {target!r} of {path} has more than {MAX_CLASSES:,} classes, more than a "
            "model learns: is it the label column (not an id)?"
        )


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv_ids(path: Path, target: str) -> list[str]:
    """The ``id`` column of the labeled rows of a CSV file (the rows :func:`read_csv`
    reads), as written."""
    table = csv_table(path)
    header = next(table)
    at, label = header.index(ID_COLUMN), header.index(target)
    return [row[at] for row in table if row[label] != ""]


def read_csv(path: Path, target: str) -> list[Example]:
    """Read a CSV file as labeled events (see the module docstring for the typing rules;
    the ``id`` column is not a feature)."""
    table = csv_table(path)
    header = next(table)
    rows = [dict(zip(header, cells, strict=True)) for cells in table]
    columns = [c for c in header if c not in (target, ID_COLUMN)]
    numeric = {c for c in columns if all(not r[c] or _parses(r[c]) for r in rows)}
    examples: list[Example] = []
    for row in rows:
        label = row[target]
        if label == "":
            continue  # an unlabeled row cannot be evaluated
        x: dict[str, Any] = {}
        for c in columns:
            v = row[c]
            if not v:
                continue
            if c in numeric:
                number = float(v)
                if math.isfinite(number):  # nan and inf are missing values, not numbers
                    x[c] = number
            else:
                x[c] = v
        examples.append((x, label))
    return examples
