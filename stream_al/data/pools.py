"""Pool mode: rank a historical pool with the current model and queue a diverse batch.

``stream-al select --pool csv:PATH|topic:NAME --k N`` reads the pool once, in a single
pass with bounded memory: each row is scored with the learner's uncertainty
(:meth:`~stream_al.core.learner.ActiveLearner.assess`; nothing is spent or learned), the
``candidates`` most uncertain rows are kept in a heap, and running means and variances
of the numeric features are collected. A greedy k-center (farthest-first traversal from
the most uncertain candidate, each distance weighted by the candidate's uncertainty) over
the standardized features of the candidates then picks the batch, so it is not ``k``
near-duplicates of one uncertain region.

The batch goes into the same label queue as the stream's queries, with the same tiers and
consensus rules; each item says ``"source": "pool"``. Labels come back through the
workers and are joined and learned by ``serve`` like any other.

Examples
--------
>>> from stream_al.core.learner import ActiveLearner
>>> learner = ActiveLearner("gaussian-nb", "variable-uncertainty", budget=0.1, seed=1)
>>> for i in range(40):
...     _ = learner.learn({"x": float(i % 10), "c": "ab"[i % 2]}, i % 10 >= 5, None)
>>> rows = [(f"r{i}", {"x": (i % 100) / 10, "c": "ab"[i % 2]}) for i in range(1000)]
>>> ranked = rank_pool(learner, rows, candidates=50)
>>> ranked.scanned, len(ranked.candidates)
(1000, 50)
>>> batch = diverse_batch(ranked, 5)
>>> len({c.item_id for c in batch})
5

"""

from __future__ import annotations

import csv
import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stream_al.core.learner import ActiveLearner

__all__ = [
    "Candidate",
    "FeatureStats",
    "PoolSpec",
    "Ranked",
    "diverse_batch",
    "farthest_first",
    "iter_csv_pool",
    "mean_pairwise_distance",
    "parse_pool",
    "rank_pool",
]

PoolRow = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class PoolSpec:
    """A parsed ``--pool`` spec: ``csv:PATH`` or ``topic:NAME``."""

    kind: str
    name: str


def parse_pool(spec: str) -> PoolSpec:
    """Check ``spec``; raises ``ValueError`` saying what to fix.

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

    Ids come from ``id_column`` (default: an ``id`` column when there is one), else from
    the file name and the row number. Columns in ``drop`` (a label column, say) are not
    features. Empty cells are missing values.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path} is empty: a pool CSV needs a header row")
        if id_column is None and "id" in header:
            id_column = "id"
        if id_column is not None and id_column not in header:
            raise ValueError(f"id column {id_column!r} is not in {path}")
        skip = set(drop) | ({id_column} if id_column else set())
        missing = skip - set(header) - {id_column}
        if missing:
            raise ValueError(f"column {sorted(missing)[0]!r} is not in {path}")
        keep = [(i, name) for i, name in enumerate(header) if name not in skip]
        id_at = header.index(id_column) if id_column else None
        for n, row in enumerate(reader, 1):
            if len(row) != len(header):
                raise ValueError(f"{path}:{n + 1}: {len(row)} cells, the header has {len(header)}")
            features = {}
            for i, name in keep:
                if row[i] != "":
                    value = _value(row[i])
                    if value is not None:
                        features[name] = value
            item_id = row[id_at] if id_at is not None else f"pool:{path.stem}:{n}"
            yield item_id, features


@dataclass(slots=True)
class Candidate:
    """A scored pool row."""

    item_id: str
    features: dict[str, Any]
    prediction: Any
    proba: dict[Any, float]
    score: float


@dataclass
class FeatureStats:
    """Running mean and variance of each numeric feature (Welford), and the categorical
    features seen: what the distances of :func:`farthest_first` are standardized by."""

    n: dict[str, int] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    m2: dict[str, float] = field(default_factory=dict)
    categorical: set[str] = field(default_factory=set)

    def update(self, features: dict[str, Any]) -> None:
        n, mean, m2 = self.n, self.mean, self.m2
        for name, value in features.items():
            if isinstance(value, str):
                self.categorical.add(name)
                continue
            k = n.get(name, 0) + 1
            n[name] = k
            delta = value - mean.get(name, 0.0)
            mu = mean.get(name, 0.0) + delta / k
            mean[name] = mu
            m2[name] = m2.get(name, 0.0) + delta * (value - mu)

    def std(self, name: str) -> float:
        k = self.n.get(name, 0)
        sd = math.sqrt(self.m2[name] / (k - 1)) if k > 1 else 0.0
        return sd if sd > 0 else 1.0


@dataclass
class Ranked:
    """The outcome of :func:`rank_pool`: the most uncertain rows, best first."""

    candidates: list[Candidate]
    stats: FeatureStats
    scanned: int
    unscored: int = 0


def rank_pool(
    learner: ActiveLearner,
    rows: Iterable[PoolRow],
    candidates: int,
    progress: Callable[[int], None] | None = None,
    every: int = 10_000,
    max_rows: int | None = None,
) -> Ranked:
    """Score every row of ``rows`` and keep the ``candidates`` most uncertain ones.

    Memory is bounded by ``candidates`` rows whatever the size of the pool. Rows without
    features are counted as ``unscored``. ``progress(scanned)`` is called every
    ``every`` rows.
    """
    heap: list[tuple[float, int, Candidate]] = []  # min-heap: the least uncertain on top
    stats = FeatureStats()
    scanned = unscored = 0
    assess = learner.assess
    if max_rows is not None:
        rows = itertools.islice(rows, max_rows)
    for scanned, (item_id, features) in enumerate(rows, 1):
        if not features:
            unscored += 1
            continue
        stats.update(features)
        prediction, proba, score = assess(features)
        if len(heap) < candidates:
            heapq.heappush(
                heap, (score, -scanned, Candidate(item_id, features, prediction, proba, score))
            )
        elif score > heap[0][0]:
            heapq.heapreplace(
                heap, (score, -scanned, Candidate(item_id, features, prediction, proba, score))
            )
        if progress is not None and scanned % every == 0:
            progress(scanned)
    ranked = [c for _, _, c in sorted(heap, key=lambda t: (-t[0], -t[1]))]
    return Ranked(ranked, stats, scanned, unscored)


def _matrices(candidates: list[Candidate], stats: FeatureStats) -> tuple[np.ndarray, np.ndarray]:
    """Standardized numeric features (missing: the mean) and categorical codes (-1)."""
    numeric = sorted(stats.n)
    categorical = sorted(stats.categorical)
    num = np.zeros((len(candidates), len(numeric)))
    for j, name in enumerate(numeric):
        mu, sd = stats.mean[name], stats.std(name)
        for i, c in enumerate(candidates):
            value = c.features.get(name)
            if value is not None and not isinstance(value, str):
                num[i, j] = (value - mu) / sd
    cat = np.full((len(candidates), len(categorical)), -1, dtype=np.int64)
    for j, name in enumerate(categorical):
        codes: dict[Any, int] = {}
        for i, c in enumerate(candidates):
            value = c.features.get(name)
            if value is not None:
                cat[i, j] = codes.setdefault(value, len(codes))
    return num, cat


def _distances(num: np.ndarray, cat: np.ndarray, i: int) -> np.ndarray:
    """Distances of every row to row ``i``: Euclidean over the standardized numeric
    features plus one per categorical feature that differs."""
    squared = ((num - num[i]) ** 2).sum(axis=1) + (cat != cat[i]).sum(axis=1)
    return np.sqrt(squared)


def farthest_first(candidates: list[Candidate], stats: FeatureStats) -> Iterator[int]:
    """Indices of ``candidates`` in greedy k-center order: the first (most uncertain) one,
    then always the one whose distance to the nearest picked so far, times its
    uncertainty, is largest; ties go to the more uncertain."""
    if not candidates:
        return
    num, cat = _matrices(candidates, stats)
    # Distance weighted by uncertainty: a far but nearly certain row does not win over a
    # slightly nearer, much less certain one.
    weight = np.array([max(c.score, 1e-6) for c in candidates])
    nearest = np.full(len(candidates), np.inf)
    picked = 0
    for _ in range(len(candidates)):
        yield picked
        nearest = np.minimum(nearest, _distances(num, cat, picked))
        nearest[picked] = -1.0
        picked = int(np.argmax(nearest * weight))  # the first maximum: the most uncertain
        if nearest[picked] < 0:
            return


def diverse_batch(ranked: Ranked, k: int) -> list[Candidate]:
    """The first ``k`` candidates in :func:`farthest_first` order."""
    order = farthest_first(ranked.candidates, ranked.stats)
    return [ranked.candidates[i] for i in itertools.islice(order, k)]


def mean_pairwise_distance(batch: list[Candidate], stats: FeatureStats) -> float:
    """The mean distance between two items of ``batch`` (the measure of diversity).

    >>> s = FeatureStats(); s.update({"x": 0.0}); s.update({"x": 2.0})
    >>> c = lambda x: Candidate("i", {"x": x}, None, {}, 0.5)
    >>> round(mean_pairwise_distance([c(0.0), c(2.0)], s), 3)  # 2 / std 1.414
    1.414

    """
    if len(batch) < 2:
        return 0.0
    num, cat = _matrices(batch, stats)
    total = sum(float(_distances(num, cat, i)[i + 1 :].sum()) for i in range(len(batch)))
    return total / (len(batch) * (len(batch) - 1) / 2)
