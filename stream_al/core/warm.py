"""Starting a learner from what came before the live stream: a labeled history
(:func:`warm_start`) or a saved learner (:func:`adopt`); ``ActiveLearner.warm_start`` and
``ActiveLearner.adopt`` call them."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING

from stream_al.core.feature_kinds import InvalidExample
from stream_al.core.types import Example

if TYPE_CHECKING:
    from stream_al.core.learner import ActiveLearner

__all__ = ["adopt", "warm_start"]


def warm_start(learner: ActiveLearner, history: Iterable[Example]) -> int:
    """Learn a labeled history before the live stream; returns how many examples.

    Each example is predicted, then learned, as a label from the train log is (so the
    drift monitor sees the history and scalers see every example). The budget and the
    stopping rule are left as they were: the budget is spent on the live stream only,
    so history examples count neither as events nor as labels, and a drift in the
    history does not boost the live budget.

    >>> from stream_al.core.learner import ActiveLearner
    >>> learner = ActiveLearner("gaussian-nb", budget=0.05)
    >>> history = [({"x": float(v)}, "a" if v < 3 else "b") for v in range(6)] * 5
    >>> warm_start(learner, history)
    30
    >>> learner.n_learned, learner.n_events, learner.n_queried, learner.budget.spent
    (30, 0, 0, 0.0)
    >>> learner.predict({"x": 4.5}), learner.predict({"x": 1.0})
    ('b', 'a')

    """
    budget, stopping = copy.deepcopy(learner._budget), copy.deepcopy(learner._stopping)
    n = 0
    for x, y in history:
        try:
            learner._kinds.check_example(x)
            learner._kinds.check_label(y)
        except InvalidExample:
            continue  # not an example this model can learn: left out, not counted
        learner.learn(x, y, learner.predict(x))
        n += 1
    learner._budget, learner._stopping = budget, stopping
    return n


def adopt(learner: ActiveLearner, other: ActiveLearner) -> None:
    """Start from ``other``'s model: a warm start from a saved learner.

    Taken from ``other``: the model, the drift monitor and the warm-restart buffer (what
    its labels determined) and its count of learned labels. Kept: this learner's
    strategy, budget and event counts, so the budget is spent on the live stream only.
    ``other`` must hold the same model (name and parameters) and is used up.
    """
    if other.model_name != learner.model_name or other.model_params != learner.model_params:
        raise ValueError(
            f"the saved model is {other.model_name} {other.model_params or ''}, this "
            f"learner's is {learner.model_name} {learner.model_params or ''}: choose the same "
            "model to start from it"
        )
    if other._candidates is not None:
        learner._candidates = other._candidates
    learner._serve(other._model)
    if learner._monitor is not None and other._monitor is not None:
        learner._monitor = other._monitor
    if learner._recent.maxlen:
        learner._recent.extend(other._recent)
    cap = learner._kinds.cap  # this learner's setting, as its strategy and budget are
    learner._kinds = other._kinds
    learner._kinds.set_cap(cap)
    learner.n_learned = other.n_learned
