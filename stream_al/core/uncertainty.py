"""Uncertainty measures over a predicted class distribution.

Every measure maps ``proba`` (class -> probability) to a number in [0, 1] where **higher
means more uncertain**. Strategies threshold the complementary *confidence*
(``1 - uncertainty``), which for least confidence is exactly the maximum posterior used by
Zliobaite et al. (2014).

An empty distribution (a model that has not seen a label yet) is maximally uncertain.

Examples
--------
>>> from stream_al.core import uncertainty
>>> p = {"spam": 0.7, "ham": 0.2, "eggs": 0.1}
>>> round(uncertainty.least_confidence(p), 3)
0.3
>>> round(uncertainty.margin(p), 3)
0.5
>>> round(uncertainty.entropy(p), 3)
0.73
>>> uncertainty.least_confidence({})
1.0

"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Proba = Mapping[Any, float]
Measure = Callable[[Proba], float]

__all__ = ["MEASURES", "Measure", "entropy", "least_confidence", "margin", "measure"]


def least_confidence(proba: Proba) -> float:
    """``1 - max p``: how far the most likely class is from certainty."""
    if not proba:
        return 1.0
    return 1.0 - max(proba.values())


def margin(proba: Proba) -> float:
    """``1 - (p1 - p2)``, with p1 and p2 the two largest probabilities.

    A single known class counts as a margin of p1 against an unseen class at 0.
    """
    if not proba:
        return 1.0
    p1 = p2 = 0.0
    for p in proba.values():
        if p > p1:
            p1, p2 = p, p1
        elif p > p2:
            p2 = p
    return 1.0 - (p1 - p2)


def entropy(proba: Proba) -> float:
    """Shannon entropy normalised by ``log K`` (K = number of classes), so in [0, 1].

    With fewer than two classes the model has nothing to be uncertain between but also
    nothing learned to be sure of; it counts as maximally uncertain.
    """
    k = len(proba)
    if k < 2:
        return 1.0
    total = sum(proba.values())
    if total <= 0.0:
        return 1.0
    h = 0.0
    for p in proba.values():
        if p > 0.0:
            q = p / total
            h -= q * math.log(q)
    return min(1.0, h / math.log(k))


MEASURES: dict[str, Measure] = {
    "least-confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


def measure(name: str) -> Measure:
    """The measure registered under ``name`` (see ``MEASURES``)."""
    try:
        return MEASURES[name]
    except KeyError:
        known = ", ".join(MEASURES)
        raise ValueError(f"unknown uncertainty measure {name!r}; choose one of: {known}") from None
