"""Questions asked whose labels have not come back yet, and how near an event is to them.

In a service labels come late: a labeler answers minutes after the question, hundreds or
thousands of events later. Until then the model has not learned the answer, so an
uncertainty strategy keeps finding the same region uncertain and asks near-copies of
items already waiting, spending the budget on one question many times. Pham, Kottke,
Krempl and Sick (2022) make a strategy aware of the questions in flight by *simulating*
their labels (the utility of an event is computed as if the pending items were labeled)
and *forgetting* questions too old to be answered. :class:`PendingQuestions` does both,
cheaply and for any model:

- **Simulating.** Each pending question counts as a label already on its way near it:
  an event's uncertainty is divided by ``1 + R(x)``, where ``R(x)`` is the kernel-weighted
  number of pending questions near ``x``,
  ``sum_p exp(-d2(x, p) / (2 bandwidth**2))`` with ``d2`` the mean squared difference of
  the numeric features in units of their standard deviation over the asked items (two
  unrelated points are ``d2 = 2`` apart on average). A near-copy of one pending item
  halves the score; an event far from all of them keeps it.
- **Forgetting.** A question still unanswered ``horizon`` events after it was asked is
  dropped (its label may never come: expired, skipped), as is the oldest beyond
  ``size`` questions.

It also keeps, for each question, what the strategy wants back with the label (a
bandit's advice) and the probability with which it was asked (importance weights). A
question is found again by its features, as the label comes back with them; what it
holds follows the replica's own questions, like the budget, and is not part of the
model's digest.

With labels at once (no delay) nothing is ever pending and nothing changes.

References
----------
Pham, T., Kottke, D., Krempl, G., Sick, B. (2022). Stream-based active learning for
sliding windows under the influence of verification latency. Machine Learning 111,
2011-2036.

Examples
--------
>>> pending = PendingQuestions(bandwidth=0.3)
>>> for i in range(20):
...     pending.add({"a": float(i), "b": 0.0}, step=i)
>>> pending.add({"a": 5.0, "b": 1.0}, step=20)
>>> len(pending), round(pending.discount({"a": 5.0, "b": 1.0}, 0.5), 3)
(21, 0.25)
>>> round(pending.discount({"a": 100.0, "b": 50.0}, 0.5), 3)  # far from every question
0.5
>>> pending.pop({"a": 5.0, "b": 1.0})
(None, 1.0)
>>> pending.pop({"a": 5.0, "b": 1.0}) is None  # answered already
True

"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["InFlight", "LateLabels", "PendingQuestions"]

FloatArray = npt.NDArray[np.float64]

# Labels over which the mean of the importance weights is taken (a decayed mean).
_WEIGHT_MEMORY = 300


class PendingQuestions:
    """The questions in flight (see the module docstring).

    Parameters
    ----------
    bandwidth
        The kernel's width, in units of the typical distance between asked items; 0 keeps
        no features (questions are remembered for their records only).
    horizon
        Events after which an unanswered question is forgotten.
    size
        The most questions kept (the oldest go first).

    """

    def __init__(self, bandwidth: float = 0.3, horizon: int = 20_000, size: int = 5_000):
        if not float(bandwidth) >= 0.0:
            raise ValueError(f"pending bandwidth must be >= 0, got {bandwidth!r}")
        if int(horizon) < 1 or int(size) < 1:
            raise ValueError(f"pending horizon and size must be >= 1, got {horizon}, {size}")
        self.bandwidth = float(bandwidth)
        self.horizon = int(horizon)
        self.size = int(size)
        # key -> [(step, record, probability, row)], in the order asked
        self._questions: OrderedDict[Hashable, list[tuple[int, Any, float, int]]] = OrderedDict()
        self._n = 0
        self._features: tuple[Hashable, ...] | None = None
        self._rows: FloatArray = np.empty((0, 0))  # the pending items' vectors, rows [0, n)
        self._owner: list[Hashable] = []  # the key of each row
        # Running mean and sum of squares of the asked items' features (Welford).
        self._count = 0
        self._mean: FloatArray = np.empty(0)
        self._m2: FloatArray = np.empty(0)

    def __len__(self) -> int:
        return self._n

    def add(
        self, x: Mapping[Any, Any], step: int, record: Any = None, probability: float = 1.0
    ) -> None:
        """Remember the question asked about ``x`` at event ``step``."""
        key = _key(x)
        if key is None:
            return
        self._forget(step)
        row = self._add_row(x, key) if self.bandwidth > 0.0 else -1
        self._questions.setdefault(key, []).append((step, record, probability, row))
        self._questions.move_to_end(key)
        self._n += 1
        while self._n > self.size:
            self._drop_oldest()

    def pop(self, x: Mapping[Any, Any]) -> tuple[Any, float] | None:
        """``(record, probability)`` of the oldest pending question about ``x``, which is
        answered now; None if there is none (another replica asked it, or it was
        forgotten)."""
        key = _key(x)
        entries = self._questions.get(key) if key is not None else None
        if not entries:
            return None
        _, record, probability, row = entries.pop(0)
        if not entries:
            del self._questions[key]
        self._remove_row(row)
        self._n -= 1
        return record, probability

    def discount(self, x: Mapping[Any, Any], score: float) -> float:
        """``score / (1 + R(x))``: the score as if the pending questions near ``x`` were
        answered."""
        n = len(self._owner)
        if n == 0 or self._features is None or self._count < 2:
            return score
        v = self._vector(x)
        var = self._m2 / (self._count - 1)
        inv = np.divide(1.0, var, out=np.zeros_like(var), where=var > 0.0)
        diff = self._rows[:n] - v
        d2 = np.square(diff, out=diff) @ inv / len(v)
        near = float(np.exp(d2 * (-0.5 / self.bandwidth**2)).sum())
        return score / (1.0 + near)

    # -- bookkeeping ---------------------------------------------------------------------

    def _forget(self, step: int) -> None:
        oldest = step - self.horizon
        while self._questions:
            entries = next(iter(self._questions.values()))
            if entries[0][0] > oldest:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        key, entries = next(iter(self._questions.items()))
        row = entries.pop(0)[3]
        if not entries:
            del self._questions[key]
        self._remove_row(row)
        self._n -= 1

    def _vector(self, x: Mapping[Any, Any]) -> FloatArray:
        assert self._features is not None
        values = [x.get(f) for f in self._features]
        mean = self._mean
        return np.array(
            [
                v if isinstance(v, Real) and math.isfinite(v) else mean[i]
                for i, v in enumerate(values)
            ],
            dtype=np.float64,
        )

    def _add_row(self, x: Mapping[Any, Any], key: Hashable) -> int:
        if self._features is None:
            self._features = tuple(f for f, v in x.items() if isinstance(v, Real))
            d = len(self._features)
            self._mean, self._m2 = np.zeros(d), np.zeros(d)
            self._rows = np.zeros((16, d))
        if not self._features:
            return -1
        v = self._vector(x)
        self._count += 1
        delta = v - self._mean
        self._mean += delta / self._count
        self._m2 += delta * (v - self._mean)
        n = len(self._owner)
        if n == len(self._rows):
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._rows[n] = v
        self._owner.append(key)
        return n

    def _remove_row(self, row: int) -> None:
        """Free ``row``: the last row moves into its place (rows stay contiguous)."""
        if row < 0:
            return
        last = len(self._owner) - 1
        if row != last:
            self._rows[row] = self._rows[last]
            moved = self._owner[last]
            self._owner[row] = moved
            entries = self._questions[moved]
            for i, (step, record, probability, r) in enumerate(entries):
                if r == last:
                    entries[i] = (step, record, probability, row)
                    break
        self._owner.pop()

    def __repr__(self) -> str:
        return f"PendingQuestions(pending={self._n}, bandwidth={self.bandwidth})"


def _key(x: Mapping[Any, Any]) -> Hashable | None:
    """An event's features as a key (None when a value cannot be hashed)."""
    try:
        key = tuple(x.items())
        hash(key)
    except TypeError:
        return None
    return key


@dataclass(frozen=True)
class LateLabels:
    """What a learner does about questions whose labels have not come back yet.

    Attributes
    ----------
    aware
        Divide an event's uncertainty by ``1 +`` the kernel-weighted number of pending
        questions near it (:meth:`PendingQuestions.discount`).
    bandwidth
        The kernel's width (see :class:`PendingQuestions`).
    horizon
        Events after which an unanswered question is forgotten.

    """

    aware: bool = False
    bandwidth: float = 0.3
    horizon: int = 20_000


class InFlight:
    """A learner's questions in flight: awareness of them, and what their answers teach.

    Kept by :class:`~stream_al.core.learner.ActiveLearner` when it is aware of pending
    questions, learns with importance weights or has a strategy that learns from the
    answers (the bandit).

    >>> from stream_al.core.strategies import make_strategy
    >>> flight = InFlight(LateLabels(aware=True), importance=False)
    >>> strategy = make_strategy("variable-uncertainty")
    >>> flight.asked({"a": 1.0}, 1, strategy)
    >>> flight.answered({"a": 1.0}, strategy, correct=True)
    1.0
    >>> len(flight.pending)
    0

    """

    def __init__(self, late: LateLabels, importance: bool):
        width = late.bandwidth if late.aware else 0.0
        self.pending = PendingQuestions(bandwidth=width, horizon=late.horizon)
        self.aware = late.aware
        self.importance = importance
        self._inverse_mean = 1.0  # the mean of 1 / P over the labels, decayed

    def discount(self, x: Mapping[Any, Any], score: float) -> float:
        """The score to ask with: lowered near pending questions when aware."""
        if self.aware and len(self.pending):
            return self.pending.discount(x, score)
        return score

    def asked(self, x: Mapping[Any, Any], step: int, strategy: Any) -> None:
        """The learner has just asked ``x`` (``strategy`` said yes)."""
        self.pending.add(x, step, strategy.question(), strategy.probability)

    def answered(self, x: Mapping[Any, Any], strategy: Any, correct: bool | None) -> float:
        """A label came back: its strategy learns whether the model was right (None:
        unknown) and the label's weight is ``1 / P(asked)`` over its mean (1 without
        importance weights, or for a question another replica asked)."""
        asked = self.pending.pop(x)
        if asked is None:
            return 1.0
        question, probability = asked
        if correct is not None:
            strategy.answered(question, correct)
        if not self.importance or probability <= 0.0:
            return 1.0
        self._inverse_mean += (1.0 / probability - self._inverse_mean) / _WEIGHT_MEMORY
        return 1.0 / probability / self._inverse_mean
