"""stream-al's query strategies as River active-learning classifiers.

River ships one active learner, ``river.active.EntropySampler``, which asks for a label
with a probability that grows with the entropy of the prediction and has no budget. The
classes here bring every stream-al strategy to a plain River program, with the same
engine as stream-al's service: each event first goes through the label budget estimated
over a sliding window (Zliobaite et al. 2014, :class:`~stream_al.core.budget.EstimatedBudget`)
and, while the budget allows a query, the strategy decides. They subclass
``river.active.base.ActiveLearningClassifier``, so they are used like ``EntropySampler``:

- ``predict_one(x)`` returns ``(y_pred, ask)``: the prediction and whether to ask for the
  label; ``predict_proba_one(x)`` returns ``(proba, ask)``;
- ``learn_one(x, y)`` learns a label (call it for the asked events).

============================================== ===================================
:class:`RandomSampler`                         ``random``
:class:`FixedUncertaintySampler`               ``fixed-uncertainty``
:class:`VariableUncertaintySampler`            ``variable-uncertainty``
:class:`RandomizedVariableUncertaintySampler`  ``randomized-variable-uncertainty``
:class:`SplitSampler`                          ``split``
:class:`MovingAverageSampler`                  ``moving-average``
:class:`QuantileFilterSampler`                 ``quantile-filter``
============================================== ===================================

``bandit`` has no sampler: it learns from the answers to its own questions, which a River
program's ``learn_one(x, y)`` does not tie to the question that asked them.

Each call of ``predict_one`` or ``predict_proba_one`` is one decision: it spends budget
when it asks and moves the strategy's threshold, so call one of them once per event (as
River's ``EntropySampler`` also expects: it draws a random number per call). The budget
cannot know whether an asked label arrives: an asked event counts as spent.

Two differences from River's base class, both deliberate: the uncertainty is one of
stream-al's measures (``least-confidence``, ``margin`` or ``entropy``, see
:mod:`stream_al.core.uncertainty`) rather than a probability of asking, and
``predict_one`` returns ``None`` rather than an empty dict before the model knows any
class (what River's classifiers return then).

Examples
--------
>>> from river import datasets, linear_model, metrics, preprocessing
>>> from stream_al.river_active import SplitSampler
>>> model = SplitSampler(
...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
...     budget=0.05,
...     seed=42,
... )
>>> metric = metrics.Accuracy()
>>> n_asked = 0
>>> for x, y in datasets.synth.SEA(seed=1).take(5000):
...     y_pred, ask = model.predict_one(x)
...     metric.update(y, y_pred)
...     if ask:
...         n_asked += 1
...         model.learn_one(x, y)
>>> metric
Accuracy: 92.62%
>>> n_asked
250

The budget estimator gives 5% of the events from the first event on (its window starts as
if spent at the budget: see :mod:`stream_al.core.budget`).

"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from river import base
from river.active.base import ActiveLearningClassifier

from stream_al.core.budget import EstimatedBudget
from stream_al.core.learner import SKIP_BUDGET
from stream_al.core.strategies import (
    FixedUncertainty,
    MovingAverage,
    QuantileFilter,
    QueryStrategy,
    RandomizedVariableUncertainty,
    RandomSampling,
    Split,
    VariableUncertainty,
)
from stream_al.core.uncertainty import measure

__all__ = [
    "SAMPLERS",
    "FixedUncertaintySampler",
    "MovingAverageSampler",
    "QuantileFilterSampler",
    "RandomSampler",
    "RandomizedVariableUncertaintySampler",
    "SplitSampler",
    "StrategySampler",
    "VariableUncertaintySampler",
]


class StrategySampler(ActiveLearningClassifier):
    """A River active learner: stream-al's budget gate in front of a query strategy.

    Subclasses build their strategy in :meth:`_make_strategy` from their own parameters,
    which they must store under the names of their constructor's parameters (River's
    ``clone`` rebuilds an estimator from them).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Seed of the strategy's random numbers.

    """

    strategy_name: ClassVar[str]

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        super().__init__(classifier, seed=seed)
        self.budget = budget
        self.window = window
        self.uncertainty = uncertainty
        self._measure = measure(uncertainty)
        self._budget = EstimatedBudget(budget, window=window)
        self._strategy = self._make_strategy()
        self.last_reason: str | None = None

    @abc.abstractmethod
    def _make_strategy(self) -> QueryStrategy: ...

    @property
    def strategy(self) -> QueryStrategy:
        """The query strategy (its ``threshold`` is the confidence threshold in force)."""
        return self._strategy

    @property
    def budget_estimate(self) -> EstimatedBudget:
        """The label budget and its spending estimate."""
        return self._budget

    def _ask_for_label(self, x: dict[Any, Any], y_pred: dict[Any, float]) -> bool:
        # River's predict_proba_one calls this once per call with the class probabilities:
        # one budget and strategy decision per prediction, as ActiveLearner.decide makes.
        confidence = 1.0 - self._measure(y_pred)
        strategy, budget = self._strategy, self._budget
        strategy.observe(confidence)
        if budget.allows():
            predicted = max(y_pred, key=y_pred.__getitem__) if y_pred else None
            ask, self.last_reason = strategy.ask(confidence, budget.target, predicted)
        else:
            ask, self.last_reason = False, SKIP_BUDGET
        budget.record(ask)
        return ask

    # River's active learners return (prediction, ask), not Classifier's bare prediction.
    def predict_one(self, x: dict[Any, Any], **kwargs: Any) -> tuple[Any, bool]:  # type: ignore[override]
        """Predict the label of ``x`` and tell whether to ask for it.

        Returns
        -------
        The most probable class (None before the model knows a class) and whether the
        label should be asked.

        """
        proba, ask = self.predict_proba_one(x, **kwargs)
        return (max(proba, key=proba.get) if proba else None), ask

    @classmethod
    def _unit_test_params(cls) -> Any:
        from river import naive_bayes

        yield {"classifier": naive_bayes.GaussianNB()}


class RandomSampler(StrategySampler):
    """Ask for labels at random, blind to the model (stream-al's ``random``).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    oversampling
        Factor on the budget for the probability of asking while the budget allows it
        (see :class:`~stream_al.core.strategies.RandomSampling`).
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        Unused by the decision; kept for a uniform signature.
    seed
        Seed of the random draws.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = RandomSampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ...     seed=42,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 89.45%, 99)

    """

    strategy_name: ClassVar[str] = RandomSampling.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        oversampling: float = 2.0,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.oversampling = oversampling
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return RandomSampling(oversampling=self.oversampling, seed=self.seed)


class FixedUncertaintySampler(StrategySampler):
    """Ask when the confidence is below a fixed threshold (``fixed-uncertainty``).

    It spends at most the budget, and less once the model is confident everywhere.

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    threshold
        Confidence (``1 -`` uncertainty) below which an event is asked.
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Unused (the strategy draws no random numbers); kept for a uniform signature.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = FixedUncertaintySampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 88.40%, 100)

    """

    strategy_name: ClassVar[str] = FixedUncertainty.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        threshold: float = 0.9,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.threshold = threshold
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return FixedUncertainty(threshold=self.threshold)


class VariableUncertaintySampler(StrategySampler):
    """Ask below a confidence threshold that adapts to the budget (``variable-uncertainty``).

    The threshold shrinks after each query and grows after each skip, so the labels go
    to the least confident events of the recent stream (Zliobaite et al. 2014).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    threshold
        Initial confidence threshold.
    step
        Adjustment step of the threshold.
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Unused (the strategy draws no random numbers); kept for a uniform signature.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = VariableUncertaintySampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 88.65%, 100)

    """

    strategy_name: ClassVar[str] = VariableUncertainty.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        threshold: float = 1.0,
        step: float = 0.01,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.threshold = threshold
        self.step = step
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return VariableUncertainty(threshold=self.threshold, step=self.step)


class RandomizedVariableUncertaintySampler(StrategySampler):
    """Variable uncertainty with the threshold times N(1, delta) noise.

    The noise now and then lets a confidently predicted event through, so a change where
    the model is sure still reaches a labeler (``randomized-variable-uncertainty``).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    threshold
        Initial confidence threshold.
    step
        Adjustment step of the threshold.
    delta
        Standard deviation of the multiplicative noise.
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Seed of the noise.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = RandomizedVariableUncertaintySampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ...     seed=42,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 74.70%, 100)

    """

    strategy_name: ClassVar[str] = RandomizedVariableUncertainty.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        threshold: float = 1.0,
        step: float = 0.01,
        delta: float = 1.0,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.threshold = threshold
        self.step = step
        self.delta = delta
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return RandomizedVariableUncertainty(
            threshold=self.threshold, step=self.step, delta=self.delta, seed=self.seed
        )


class SplitSampler(StrategySampler):
    """A share of the decisions random, the rest variable uncertainty (``split``).

    The random labels catch a drift anywhere in the feature space and estimate the
    accuracy without the bias of uncertainty sampling.

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    random_fraction
        Share of the decisions made at random.
    threshold
        Initial confidence threshold of the variable-uncertainty part.
    step
        Adjustment step of that threshold.
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Seed of the random decisions.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = SplitSampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ...     seed=42,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 88.00%, 100)

    """

    strategy_name: ClassVar[str] = Split.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        random_fraction: float = 0.5,
        threshold: float = 1.0,
        step: float = 0.01,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.random_fraction = random_fraction
        self.threshold = threshold
        self.step = step
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return Split(
            random_fraction=self.random_fraction,
            threshold=self.threshold,
            step=self.step,
            seed=self.seed,
        )


class MovingAverageSampler(StrategySampler):
    """Ask when the uncertainty is above its moving mean plus k std (``moving-average``).

    The mean and variance follow the uncertainty of every prediction, including those of
    the events the budget did not let through
    (see :class:`~stream_al.core.strategies.MovingAverage`).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    k
        Standard deviations above the mean the uncertainty must be.
    alpha
        Weight of the newest event in the moving mean and variance, in (0, 1].
    warmup
        Events asked (budget permitting) before the statistics are used.
    patience
        Consecutive refusals after which the statistics restart (None: from k and alpha).
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Unused (the strategy draws no random numbers); kept for a uniform signature.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = MovingAverageSampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ... )
    >>> metric = metrics.Accuracy()
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     metric.update(y, y_pred)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> metric, n_asked
    (Accuracy: 91.95%, 99)

    """

    strategy_name: ClassVar[str] = MovingAverage.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        k: float = 1.0,
        alpha: float = 0.01,
        warmup: int = 10,
        patience: int | None = None,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.k = k
        self.alpha = alpha
        self.warmup = warmup
        self.patience = patience
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return MovingAverage(k=self.k, alpha=self.alpha, warmup=self.warmup, patience=self.patience)


class QuantileFilterSampler(StrategySampler):
    """Ask for the top ``budget`` of the recent uncertainties (``quantile-filter``).

    The balanced incremental quantile filter of Kottke et al. (2015): the threshold is the
    ``1 - budget`` quantile of the last ``quantile_window`` uncertainties, lowered while
    the filter has asked fewer than ``budget`` of the events and raised while more (see
    :class:`~stream_al.core.strategies.QuantileFilter`).

    Parameters
    ----------
    classifier
        The River classifier to wrap.
    budget
        Fraction of the events whose label may be asked, in (0, 1].
    quantile_window
        How many recent uncertainties the quantile is taken over.
    tolerance
        Questions of deficit or surplus that move the threshold by the window's range.
    window
        Memory of the budget's spending estimate, in events.
    uncertainty
        ``"least-confidence"``, ``"margin"`` or ``"entropy"``.
    seed
        Unused (the strategy draws no random numbers); kept for a uniform signature.

    Examples
    --------
    >>> from river import datasets, linear_model, preprocessing
    >>> model = QuantileFilterSampler(
    ...     preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    ...     budget=0.05,
    ... )
    >>> n_asked = 0
    >>> for x, y in datasets.synth.SEA(seed=1).take(2000):
    ...     y_pred, ask = model.predict_one(x)
    ...     if ask:
    ...         n_asked += 1
    ...         model.learn_one(x, y)
    >>> 80 <= n_asked <= 110
    True

    """

    strategy_name: ClassVar[str] = QuantileFilter.name

    def __init__(
        self,
        classifier: base.Classifier,
        budget: float = 0.1,
        *,
        quantile_window: int = 100,
        tolerance: float = 5.0,
        window: int = 1000,
        uncertainty: str = "least-confidence",
        seed: int | None = None,
    ):
        self.quantile_window = quantile_window
        self.tolerance = tolerance
        super().__init__(classifier, budget, window, uncertainty, seed)

    def _make_strategy(self) -> QueryStrategy:
        return QuantileFilter(window=self.quantile_window, tolerance=self.tolerance)


SAMPLERS: dict[str, type[StrategySampler]] = {
    cls.strategy_name: cls
    for cls in (
        RandomSampler,
        FixedUncertaintySampler,
        VariableUncertaintySampler,
        RandomizedVariableUncertaintySampler,
        SplitSampler,
        MovingAverageSampler,
        QuantileFilterSampler,
    )
}
"""The sampler of each stream-al strategy, by strategy name."""
