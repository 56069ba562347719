"""Benchmarks run by ``stream-al bench``, each a ratio against a baseline in the same process.

``engine``: the active learner (predict, score, budget, strategy, drift monitor,
challenger, learn) against a bare River loop making **the same River calls**: a first,
untimed pass records every ``predict_proba_one`` and ``learn_one`` the learner makes on
every model it creates (the model, its restarts, its challengers), and the baseline
replays exactly those calls on fresh models. ``ratio`` = engine events/s over baseline
events/s, so 1.0 means everything stream-al adds around River is free. The timed engine
and baseline passes alternate ``repeats`` times and each keeps its median, so a noisy
neighbour slows both.

For reference the result also gives ``single_model_events_per_s``: one model predicting
every event and learning the asked ones, i.e. what the model alone would cost without the
drift reaction's restarts and challengers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from river import base, compose

from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.core.types import Example

__all__ = ["bench_engine", "record_model_calls"]

Call = tuple[int, int, Any, Any]  # (0 predict | 1 learn, model slot, x, y)


class _RecordingLearner(ActiveLearner):
    """An ActiveLearner that logs the River calls it makes on each of its models.

    A fused tree walk (probabilities and leaf impurity at once) stands for one
    ``predict_proba_one``: it is what the bare loop has to pay for a prediction.
    """

    def __init__(
        self, trace: list[Call], kinds: list[base.Classifier], *args: Any, **kwargs: Any
    ) -> None:
        self._trace = trace
        self._slot_models = kinds  # a fresh clone of each slot's model, for the replay
        self._slot_of: dict[int, int] = {}
        self._keep: list[base.Classifier] = []  # keeps ids unique while recording
        super().__init__(*args, **kwargs)

    def _slot(self, model: base.Classifier) -> int:
        key = id(model)
        if key not in self._slot_of:
            self._slot_of[key] = len(self._slot_of)
            self._keep.append(model)
            self._slot_models.append(model.clone())
        return self._slot_of[key]

    def _proba_of_kind(self, model: base.Classifier, x: Any) -> Any:
        self._trace.append((0, self._slot(model), x, None))
        return super()._proba_of_kind(model, x)

    def _candidate_learn(self, model: base.Classifier, x: Any, y: Any) -> None:
        self._trace.append((1, self._slot(model), x, y))
        super()._candidate_learn(model, x, y)

    def _tree_proba(self, model: base.Classifier, x: Any) -> Any:
        self._trace.append((0, self._slot(model), x, None))
        return super()._tree_proba(model, x)

    def _predict_proba(self, model: base.Classifier, x: Any) -> Any:
        self._trace.append((0, self._slot(model), x, None))
        return super()._predict_proba(model, x)

    def _learn_with(self, model: base.Classifier, x: Any, y: Any) -> None:
        self._trace.append((1, self._slot(model), x, y))
        super()._learn_with(model, x, y)


def _run(learner: ActiveLearner, data: Sequence[Example]) -> None:
    decide, learn = learner.decide, learner.learn
    for x, y in data:
        decision = decide(x)
        if decision.queried:
            learn(x, y, decision.prediction)


def record_model_calls(
    data: Sequence[Example], spec: LearnerSpec, seed: int
) -> tuple[list[Call], list[base.Classifier]]:
    """Every River call a learner built from ``spec`` makes on ``data``, in order, and a
    fresh model of each slot's kind (a restart, a challenger or an ``auto`` candidate)."""
    trace: list[Call] = []
    kinds: list[base.Classifier] = []
    learner = _RecordingLearner(
        trace,
        kinds,
        spec.model,
        spec.strategy,
        spec.budget,
        window=spec.window,
        unit=spec.unit,
        uncertainty=spec.uncertainty,
        drift=spec.drift,
        seed=seed,
        model_params=spec.model_params,
        strategy_params=spec.strategy_params,
        max_model_features=spec.max_model_features,
    )
    _run(learner, data)
    return trace, kinds


def _engine_pass(data: Sequence[Example], spec: LearnerSpec, seed: int) -> tuple[float, int]:
    learner = spec.build(seed)
    start = time.perf_counter()
    _run(learner, data)
    return time.perf_counter() - start, learner.n_queried


def _replay_pass(trace: Sequence[Call], kinds: Sequence[base.Classifier]) -> float:
    models = [kind.clone() for kind in kinds]
    calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (models[slot].predict_proba_one, (x,)) if op == 0 else (models[slot].learn_one, (x, y))
        for op, slot, x, y in trace
    ]
    # Unsupervised steps learn during prediction in the engine; the same here, set once.
    with compose.learn_during_predict():
        start = time.perf_counter()
        for fn, args in calls:
            fn(*args)
        return time.perf_counter() - start


def _single_model_pass(
    data: Sequence[Example], spec: LearnerSpec, seed: int, asked: set[int]
) -> float:
    model = spec.build(seed)._fresh_model()
    predict, learn = model.predict_proba_one, model.learn_one
    with compose.learn_during_predict():
        start = time.perf_counter()
        for i, (x, y) in enumerate(data):
            predict(x)
            if i in asked:
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
    """Time the engine against the replay of its River calls; see the module docstring."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    trace, kinds = record_model_calls(data, spec, seed)
    asked: set[int] = set()  # the events the learner asks: the single-model loop learns them
    learner = spec.build(seed)
    for i, (x, y) in enumerate(data):
        decision = learner.decide(x)
        if decision.queried:
            asked.add(i)
            learner.learn(x, y, decision.prediction)
    engine_times: list[float] = []
    replay_times: list[float] = []
    single_times: list[float] = []
    labels = 0
    for r in range(repeats):
        if progress:
            progress(f"bench engine: round {r + 1}/{repeats}")
        seconds, labels = _engine_pass(data, spec, seed)
        engine_times.append(seconds)
        replay_times.append(_replay_pass(trace, kinds))
        single_times.append(_single_model_pass(data, spec, seed, asked))
    n = len(data)
    engine = n / statistics.median(engine_times)
    baseline = n / statistics.median(replay_times)
    single = n / statistics.median(single_times)
    return {
        "n_events": n,
        "model": spec.model,
        "strategy": spec.strategy,
        "budget": spec.budget,
        "repeats": repeats,
        "labels": labels,
        "model_calls": len(trace),
        "models_created": len(kinds),
        "engine_events_per_s": engine,
        "baseline_events_per_s": baseline,
        "ratio": engine / baseline,
        "engine_us_per_event": 1e6 / engine,
        "baseline_us_per_event": 1e6 / baseline,
        "single_model_events_per_s": single,
        "ratio_vs_single_model": engine / single,
    }
