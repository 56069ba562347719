"""Benchmarks run by ``stream-al bench``, each a ratio against a baseline in the same process.

``engine``: the active learner (decide every event, learn the queried ones, with the
budget, the strategy and the drift monitor) against a bare River loop making the same
``predict_proba_one`` calls and the same ``learn_one`` calls on the same stream. The two
alternate ``repeats`` times and each keeps its median, so a noisy neighbour slows both.
``ratio`` = engine events/s over baseline events/s: 1.0 means the active-learning layer
is free.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from stream_al.core.learner import LearnerSpec
from stream_al.core.models import make_model
from stream_al.core.types import Example

__all__ = ["bench_engine"]


def _engine_pass(data: Sequence[Example], spec: LearnerSpec, seed: int) -> tuple[float, list[int]]:
    learner = spec.build(seed)
    decide, learn = learner.decide, learner.learn
    asked: list[int] = []
    start = time.perf_counter()
    for i, (x, y) in enumerate(data):
        decision = decide(x)
        if decision.queried:
            learn(x, y, decision.prediction)
            asked.append(i)
    return time.perf_counter() - start, asked


def _baseline_pass(
    data: Sequence[Example], spec: LearnerSpec, seed: int, asked: Sequence[int]
) -> float:
    model = make_model(spec.model, seed, **spec.model_params)
    predict, learn = model.predict_proba_one, model.learn_one
    learn_at = set(asked)
    start = time.perf_counter()
    for i, (x, y) in enumerate(data):
        predict(x)
        if i in learn_at:
            learn(x, y)
    return time.perf_counter() - start


def bench_engine(
    data: Sequence[Example],
    spec: LearnerSpec,
    *,
    repeats: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time the engine against the bare River loop; see the module docstring."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    engine_times: list[float] = []
    baseline_times: list[float] = []
    asked: list[int] = []
    for r in range(repeats):
        if progress:
            progress(f"bench engine: round {r + 1}/{repeats}")
        seconds, asked = _engine_pass(data, spec, seed)
        engine_times.append(seconds)
        baseline_times.append(_baseline_pass(data, spec, seed, asked))
    n = len(data)
    engine = n / statistics.median(engine_times)
    baseline = n / statistics.median(baseline_times)
    return {
        "n_events": n,
        "model": spec.model,
        "strategy": spec.strategy,
        "budget": spec.budget,
        "repeats": repeats,
        "labels": len(asked),
        "engine_events_per_s": engine,
        "baseline_events_per_s": baseline,
        "ratio": engine / baseline,
        "engine_us_per_event": 1e6 / engine,
        "baseline_us_per_event": 1e6 / baseline,
    }
