"""The statistics of the label-efficiency benchmark, on result lines (no I/O).

- :func:`aggregate` groups result lines into :class:`Cell` s: one system's strategy on one
  stream at one budget and label delay, over its seeds (accuracy and true label fraction
  per seed, and their mean).
- :func:`interpolate` reads a strategy's accuracy at a true label fraction from its runs at
  each budget (linear in the log of the fraction; carried flat at most 10% beyond the
  measured range, never further): systems do not spend exactly their budget, so they are
  compared at the same *true* fraction.
- :func:`fraction_to_match` and :func:`savings_ratio`: the label fraction a strategy needs
  to reach an accuracy, read off its curve over the budgets, over the fraction random
  sampling spent to reach it. Off the measured curve it is a bound (:class:`Bound`), and
  :func:`median_bounds` gives the median of bounds as an interval.
- :func:`every_label_gap`: issue 16's every-label criterion for one stream, the first
  run's mean accuracy against the best of the references, over the seeds all of them ran.
- :func:`wilcoxon`: the paired Wilcoxon signed-rank test (two-sided; zero differences
  dropped, as Wilcoxon's original rule) with the mean difference and the counts of wins
  and losses.

Examples
--------
>>> curve = [(0.02, 0.70), (0.05, 0.74), (0.1, 0.78), (0.2, 0.80)]
>>> round(interpolate(curve, 0.0316), 3)
0.72
>>> ratio = savings_ratio(curve, (0.1, 0.74))  # random needs 10% for what this does with 5%
>>> round(ratio.value, 6), ratio.kind
(0.5, 'exact')
>>> wilcoxon([0.01] * 10).p
0.001953125

"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stream_al.evaluation.prequential import mean_ci95

__all__ = [
    "REACH",
    "Bound",
    "Cell",
    "Paired",
    "aggregate",
    "chance_below",
    "fraction_to_match",
    "interpolate",
    "median_bounds",
    "savings_ratio",
    "wilcoxon",
]

# How far beyond its measured label fractions a strategy's accuracy is carried.
REACH = 1.1

Point = tuple[float, float]  # (true label fraction, accuracy)


@dataclass(frozen=True)
class Cell:
    """One system's strategy on one stream at one budget and delay, over its seeds.

    ``runs`` maps each seed to its ``(accuracy, true label fraction)``; ``n_events`` is
    the length of the stream the runs saw.
    """

    stream: str
    system: str
    model: str
    strategy: str
    budget: float
    delay: int
    runs: Mapping[int, Point]
    us_per_event: float
    n_events: int = 0

    @property
    def name(self) -> str:
        return f"{self.system} {self.strategy}"

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def accuracy(self) -> float:
        return statistics.fmean(a for a, _ in self.runs.values())

    @property
    def label_fraction(self) -> float:
        return statistics.fmean(f for _, f in self.runs.values())

    @property
    def point(self) -> Point:
        return self.label_fraction, self.accuracy

    @property
    def half_ci95(self) -> float:
        """Half the width of the 95% t-interval of the mean accuracy over seeds."""
        _, lo, hi = mean_ci95([a for a, _ in self.runs.values()])
        return (hi - lo) / 2

    @property
    def one_run(self) -> bool:
        """Every seed gave the same accuracy: one run, not an interval (deterministic)."""
        return len({a for a, _ in self.runs.values()}) == 1


def aggregate(lines: Iterable[Mapping[str, Any]]) -> list[Cell]:
    """Group result lines by stream, system, model, strategy, budget and delay.

    Lines with an ``error`` are left out; a seed met twice keeps its last line.
    """
    groups: dict[tuple[Any, ...], dict[int, Point]] = defaultdict(dict)
    speed: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    events: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in lines:
        if "error" in r:
            continue
        key = (
            r["stream"],
            r["system"],
            r["model"],
            r["strategy"],
            float(r["budget"]),
            int(r.get("delay") or 0),
        )
        groups[key][int(r["seed"])] = (float(r["accuracy"]), float(r["label_fraction"]))
        speed[key].append(float(r.get("us_per_event", math.nan)))
        events[key] = max(events[key], int(r.get("n_events") or 0))
    cells = []
    for key, runs in sorted(groups.items()):
        stream, system, model, strategy, budget, delay = key
        cells.append(
            Cell(
                stream,
                system,
                model,
                strategy,
                budget,
                delay,
                runs=dict(sorted(runs.items())),
                us_per_event=statistics.fmean(speed[key]),
                n_events=events[key],
            )
        )
    return cells


def interpolate(points: Iterable[Point], fraction: float) -> float | None:
    """A strategy's accuracy at a true label ``fraction``, from its ``(fraction, accuracy)``
    points: linear in the log of the fraction between points, flat up to :data:`REACH`
    beyond the outermost ones, ``None`` further out."""
    curve = sorted(p for p in points if p[0] > 0)
    if not curve or not curve[0][0] / REACH <= fraction <= curve[-1][0] * REACH:
        return None
    if fraction <= curve[0][0]:
        return curve[0][1]
    for (f0, a0), (f1, a1) in itertools.pairwise(curve):
        if fraction <= f1:
            if f1 <= f0:
                return a1
            t = (math.log(fraction) - math.log(f0)) / (math.log(f1) - math.log(f0))
            return a0 + t * (a1 - a0)
    return curve[-1][1]


@dataclass(frozen=True)
class Bound:
    """A value read off a measured curve, or a bound on it when off the curve.

    ``kind``: ``"exact"`` (interpolated), ``"at_most"`` (already reached at the curve's
    lowest point: the true value is this or less) or ``"at_least"`` (never reached: more
    than this).
    """

    value: float
    kind: Literal["exact", "at_most", "at_least"] = "exact"

    def scaled(self, factor: float) -> Bound:
        return Bound(self.value * factor, self.kind)

    def __str__(self) -> str:
        sign = {"exact": "", "at_most": "≤", "at_least": "≥"}[self.kind]
        return f"{sign}{self.value:.2f}"


def fraction_to_match(curve: Iterable[Point], target: float) -> Bound:
    """The least true label fraction at which ``curve`` reaches accuracy ``target``.

    The first crossing, interpolated linearly in the log of the fraction; a bound when the
    curve starts above ``target`` (``at_most`` its first fraction) or never reaches it
    (``at_least`` its last).
    """
    points = sorted(p for p in curve if p[0] > 0)
    if not points:
        raise ValueError("an empty curve reaches nothing")
    if points[0][1] >= target:
        return Bound(points[0][0], "at_most")
    for (f0, a0), (f1, a1) in itertools.pairwise(points):
        if a0 < target <= a1:
            t = (target - a0) / (a1 - a0)
            return Bound(math.exp(math.log(f0) + t * (math.log(f1) - math.log(f0))))
    return Bound(points[-1][0], "at_least")


def savings_ratio(curve: Iterable[Point], reference: Point) -> Bound:
    """The labels ``curve`` needs to match ``reference``'s accuracy, over the reference's.

    ``reference`` is ``(true label fraction, accuracy)`` of random sampling at a budget;
    below 1 the strategy saves labels, above 1 it costs more.
    """
    fraction, accuracy = reference
    if fraction <= 0:
        raise ValueError("the reference spent no labels")
    return fraction_to_match(curve, accuracy).scaled(1 / fraction)


def median_bounds(values: Sequence[Bound]) -> tuple[float, float]:
    """The interval the median of ``values`` lies in, given that some are bounds.

    ``at_most`` values could be as low as 0, ``at_least`` ones as high as infinity; the
    two ends are equal when the bounds do not reach the middle.
    """
    if not values:
        raise ValueError("no values")
    low = [0.0 if b.kind == "at_most" else b.value for b in values]
    high = [math.inf if b.kind == "at_least" else b.value for b in values]
    return statistics.median(low), statistics.median(high)


@dataclass(frozen=True)
class Paired:
    """A paired comparison: ``n`` pairs, the mean difference, the Wilcoxon p (two-sided),
    and how many pairs the first side won and lost."""

    n: int
    mean: float
    p: float
    wins: int
    losses: int


def wilcoxon(differences: Sequence[float]) -> Paired:
    """The Wilcoxon signed-rank test of paired ``differences`` (two-sided).

    Zero differences are dropped (Wilcoxon's rule); with none left, p is 1. The exact
    distribution is used up to 50 pairs without ties, the normal approximation beyond
    (scipy's ``method="auto"``).
    """
    if not differences:
        raise ValueError("no pairs to test")
    d = [float(x) for x in differences]
    wins = sum(x > 0 for x in d)
    losses = sum(x < 0 for x in d)
    p = 1.0
    if wins + losses:
        from scipy.stats import wilcoxon as scipy_wilcoxon  # type: ignore[import-untyped]

        p = float(scipy_wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return Paired(len(d), statistics.fmean(d), p, wins, losses)


def chance_below(pairs: int, alpha: float) -> float:
    """How often :func:`wilcoxon` finds the first side significantly below the second
    (``p < alpha``, the negative differences' ranks the larger sum) when neither is better:
    each of ``pairs`` differences as likely negative as positive, no ties (exact).

    Over many cells this is the false alarms to expect of a criterion "never significantly
    below": ``sum`` of it over the cells, and none at all with probability ``prod(1 - it)``.

    >>> round(chance_below(10, 0.05), 4)  # 25 of the 1,024 sign patterns
    0.0244
    >>> chance_below(5, 0.05)  # five pairs never reach p < 0.05
    0.0

    """
    if pairs < 1:
        raise ValueError(f"a test needs at least one pair, got {pairs}")
    # ways[w]: the subsets of the ranks 1..pairs that sum to w (the positive ranks' sum).
    ways = [1] + [0] * (pairs * (pairs + 1) // 2)
    for rank in range(1, pairs + 1):
        for w in range(len(ways) - 1, rank - 1, -1):
            ways[w] += ways[w - rank]
    total, below = 2**pairs, 0
    for w in range(len(ways)):
        below += ways[w]
        if 2 * below / total >= alpha:
            return (below - ways[w]) / total
    return below / total


def every_label_gap(
    runs: Sequence[Mapping[int, float]], refs: Iterable[int]
) -> tuple[list[float], float, list[int]] | None:
    """Each run's mean accuracy in points over the seeds all of them ran, the first's gap
    to the best of ``runs[i]`` for ``i`` in ``refs``, and those seeds; None if they share
    no seed.

    >>> every_label_gap([{0: 0.80, 1: 0.82, 2: 0.5}, {0: 0.81, 1: 0.83}, {0: 0.7, 1: 0.7}], [1, 2])
    ([81.0, 82.0, 70.0], -1.0, [0, 1])

    """
    seeds = sorted(set.intersection(*(set(r) for r in runs)))
    if not seeds:
        return None
    means = [100 * statistics.fmean(r[k] for k in seeds) for r in runs]
    return means, means[0] - max(means[i] for i in refs), seeds
