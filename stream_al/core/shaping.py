"""Score shaping: what an event's uncertainty is worth before a strategy sees it.

An uncertainty score says how unsure the model is; it does not say whether the label is
worth its price. Three optional factors reshape it (each off by default, all pure):

- **Density** (``density_beta``): ``score * density(x) ** beta`` with an incremental,
  bounded estimate of the recent stream's density (:mod:`stream_al.core.density`), so
  isolated outliers, whose labels teach little about the rest, are asked less.
- **Class imbalance** (``imbalance``): items predicted as a class with few labels so far
  are weighted up by ``(mean labels per class / labels of that class) ** imbalance``
  (capped), so rare classes are found at the same budget.
- **Cost** (``cost_power``): ``score / cost ** cost_power``, information per unit of
  label cost when labels cost different amounts (the event's ``cost`` field).

The shaped score is clipped to [0, 1] and is what the strategy and the explanations see.

Examples
--------
>>> balance = ClassBalance(power=1.0)
>>> for y in ["a"] * 9 + ["b"]:
...     balance.learn(y)
>>> round(balance.weight("b"), 2), round(balance.weight("a"), 2), balance.weight("new")
(5.0, 0.56, 10.0)

"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from stream_al.core.types import ClassLabel

__all__ = ["POWER_LIMIT", "ClassBalance", "Shaping", "bounded_power"]


@dataclass(frozen=True)
class Shaping:
    """Which score factors are on (0 = off) and their parameters.

    Parameters
    ----------
    density_beta
        Exponent of the density factor; 0 turns it off, 1 is the usual choice.
    density_size
        Recent events the density estimate keeps (bounded memory).
    imbalance
        Exponent of the class-balance factor; 0 turns it off, 1 is proportional.
    imbalance_cap
        Largest factor a rare class gets (and 1/cap the smallest a common one gets).
    cost_power
        Exponent of the cost divisor; 0 ignores the cost, 1 ranks by score per unit cost.

    """

    density_beta: float = 0.0
    density_size: int = 200
    imbalance: float = 0.0
    imbalance_cap: float = 10.0
    cost_power: float = 0.0

    def __post_init__(self) -> None:
        for name in ("density_beta", "imbalance", "cost_power"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.density_size < 10:
            raise ValueError(f"density_size must be >= 10 events, got {self.density_size}")
        if self.imbalance_cap < 1:
            raise ValueError(f"imbalance_cap must be >= 1, got {self.imbalance_cap}")

    @property
    def active(self) -> bool:
        return bool(self.density_beta or self.imbalance or self.cost_power)


class ClassBalance:
    """Label counts per class and the weight they give a prediction of each class.

    A class never labeled gets the cap (it may be the rare class nobody has seen yet); with
    no labels at all every weight is 1.
    """

    def __init__(self, power: float = 1.0, cap: float = 10.0):
        self.power = power
        self.cap = cap
        self.counts: Counter[ClassLabel] = Counter()
        self.total = 0

    def learn(self, y: ClassLabel) -> None:
        self.counts[y] += 1
        self.total += 1

    def weight(self, predicted: ClassLabel | None) -> float:
        if not self.total or predicted is None:
            return 1.0
        count = self.counts.get(predicted, 0)
        if not count:
            return self.cap
        mean = self.total / len(self.counts)
        w = bounded_power(mean / count, self.power)
        return min(self.cap, max(1.0 / self.cap, w))


POWER_LIMIT = 1e300


def bounded_power(base: float, exponent: float) -> float:
    """``base ** exponent`` for ``base > 0``, kept within [1e-300, 1e300]: a cost of 1e100
    to the power 4 overflows a float (Python raises), and 1e-300 squared underflows to 0,
    which a weight is then divided by.

    >>> bounded_power(2.0, 3.0), bounded_power(1e100, 4.0), bounded_power(1e-300, 2.0)
    (8.0, 1e+300, 1e-300)

    """
    try:
        value: float = base**exponent
    except OverflowError:
        return POWER_LIMIT
    return min(POWER_LIMIT, max(1.0 / POWER_LIMIT, value))
