"""What the learner decided for one event (:class:`Decision`) and the reasons it gives.

Examples
--------
>>> Decision("spam", {"spam": 0.7, "ham": 0.3}, 0.3, True, "uncertain", 0.8).scores["margin"]
0.6000000000000001

"""

from __future__ import annotations

from dataclasses import dataclass

from stream_al.core.types import ClassLabel, Proba
from stream_al.core.uncertainty import MEASURES

__all__ = ["Decision"]


@dataclass(slots=True)
class Decision:
    """What the learner decided for one event.

    Attributes
    ----------
    prediction
        The most probable class, or None before the model has seen any label.
    proba
        Class probabilities.
    score
        Uncertainty of the prediction under the learner's measure (higher = less sure).
    queried
        Whether the label should be asked.
    reason
        Why (``"uncertain"``, ``"random"``) or why not (``"confident"``,
        ``"not-sampled"``, ``"budget-exhausted"``, ``"backpressure"``).
    threshold
        The strategy's confidence threshold when it decided, if it has one.

    """

    prediction: ClassLabel | None
    proba: Proba
    score: float
    queried: bool
    reason: str
    threshold: float | None

    @property
    def scores(self) -> dict[str, float]:
        """Every uncertainty measure of this prediction (computed on demand)."""
        return {name: fn(self.proba) for name, fn in MEASURES.items()}
