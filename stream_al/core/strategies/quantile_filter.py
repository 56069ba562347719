"""The balanced incremental quantile filter (BIQF): ask for the top B of recent scores.

Variable uncertainty moves its threshold by a step after every decision, so it settles
where it asks about half of the events it is consulted on: with the budget gate in front,
its labels are the less confident half of the events just after the gate opens, whatever
B is. The quantile filter of Kottke, Krempl and Spiliopoulou (2015) is selective in
proportion to the budget instead: it keeps the uncertainties of the last ``window``
events and asks when an event's uncertainty is at least their ``1 - B`` quantile, so at
B = 0.02 it asks for the top 2% of the recent stream.

A quantile alone spends the budget only on average, and ties (a leaf's impurity is the
same for all of its events: a tie with the bar is asked only while the filter is behind
B) or a shift of the scores make it spend too much or too
little for a while. *Balanced*: the threshold is lowered by the range of the window's
scores times ``(B n - asked) / tolerance``, where ``n`` is the number of events seen and
``asked`` the filter's own questions, so a deficit of questions lowers the bar and a
surplus raises it; ``tolerance`` is how many questions of deficit make any event good
enough. The learner's budget gate still stands in front, as for every strategy.

The window follows every event through :meth:`~QueryStrategy.observe` (the learner calls
it for every event, also those the budget gate skips).

References
----------
Kottke, D., Krempl, G., Spiliopoulou, M. (2015). Probabilistic Active Learning in
Datastreams. Advances in Intelligent Data Analysis XIV, LNCS 9385, 145-157.

Examples
--------
Uncertainties spread evenly over [0, 1]; with no budget gate in front, the filter asks
for about B of them, the most uncertain:

>>> import random
>>> rng = random.Random(0)
>>> biqf = QuantileFilter(window=200)
>>> asked = []
>>> for _ in range(5_000):
...     confidence = rng.random()
...     biqf.observe(confidence)
...     queried, _ = biqf.ask(confidence, target=0.05)
...     asked.append((queried, confidence))
>>> round(sum(q for q, _ in asked) / 5_000, 3)
0.05
>>> below = [c < 0.1 for q, c in asked if q]  # among the 10% least confident
>>> round(sum(below) / len(below), 2)
0.82

"""

from __future__ import annotations

import bisect
from collections import deque
from typing import ClassVar

from stream_al.core.strategies.base import QUERY_UNCERTAIN, SKIP_CONFIDENT, QueryStrategy
from stream_al.core.types import ClassLabel

__all__ = ["QuantileFilter"]


class QuantileFilter(QueryStrategy):
    """Ask when the uncertainty is within the top ``B`` of the last ``window`` events.

    Parameters
    ----------
    window
        How many recent events' uncertainties the quantile is taken over.
    tolerance
        Questions of deficit (or surplus) against ``B`` times the events seen that move
        the threshold by the whole range of the window's scores.

    """

    name: ClassVar[str] = "quantile-filter"

    def __init__(self, window: int = 100, tolerance: float = 5.0):
        if int(window) < 2:
            raise ValueError(f"quantile-filter window must be at least 2 events, got {window!r}")
        if not float(tolerance) > 0.0:
            raise ValueError(f"quantile-filter tolerance must be > 0, got {tolerance!r}")
        self.window = int(window)
        self.tolerance = float(tolerance)
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        self._allowance = 0.0  # B times the events seen (B as the last ask was told)
        self._asked = 0
        self._target = 0.0
        self._threshold: float | None = None

    @property
    def threshold(self) -> float | None:
        """The confidence below which the last event would have been asked."""
        return self._threshold

    def observe(self, confidence: float) -> None:
        score = 1.0 - confidence
        recent, ordered = self._recent, self._sorted
        if len(recent) == self.window:
            del ordered[bisect.bisect_left(ordered, recent.popleft())]
        recent.append(score)
        bisect.insort(ordered, score)
        self._allowance += self._target

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        if self._target == 0.0:  # the first ask: the event just observed counts too
            self._allowance += target
        self._target = target
        ordered = self._sorted
        if not ordered:
            self.observe(confidence)
        n = len(ordered)
        # The 1 - B quantile, interpolated between order statistics (numpy's "linear").
        position = (1.0 - target) * (n - 1)
        low = int(position)
        high = min(low + 1, n - 1)
        quantile = ordered[low] + (position - low) * (ordered[high] - ordered[low])
        spread = ordered[-1] - ordered[0]
        bar = quantile - spread * (self._allowance - self._asked) / self.tolerance
        self._threshold = min(1.0, max(0.0, 1.0 - bar))
        score = 1.0 - confidence
        # A tie with the bar (all of a window's scores alike: a one-leaf tree's impurity,
        # OPAL's zero gains) is asked only while the filter is behind its budget.
        if score > bar or (score == bar and self._allowance > self._asked):
            self._asked += 1
            return True, QUERY_UNCERTAIN
        return False, SKIP_CONFIDENT

    def __repr__(self) -> str:
        return f"QuantileFilter(window={self.window}, tolerance={self.tolerance})"
