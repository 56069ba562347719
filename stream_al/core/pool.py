"""Rank a pool of unlabeled rows with a learner and pick a diverse batch of them.

Each row is scored with the learner's uncertainty
(:meth:`~stream_al.core.learner.ActiveLearner.assess`; nothing is spent or learned), the
``candidates`` most uncertain rows are kept in a heap (memory bounded whatever the size of
the pool), and running means and variances of the numeric features are collected. A greedy
k-center (farthest-first traversal from the most uncertain candidate, each distance
weighted by the candidate's uncertainty) over the standardized features of the candidates
then picks the batch, so it is not ``k`` near-duplicates of one uncertain region.

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

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_al.core.learner import ActiveLearner

__all__ = [
    "Candidate",
    "FeatureStats",
    "PoolRow",
    "Ranked",
    "diverse_batch",
    "farthest_first",
    "mean_pairwise_distance",
    "rank_pool",
]

PoolRow = tuple[str, dict[str, Any]]
"""A pool row: ``(item_id, features)``."""


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
    features, or with a feature of another kind than the model learned (text where it
    learned numbers: its label could not be learned), are counted as ``unscored``.
    ``progress(scanned)`` is called every ``every`` rows.
    """
    heap: list[tuple[float, int, Candidate]] = []  # min-heap: the least uncertain on top
    stats = FeatureStats()
    scanned = unscored = 0
    assess = learner.assess
    if max_rows is not None:
        rows = itertools.islice(rows, max_rows)
    for scanned, (item_id, features) in enumerate(rows, 1):
        if not features or not learner.can_take(features):
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
