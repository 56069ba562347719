"""Prequential evaluation of active learning: every event is predicted before its label counts.

For each event, in stream order: labels that have become due are learned, then the
event is predicted (and scored), then the learner decides whether to ask for its label.
An asked label becomes due ``delay`` events later (0 = learned right after its own
prediction, the classic test-then-train), or, with ``jitter``, a number of events drawn
for each label between ``delay - jitter`` and ``delay + jitter``: labelers do not answer
in step, and a deterministic strategy on a recorded stream then makes a different run
for each seed. Accuracy is over *every* event, labeled or not,
and is always reported beside the fraction of labels it cost.

A run is repeated over several seeds; the report gives the mean, a 95% t-interval over
seeds, random sampling at the same budget and the same model with every label (the
ceiling), all on the same events.

Examples
--------
>>> from river.datasets import synth
>>> spec = LearnerSpec(model="hoeffding-tree", strategy="split", budget=0.1)
>>> report = evaluate(lambda seed: list(synth.SEA(seed=seed).take(10_000)), spec, seeds=2)
>>> report["n_events"], report["seeds"], round(report["label_fraction"], 2)
(10000, 2, 0.1)
>>> report["full_labels"]["accuracy"] > report["baseline"]["accuracy"] - 0.05
True

"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.core.strategies import QUERY_RANDOM
from stream_al.core.types import ClassLabel, Example, Features

__all__ = ["RunResult", "evaluate", "mean_ci95", "prequential"]

Clock = Callable[[], float]
Progress = Callable[[str, int, int], None]

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval ``(mean, lo, hi)``; a single value has a zero-width interval.

    >>> [round(v, 4) for v in mean_ci95([0.70, 0.72, 0.74])]
    [0.72, 0.6703, 0.7697]

    """
    n = len(values)
    if n == 0:
        raise ValueError("no values to average")
    mean = statistics.fmean(values)
    if n == 1:
        return mean, mean, mean
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half, mean + half


@dataclass
class RunResult:
    """One prequential pass over a stream."""

    n_events: int
    correct: int
    labels: int
    drifts: int
    seconds: float
    curve: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n_events if self.n_events else 0.0

    @property
    def label_fraction(self) -> float:
        return self.labels / self.n_events if self.n_events else 0.0


def prequential(
    data: Sequence[Example],
    learner: ActiveLearner,
    delay: int = 0,
    curve_points: int = 100,
    clock: Clock | None = None,
    cost_key: str | None = None,
    jitter: int = 0,
    seed: int | None = None,
) -> RunResult:
    """Run ``learner`` test-then-train over ``data``; labels arrive ``delay`` events late.

    Parameters
    ----------
    data
        The labeled stream, in order.
    learner
        A fresh learner (it is trained in place).
    delay
        Events between an asked item and its label being learned.
    curve_points
        About how many ``(events, labels, accuracy)`` points the learning curve keeps.
    clock
        Seconds clock used to time the pass (e.g. ``time.perf_counter``); no timing if None.
    cost_key
        A feature that holds the event's label cost: passed to the learner as the cost and
        taken out of the features (the model does not see it).
    jitter
        Each label's delay is drawn uniformly from ``delay - jitter .. delay + jitter``
        events (0: every label exactly ``delay`` late).
    seed
        Seeds the draws of the delays.

    Examples
    --------
    >>> from river.datasets import synth
    >>> data = list(synth.SEA(seed=1).take(3_000))
    >>> spec = LearnerSpec(strategy="variable-uncertainty")
    >>> late = [prequential(data, spec.build(0), 500, jitter=500, seed=s) for s in (0, 1)]
    >>> late[0].accuracy != late[1].accuracy  # one learner, one stream, two runs
    True

    """
    if delay < 0:
        raise ValueError(f"label delay must be >= 0 events, got {delay}")
    if not 0 <= jitter <= delay:
        raise ValueError(f"label delay jitter must be in 0..delay ({delay}), got {jitter}")
    draw = random.Random(seed).randint if jitter else None
    n = len(data)
    every = max(1, n // max(1, curve_points))
    # (due at, order asked, x, y, prediction, at random): a heap, as jittered labels
    # overtake each other; without jitter it pops in the order asked.
    due: list[tuple[int, int, Features, ClassLabel, ClassLabel | None, bool]] = []
    correct = 0
    curve: list[tuple[int, int, float]] = []
    decide = learner.decide
    learn = learner.learn
    start = clock() if clock else 0.0
    for i, (x, y) in enumerate(data):
        while due and due[0][0] <= i:
            _, _, dx, dy, dp, dr = heapq.heappop(due)
            learn(dx, dy, dp, dr)
        if cost_key is None:
            decision = decide(x)
        else:
            cost = float(x.get(cost_key, 1.0))
            x = {k: v for k, v in x.items() if k != cost_key}
            decision = decide(x, cost)
        if decision.prediction == y:
            correct += 1
        if decision.queried:
            at_random = decision.reason == QUERY_RANDOM
            wait = delay if draw is None else draw(delay - jitter, delay + jitter)
            if wait == 0:
                learn(x, y, decision.prediction, at_random)
            else:
                heapq.heappush(due, (i + wait, i, x, y, decision.prediction, at_random))
        if (i + 1) % every == 0 or i + 1 == n:
            curve.append((i + 1, learner.n_queried, correct / (i + 1)))
    seconds = (clock() - start) if clock else 0.0
    return RunResult(n, correct, learner.n_queried, learner.n_drifts, seconds, curve)


def _summary(runs: Sequence[RunResult]) -> dict[str, Any]:
    acc, lo, hi = mean_ci95([r.accuracy for r in runs])
    return {
        "accuracy": acc,
        "accuracy_ci95": [lo, hi],
        "label_fraction": statistics.fmean(r.label_fraction for r in runs),
        "labels": statistics.fmean(r.labels for r in runs),
    }


def _mean_curve(runs: Sequence[RunResult]) -> list[list[float]]:
    points = min(len(r.curve) for r in runs)
    return [
        [
            runs[0].curve[k][0],
            statistics.fmean(r.curve[k][1] for r in runs),
            statistics.fmean(r.curve[k][2] for r in runs),
        ]
        for k in range(points)
    ]


def evaluate(
    data_for_seed: Callable[[int], Sequence[Example]],
    spec: LearnerSpec,
    seeds: int = 3,
    delay: int = 0,
    clock: Clock | None = None,
    progress: Progress | None = None,
    cost_key: str | None = None,
    warm: Callable[[ActiveLearner, int], object] | None = None,
) -> dict[str, Any]:
    """Evaluate ``spec`` over seeds 0 .. seeds-1 against random sampling and full labels.

    ``data_for_seed(seed)`` returns the stream for a seed (synthetic streams differ per
    seed; recorded ones need not). ``warm(learner, seed)``, if given, warm-starts every
    learner (the strategy's and both references) before its first event. The result
    holds the report's keys (see the module docstring and the README).
    """
    if seeds < 1:
        raise ValueError(f"at least one seed is needed, got {seeds}")
    runs: dict[str, list[RunResult]] = {"strategy": [], "random": [], "full": []}
    for seed in range(seeds):
        data = data_for_seed(seed)
        if not data:
            raise ValueError("the stream has no events")
        plans = {
            "strategy": spec.build(seed),
            "random": spec.build(seed, strategy="random"),
            "full": spec.full_labels(seed),
        }
        for kind, learner in plans.items():
            if warm is not None:
                warm(learner, seed)
            if progress:
                progress(f"seed {seed + 1}/{seeds}: {kind}", seed, seeds)
            runs[kind].append(prequential(data, learner, delay, clock=clock, cost_key=cost_key))
    main = runs["strategy"]
    n_events = main[0].n_events
    report: dict[str, Any] = {
        "n_events": n_events,
        "model": spec.model,
        "strategy": spec.strategy,
        "budget": spec.budget,
        "seeds": seeds,
        "delay": delay,
        **_summary(main),
        "accuracy_per_seed": [r.accuracy for r in main],
        "drifts": statistics.fmean(r.drifts for r in main),
        "us_per_event": statistics.fmean(r.seconds for r in main) / n_events * 1e6,
        "baseline": {"strategy": "random", **_summary(runs["random"])},
        "full_labels": {
            "accuracy": _summary(runs["full"])["accuracy"],
            "accuracy_ci95": _summary(runs["full"])["accuracy_ci95"],
        },
        "curve": _mean_curve(main),
        "baseline_curve": _mean_curve(runs["random"]),
        "full_labels_curve": _mean_curve(runs["full"]),
    }
    return report
