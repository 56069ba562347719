"""What every query strategy is: :class:`QueryStrategy`, and the reasons it gives.

A strategy implements one method, :meth:`QueryStrategy.ask`, called only while the budget
allows a query (the budget gate sits in front of all of them, as in Zliobaite et al.
2014, so threshold adaptation pauses while the budget is exhausted). ``confidence`` is
``1 - uncertainty`` of the configured measure; ``predicted`` is the class the model
predicts (None before it knows one). The caller also feeds :meth:`QueryStrategy.observe`
with every event's confidence (including the events the budget gate or a full label
queue skipped), before :meth:`~QueryStrategy.ask`.

A strategy that learns from the answers to its questions (:mod:`.bandit`) keeps what it
needs of a question in :meth:`QueryStrategy.question`; the learner gives it back with
the label's verdict to :meth:`QueryStrategy.answered`.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from stream_al.core.types import ClassLabel

__all__ = [
    "QUERY_RANDOM",
    "QUERY_UNCERTAIN",
    "SKIP_CONFIDENT",
    "SKIP_NOT_SAMPLED",
    "QueryStrategy",
]

# Why an event was or was not asked: a small closed vocabulary (used as a metric label).
QUERY_RANDOM = "random"
QUERY_UNCERTAIN = "uncertain"
SKIP_CONFIDENT = "confident"
SKIP_NOT_SAMPLED = "not-sampled"


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
        (:class:`~.moving_average.MovingAverage`, :class:`~.quantile_filter.QuantileFilter`)
        needs it.
        """

    @property
    def threshold(self) -> float | None:
        """The confidence threshold in force, or None for a strategy without one."""
        return None

    # A strategy that learns from the answers to its questions says so: the learner then
    # keeps each question's :meth:`question` until its label comes back.
    learns_from_answers: ClassVar[bool] = False

    @property
    def probability(self) -> float:
        """The probability with which the last event was asked (or would have been): 1 for
        a strategy whose answer the event's score decides."""
        return 1.0

    def question(self) -> Any:
        """What the strategy keeps of the event it has just asked (``ask`` said yes), given
        back to :meth:`answered` with the label; None by default."""
        return None

    def answered(self, question: Any, correct: bool) -> None:  # noqa: B027 (a hook)
        """The label of a question this strategy asked has been learned: ``question`` is
        what :meth:`question` returned then, ``correct`` whether the model's prediction
        when it was asked was right. Nothing by default."""
