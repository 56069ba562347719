"""Test doubles for the core: models whose confidence the test controls."""

from __future__ import annotations

import random
from typing import Any

from river import base


class NoisyClassifier(base.Classifier):
    """Predicts True or False with a random confidence, uniform in [0.5, 1).

    The budget and strategy tests need a stream of uncertainties they can reason about;
    a real model's confidence drifts with what it has learned.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._rng = random.Random(seed)
        self.learned = 0

    def learn_one(self, x: dict[Any, Any], y: Any) -> None:
        self.learned += 1

    def predict_proba_one(self, x: dict[Any, Any]) -> dict[Any, float]:
        p = 0.5 + 0.5 * self._rng.random()
        return {True: p, False: 1.0 - p}


def trained_learner() -> Any:
    """A Hoeffding-tree learner after 2,000 SEA events at budget 0.2 (a real model state
    to snapshot and restore)."""
    from stream_al.core.learner import ActiveLearner
    from stream_al.data.streams import parse_stream

    learner = ActiveLearner("hoeffding-tree", "split", 0.2, seed=1)
    for x, y in parse_stream("synth:sea-drift", n_events=2000).events(seed=1):
        d = learner.decide(x)
        if d.queried:
            learner.learn(x, y, d.prediction)
    return learner


def agrawal_tree(n: int = 2000) -> Any:
    """A Hoeffding-tree learner that learned ``n`` Agrawal events (seed 3), for ranking."""
    from stream_al.core.learner import ActiveLearner
    from stream_al.data.streams import parse_stream

    learner = ActiveLearner("hoeffding-tree", "split", budget=0.1, seed=0)
    for x, y in parse_stream("synth:agrawal-drift", n_events=n).events(3):
        learner.learn(x, y, learner.predict(x))
    return learner
