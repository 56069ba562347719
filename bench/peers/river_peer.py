"""River's side of the peer benchmark: ``active.EntropySampler`` around the shared model.

Usage: ``python bench/peers/river_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl``
(in ``bench/.venv-peers``, see ``bench/requirements-peers.txt``).

Strategies:

``EntropySampler``
    River's sampler, used as River documents it: ``y_pred, ask = sampler.predict_one(x)``,
    learn when asked. It has no budget: its ``discount_factor`` is calibrated per file,
    model and budget (:func:`calibrate`) and recorded in the result. A job's
    ``calibration_csv``, if given, is the file it is calibrated on (the benchmark gives
    every seed of a stream seed 0's file: one calibration per stream, model and budget).
``random``
    Ask with probability ``budget`` (``random.Random(seed)``): the plain baseline.
``full``
    Every label: the ceiling.

One addition to the sampler: it asks while the model has learned fewer than two classes.
Without it the sampler never starts: an untrained model predicts nothing (entropy 0, never
asked), and a model that has seen one class is sure of it (entropy 0 again).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from typing import Any

from _common import Outcome, Stream, main, make_model, stream_of
from jobs import read_csv
from river import active, compose

SYSTEM = "river"
STRATEGIES = ("EntropySampler", "random", "full")
# Calibration: the first events of the stream, the sampler's seed, and the discount factors
# tried: 10**-3 to 10**4 in steps of 10**0.125.
CALIBRATION_EVENTS = 5000
CALIBRATION_SEED = 0
CALIBRATION_GRID = tuple(10 ** (k / 8) for k in range(-24, 33))

_calibrated: dict[tuple[str, str, str, float, int], float] = {}


def entropy_loop(
    xs: Sequence[dict[str, float]],
    ys: Sequence[str],
    model_name: str,
    discount_factor: float,
    seed: int,
) -> tuple[int, int]:
    """Run the sampler prequentially; the numbers of correct predictions and of labels."""
    sampler = active.EntropySampler(
        classifier=make_model(model_name), discount_factor=discount_factor, seed=seed
    )
    correct = labels = 0
    seen: set[str] = set()  # the classes learned, until there are two
    with compose.learn_during_predict():  # the scaler of logistic regression sees every event
        for x, y in zip(xs, ys, strict=True):
            y_pred, ask = sampler.predict_one(x)
            if y_pred == y:  # an empty prediction ({}) is never a label
                correct += 1
            if ask or len(seen) < 2:
                labels += 1
                sampler.learn_one(x, y)
                if len(seen) < 2:
                    seen.add(y)
    return correct, labels


def calibrate(stream: Stream, path: str, target: str, model: str, budget: float) -> float:
    """The discount factor whose label fraction on the first events is nearest ``budget``.

    A scan of :data:`CALIBRATION_GRID` on the first :data:`CALIBRATION_EVENTS` events
    with seed :data:`CALIBRATION_SEED`, not a bisection: the fraction is far from monotone
    in the factor (once the sampler stops asking in a region whose leaf is pure, it never
    asks there again, so a small change early decides how much is asked later). Cached per
    file, target, model, budget and number of events for the life of the process.
    """
    head = stream.head(CALIBRATION_EVENTS)
    key = (path, target, model, budget, len(head.ys))
    if key not in _calibrated:
        fractions = {
            factor: entropy_loop(head.xs, head.ys, model, factor, CALIBRATION_SEED)[1]
            / len(head.ys)
            for factor in CALIBRATION_GRID
        }
        _calibrated[key] = min(fractions, key=lambda f: abs(fractions[f] - budget))
    return _calibrated[key]


_heads: dict[tuple[str, str], Stream] = {}


def _head(path: str, target: str) -> Stream:
    """The first :data:`CALIBRATION_EVENTS` events of another file (kept: they are few)."""
    if (path, target) not in _heads:
        names, rows, ys = read_csv(path, target)
        _heads[(path, target)] = stream_of(names, rows, ys).head(CALIBRATION_EVENTS)
    return _heads[(path, target)]


def run_job(job: dict[str, Any], stream: Stream) -> Outcome:
    """The prequential loop of one job."""
    strategy, budget, seed = job["strategy"], float(job["budget"]), int(job["seed"])
    if strategy == "EntropySampler":
        target = job.get("target", "target")
        start = time.perf_counter()
        path = job.get("calibration_csv") or job["csv"]
        on = stream if path == job["csv"] else _head(path, target)
        factor = calibrate(on, path, target, job["model"], budget)
        extra = {"discount_factor": factor, "calibration_seconds": time.perf_counter() - start}
        start = time.perf_counter()
        correct, labels = entropy_loop(stream.xs, stream.ys, job["model"], factor, seed)
        seconds = time.perf_counter() - start
        return Outcome(len(stream.ys), correct, labels, seconds, extra)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    model = make_model(job["model"])
    rng = random.Random(seed)
    everything = strategy == "full"
    correct = labels = 0
    with compose.learn_during_predict():
        start = time.perf_counter()
        for x, y in zip(stream.xs, stream.ys, strict=True):
            if model.predict_one(x) == y:
                correct += 1
            if everything or rng.random() < budget:
                labels += 1
                model.learn_one(x, y)
        seconds = time.perf_counter() - start
    return Outcome(len(stream.ys), correct, labels, seconds)


if __name__ == "__main__":
    sys.exit(main(SYSTEM, run_job))
