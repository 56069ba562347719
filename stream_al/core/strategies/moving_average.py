"""Moving average: ask when the uncertainty is above its moving mean plus k deviations."""

from __future__ import annotations

import math
from typing import ClassVar

from stream_al.core.strategies.base import QUERY_UNCERTAIN, SKIP_CONFIDENT, QueryStrategy
from stream_al.core.types import ClassLabel

__all__ = ["MovingAverage"]

# Scores within this of the moving-average threshold count as above it (see MovingAverage).
_TIE = 1e-9


class MovingAverage(QueryStrategy):
    """Ask when the uncertainty is above its moving mean plus k standard deviations.

    The uncertainty ``u = 1 - confidence`` of every event updates an exponentially
    weighted mean and variance (weight ``alpha`` on the newest event, a memory of about
    ``1 / alpha`` events); an event is asked when ``u > mean + k * std`` (Prodigy's
    ``ema`` sorting idea). The threshold follows the model's confidence level, so a model
    that grows sure of itself still asks for its least confident events, and after a
    shift of the scores (a drift that leaves the model unsure) every event is above the
    old mean until the statistics catch up: a burst of queries, which the budget
    estimator caps and pays back as for every strategy.

    With ``k = 1`` about 16% of a normal distribution of scores (13.5% of an exponential
    one, 21% of a uniform one) lies above the threshold: more than a 10% budget, so the
    budget sets the fraction and its labels go to events above the threshold. At budgets
    above ~15% lower k, or the strategy spends less than B.

    Two guards keep it from starving:

    - A score equal to the threshold counts as above it (within 1e-9), so a constant
      score (std 0: nothing to rank by) is asked and the budget decides.
    - Learning lowers the scores, so the statistics of a model that has just learned
      describe a less confident model that no longer exists. When a model's confidence is
      the same for every event (a Hoeffding tree with a single leaf, a model restarted
      after a drift) the scores step down after each label and stay below the stale
      threshold for thousands of events (without this guard a Hoeffding tree on
      ``synth:agrawal-drift`` stopped at 14 labels in 20,000 events). So after
      ``patience`` consecutive refusals the statistics restart (warm-up included) from
      the current event. The default patience makes such a run unlikely on a stationary
      stream: at least 10 times the mean run of refusals of normal scores (a probability
      of about e^-10 per run), and at least the memory 1 / alpha.

    The statistics are fed by :meth:`observe`, which the caller must call with every
    event's confidence, *before* :meth:`ask` for that event and also for the events that
    never reach :meth:`ask` (budget exhausted, label queue full). Until :meth:`observe` is
    first called, :meth:`ask` updates the statistics itself, so the strategy also works
    alone; its statistics then describe only the events the budget let through.

    Parameters
    ----------
    k
        How many standard deviations above the mean the uncertainty must be.
    alpha
        Weight of the newest event in the moving mean and variance, in (0, 1].
    warmup
        Events seen before the statistics are trusted; all of them are asked (the budget
        still caps). Until ``1 / alpha`` events the statistics are the exact running mean
        and variance (weight ``1 / n``), so a few events suffice.
    patience
        Consecutive refusals after which the statistics restart. None: the larger of
        ``1 / alpha`` and ``10 / P(Z > k)`` for a standard normal Z (100 with the
        defaults, 440 with k = 2).

    Examples
    --------
    Uncertainties around 0.2 with a spread of 0.1, every event reaching ``ask`` (no
    budget gate); about 16% are asked:

    >>> import random
    >>> rng = random.Random(0)
    >>> strategy = MovingAverage(k=1.0, alpha=0.01)
    >>> def run(mean, n):
    ...     asked = []
    ...     for _ in range(n):
    ...         confidence = 1.0 - rng.gauss(mean, 0.1)
    ...         strategy.observe(confidence)
    ...         asked.append(strategy.ask(confidence, target=0.1)[0])
    ...     return asked
    >>> before = run(0.2, 5000)
    >>> round(sum(before[1000:]) / 4000, 2)
    0.16
    >>> round(strategy.threshold, 2)
    0.69

    When the uncertainty shifts to 0.6 it asks 60 of the next 100 events, then settles:

    >>> after = run(0.6, 1000)
    >>> sum(after[:100]), round(sum(after[500:]) / 500, 2)
    (60, 0.16)

    """

    name: ClassVar[str] = "moving-average"

    def __init__(
        self,
        k: float = 1.0,
        alpha: float = 0.01,
        warmup: int = 10,
        patience: int | None = None,
    ):
        if not k >= 0.0:  # written so that NaN is refused too
            raise ValueError(f"moving-average k must be >= 0, got {k!r}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"moving-average alpha must be in (0, 1], got {alpha!r}")
        if not _is_count(warmup):
            raise ValueError(f"moving-average warmup must be an integer >= 1, got {warmup!r}")
        if patience is not None and not _is_count(patience):
            raise ValueError(
                f"moving-average patience must be an integer >= 1 or None, got {patience!r}"
            )
        self.k = float(k)
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        if patience is None:
            # P(Z > k) of a standard normal: the share of a stationary stream above mean + k sd.
            tail = 0.5 * math.erfc(self.k / math.sqrt(2.0))
            patience = max(math.ceil(1.0 / self.alpha), math.ceil(10.0 / max(tail, 1e-12)))
        self.patience = int(patience)
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self._refused = 0
        self._observed = False  # True once the caller feeds every event through observe()

    @property
    def threshold(self) -> float | None:
        """The confidence threshold ``1 - (mean + k std)``, clipped to [0, 1]."""
        if self._n < self.warmup:
            return 1.0
        return min(1.0, max(0.0, self._theta()))

    @property
    def mean(self) -> float:
        """The moving mean of the uncertainty."""
        return self._mean

    @property
    def std(self) -> float:
        """The moving standard deviation of the uncertainty."""
        return math.sqrt(self._var)

    def _theta(self) -> float:
        return 1.0 - (self._mean + self.k * math.sqrt(self._var))

    def _update(self, score: float) -> None:
        self._n += 1
        # Weight 1/n at first: the exact running mean and (population) variance; then the
        # exponential forgetting of weight alpha (the incremental form of Finch 2009).
        weight = max(self.alpha, 1.0 / self._n)
        diff = score - self._mean
        increment = weight * diff
        self._mean += increment
        self._var = (1.0 - weight) * (self._var + diff * increment)

    def observe(self, confidence: float) -> None:
        """Account for one event's confidence; call it for every event, before ``ask``."""
        self._observed = True
        self._update(1.0 - confidence)

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        if not self._observed:
            self._update(1.0 - confidence)
        if self._n >= self.warmup and confidence >= self._theta() + _TIE:
            self._refused += 1
            if self._refused < self.patience:
                return False, SKIP_CONFIDENT
            # Stale statistics (see the class doc): start over from this event.
            self._n, self._mean, self._var = 0, 0.0, 0.0
            self._update(1.0 - confidence)
        self._refused = 0
        return True, QUERY_UNCERTAIN


def _is_count(value: object) -> bool:
    """Whether ``value`` is a whole number >= 1 (10.0 from a config file counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value >= 1 and value == int(value)
