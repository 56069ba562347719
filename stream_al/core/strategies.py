"""Query strategies: given the model's confidence on an event, ask for its label or not.

Every strategy is a :class:`QueryStrategy` and implements one method,
:meth:`QueryStrategy.ask`, called only while the budget allows a query (the budget gate
sits in front of all of them, as in Zliobaite et al. 2014, so threshold adaptation pauses
while the budget is exhausted). ``confidence`` is ``1 - uncertainty`` of the configured
measure: for least confidence it is the maximum posterior probability; ``predicted`` is
the class the model predicts (None before it knows one). The choices behind them are in
docs/design.md, "Strategies".

The first five strategies are those of Zliobaite, Bifet, Pfahringer and Holmes, "Active
Learning With Drifting Streaming Data" (IEEE TNNLS 2014):

============================== ============================================================
``random``                     ask with probability B: unbiased, blind to the model
``fixed-uncertainty``          ask when confidence < a fixed threshold
``variable-uncertainty``       the threshold shrinks after each query and grows after each
                               skip, so the strategy spends the budget on the least
                               confident events whatever the model's confidence level is
``randomized-variable-...``    the same with the threshold randomised by N(1, delta) noise,
                               so confident regions (where a drift may hide) still get labels
``split``                      a fraction v of the decisions random, the rest variable
                               uncertainty; the random labels give an unbiased accuracy
                               estimate and catch drift anywhere in the feature space
``moving-average``             ask when the uncertainty is above its exponential moving
                               mean plus k standard deviations (the idea of Prodigy's
                               ``ema`` sorter); the statistics follow every event
============================== ============================================================

The caller also feeds :meth:`QueryStrategy.observe` with every event's confidence
(including the events the budget gate or a full label queue skipped), before
:meth:`~QueryStrategy.ask`. Only ``moving-average`` uses it: its statistics must describe
the stream, not only the events that reached ``ask``. Likewise only a stratified
``split`` uses the prediction.

Examples
--------
>>> strategy = make_strategy("variable-uncertainty", seed=0)
>>> strategy.ask(confidence=0.55, target=0.1)
(True, 'uncertain')
>>> round(strategy.threshold, 4)
0.99

"""

from __future__ import annotations

import abc
import math
import random
from typing import Any, ClassVar

from stream_al.core.types import ClassLabel

__all__ = [
    "DROPPED",
    "QUERY_RANDOM",
    "QUERY_UNCERTAIN",
    "SKIP_CONFIDENT",
    "SKIP_NOT_SAMPLED",
    "STRATEGIES",
    "FixedUncertainty",
    "MovingAverage",
    "QueryStrategy",
    "RandomSampling",
    "RandomizedVariableUncertainty",
    "Split",
    "VariableUncertainty",
    "make_strategy",
]

# Why an event was or was not asked: a small closed vocabulary (used as a metric label).
QUERY_RANDOM = "random"
QUERY_UNCERTAIN = "uncertain"
SKIP_CONFIDENT = "confident"
SKIP_NOT_SAMPLED = "not-sampled"

# Scores within this of the moving-average threshold count as above it (see MovingAverage).
_TIE = 1e-9


class QueryStrategy(abc.ABC):
    """What every query strategy provides: :meth:`ask` decides, the rest has defaults.

    The caller (:class:`~stream_al.core.learner.ActiveLearner`, the River samplers of
    :mod:`stream_al.river_active`) calls :meth:`observe` for every event, then, while the
    budget allows a query, :meth:`ask` with the event's prediction.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        """Decide on one event.

        Parameters
        ----------
        confidence
            ``1 - uncertainty`` of the model's prediction for the event, in [0, 1].
        target
            The budget in force (B, or more during a drift boost).
        predicted
            The class the model predicts for the event (None before it knows a class).

        Returns
        -------
        A pair ``(query, reason)``.

        """

    def observe(self, confidence: float) -> None:  # noqa: B027 (a hook, empty by default)
        """Account for one event's confidence, for every event and before :meth:`ask`.

        Nothing by default: only a strategy with statistics of the whole stream
        (:class:`MovingAverage`) needs it.
        """

    @property
    def threshold(self) -> float | None:
        """The confidence threshold in force, or None for a strategy without one."""
        return None


class RandomSampling(QueryStrategy):
    """Ask for labels at random, blind to the model: the unbiased baseline.

    While the budget gate is open, each event is asked with probability
    ``oversampling * B``. Asking at exactly B would lose the queries that chance puts
    where the gate is closed (about 13% of a 1% budget over 20,000 events); asking a little
    faster lets the budget estimator, not chance, set the fraction. Which events are asked
    still does not depend on their features, so the labeled sample stays unbiased.

    Parameters
    ----------
    oversampling
        Factor on B for the probability of asking while the gate is open.
    seed
        Seed of the strategy's own random number generator.

    """

    name: ClassVar[str] = "random"

    def __init__(self, oversampling: float = 2.0, seed: int | None = None):
        if oversampling < 1.0:
            raise ValueError(f"oversampling must be >= 1, got {oversampling!r}")
        self.oversampling = float(oversampling)
        self.seed = seed
        self._rng = random.Random(seed)

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        if self._rng.random() < target * self.oversampling:
            return True, QUERY_RANDOM
        return False, SKIP_NOT_SAMPLED


class FixedUncertainty(QueryStrategy):
    """Ask when the confidence is below a fixed threshold.

    Simple, but with no adaptation: a model that becomes confident everywhere stops
    asking, and a drift in a confident region goes unseen.

    Parameters
    ----------
    threshold
        Confidence below which an event is asked (0.9: the model is less than 90% sure
        of its least-confidence prediction).

    """

    name: ClassVar[str] = "fixed-uncertainty"

    def __init__(self, threshold: float = 0.9):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"fixed-uncertainty threshold must be in (0, 1], got {threshold!r}")
        self._threshold = float(threshold)

    @property
    def threshold(self) -> float | None:
        return self._threshold

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        if confidence < self._threshold:
            return True, QUERY_UNCERTAIN
        return False, SKIP_CONFIDENT


class VariableUncertainty(QueryStrategy):
    """Ask below an adaptive threshold that tracks the budget (Zliobaite et al. 2014).

    After a query the threshold shrinks by the factor ``1 - step``; after a confident
    skip it grows by ``1 + step``. The threshold settles where the budget is spent on the
    least confident events of the recent stream, whatever their absolute confidence.

    Parameters
    ----------
    threshold
        Initial confidence threshold theta (1.0: the first events are all asked).
    step
        Adjustment step s of the threshold.

    """

    name: ClassVar[str] = "variable-uncertainty"

    def __init__(self, threshold: float = 1.0, step: float = 0.01):
        if not 0.0 < step < 1.0:
            raise ValueError(f"threshold step must be in (0, 1), got {step!r}")
        self.step = float(step)
        self._theta = float(threshold)

    @property
    def threshold(self) -> float | None:
        return self._theta

    def _ask_below(self, confidence: float, theta: float) -> tuple[bool, str]:
        if confidence < theta:
            self._theta *= 1.0 - self.step
            return True, QUERY_UNCERTAIN
        self._theta *= 1.0 + self.step
        return False, SKIP_CONFIDENT

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        return self._ask_below(confidence, self._theta)


class RandomizedVariableUncertainty(VariableUncertainty):
    """Variable uncertainty with the threshold multiplied by N(1, delta) noise.

    The noise lets now and then a confidently predicted event through, so a change in a
    region the model is sure about still reaches a labeler.

    Parameters
    ----------
    threshold
        Initial confidence threshold theta.
    step
        Adjustment step s of the threshold.
    delta
        Standard deviation of the multiplicative noise (1.0 as in the paper).
    seed
        Seed of the noise generator.

    """

    name: ClassVar[str] = "randomized-variable-uncertainty"

    def __init__(
        self,
        threshold: float = 1.0,
        step: float = 0.01,
        delta: float = 1.0,
        seed: int | None = None,
    ):
        super().__init__(threshold=threshold, step=step)
        if delta < 0.0:
            raise ValueError(f"noise delta must be >= 0, got {delta!r}")
        self.delta = float(delta)
        self.seed = seed
        self._rng = random.Random(seed)

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        return self._ask_below(confidence, self._theta * self._rng.gauss(1.0, self.delta))


class Split(VariableUncertainty):
    """A fraction ``v`` of the decisions random sampling, the rest variable uncertainty.

    The random part labels events the model is sure about too: it catches drift anywhere
    and its labels estimate the accuracy without the bias of uncertainty sampling.

    The default ``v = 0.5`` (it was 0.2) because with a Hoeffding tree and the ``leaf``
    measure the uncertain part concentrates the labels in the most impure leaves, whose
    class counts accumulate over the whole stream and so miss a drift in a leaf that used
    to be pure; at a 5% budget that made split lose to random sampling on drifting
    streams. Over seeds 0-9 (hoeffding-tree, delay 0) v = 0.5 moved split minus random
    from -2.1 to +0.2 points on agrawal-drift at 5%, from -0.3/+0.0 to +0.2/+0.8 on
    sea-drift at 5%/10%, and from -2.3 to -1.0 on hyperplane at 10%; Elec2 and Shuttle
    are unchanged within 0.3 points. It did not close the gap on hyperplane at 5% or
    on rbf-drift at 10% (about -1.5 to -2 points), and it lowered agrawal-drift at 10%
    by 0.9 points (seed spread 4-5 points either way).

    Parameters
    ----------
    random_fraction
        v, the share of decisions made by random sampling.
    threshold
        Initial confidence threshold of the variable-uncertainty part.
    step
        Adjustment step of that threshold.
    stratified
        Stratify the random part by predicted class: each class the model predicts gets
        about the same number of random labels, so a rare class is not left to chance
        (the caller passes the prediction to :meth:`ask`; the budget still caps the
        spending).
    seed
        Seed of the strategy's random number generator.

    >>> split = Split(stratified=True, seed=1)
    >>> asked = {"common": 0, "rare": 0}
    >>> for i in range(20_000):
    ...     predicted = "rare" if i % 20 == 0 else "common"
    ...     queried, reason = split.ask(0.99, 0.1, predicted)
    ...     asked[predicted] += queried and reason == "random"
    >>> asked["rare"] > 0.5 * asked["common"]  # 1 event in 20, about half the labels
    True

    """

    name: ClassVar[str] = "split"

    def __init__(
        self,
        random_fraction: float = 0.5,
        threshold: float = 1.0,
        step: float = 0.01,
        stratified: bool = False,
        seed: int | None = None,
    ):
        super().__init__(threshold=threshold, step=step)
        if not 0.0 <= random_fraction <= 1.0:
            raise ValueError(f"random_fraction must be in [0, 1], got {random_fraction!r}")
        self.random_fraction = float(random_fraction)
        self.stratified = bool(stratified)
        self.seed = seed
        self._rng = random.Random(seed)
        self._predicted: dict[Any, float] = {}  # recent predictions per class (decayed)

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        rng = self._rng
        if rng.random() < self.random_fraction:
            if rng.random() < self._random_rate(target, predicted):
                return True, QUERY_RANDOM
            return False, SKIP_NOT_SAMPLED
        return self._ask_below(confidence, self._theta)

    def _random_rate(self, target: float, predicted: ClassLabel | None) -> float:
        if not self.stratified or predicted is None:
            return target
        counts = self._predicted
        for key in counts:  # a memory of about 1,000 decisions
            counts[key] *= 0.999
        counts[predicted] = counts.get(predicted, 0.0) + 1.0
        share = counts[predicted] / sum(counts.values())
        # Equal expected random labels per predicted class, the same total on average.
        return min(1.0, target / (len(counts) * share))


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


# Strategies that cannot hold the budget, with why: `stream-al strategies` lists them apart
# and recommends none of them. They are still built by name, so configurations and
# checkpoints that use them keep working.
DROPPED: dict[str, str] = {
    "fixed-uncertainty": "spends at most B, not B: once the model is sure of itself it stops "
    "asking (with the leaf measure of a one-leaf tree it asked 1-2 labels in 15,000 "
    "events); variable-uncertainty is its budget-holding form",
    "moving-average": "its threshold (mean + k sd of the scores) sets the fraction, not the "
    "budget: it spent 6-10% at B = 0.1; variable-uncertainty holds B on any score",
}

STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (
        RandomSampling,
        FixedUncertainty,
        VariableUncertainty,
        RandomizedVariableUncertainty,
        Split,
        MovingAverage,
    )
}


def make_strategy(name: str, seed: int | None = None, **params: Any) -> QueryStrategy:
    """Build the strategy registered under ``name``.

    ``seed`` is passed to strategies that draw random numbers; ``params`` override the
    documented defaults and are checked against the strategy's parameters.
    """
    try:
        cls = STRATEGIES[name]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise ValueError(f"unknown strategy {name!r}; choose one of: {known}") from None
    import inspect

    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"strategy {name!r} has no parameter {', '.join(unknown)}; "
            f"it accepts: {', '.join(p for p in accepted if p != 'seed') or 'nothing'}"
        )
    if "seed" in accepted:
        params["seed"] = seed
    return cls(**params)
