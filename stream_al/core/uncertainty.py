"""Uncertainty measures over a predicted class distribution.

Every measure maps ``proba`` (class -> probability) to a number in [0, 1] where **higher
means more uncertain**. Strategies threshold the complementary *confidence*
(``1 - uncertainty``), which for least confidence is exactly the maximum posterior used by
Zliobaite et al. (2014).

An empty distribution (a model that has not seen a label yet) is maximally uncertain.

One more measure looks into the model instead of its output: :func:`leaf_impurity`, for
Hoeffding trees, is ``1 -`` the majority share of the labeled class counts in the leaf the
event falls in. A tree grows where labels make a leaf's split worth it, so asking where
leaves are impure sends labels where they change the structure, and the labels it asks
are spread evenly inside each leaf, so the split statistics stay unbiased. The
naive-Bayes probabilities a tree predicts with, in contrast, are confident or not for
reasons the tree's structure cannot act on.

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

__all__ = [
    "AUTO",
    "LEAF",
    "MEASURES",
    "NAMES",
    "Measure",
    "entropy",
    "leaf_impurity",
    "least_confidence",
    "margin",
    "measure",
    "resolve",
    "stats_impurity",
]


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


def leaf_impurity(tree: Any, x: Mapping[Any, Any]) -> float:
    """``1 - max share`` of the class counts in the leaf of ``tree`` that ``x`` reaches.

    ``tree`` is a River Hoeffding tree (this reads its nodes); a tree without labels, or a
    leaf without counts, is maximally uncertain.
    """
    from river.tree.base import Branch

    root = tree._root
    if root is None:
        return 1.0
    leaf: Any = root.traverse(x, until_leaf=True) if isinstance(root, Branch) else root
    if isinstance(leaf, list):  # adaptive trees list alternate-tree leaves first, then theirs
        leaf = leaf[-1]
    return stats_impurity(leaf.stats)


def stats_impurity(stats: Mapping[Any, float] | None) -> float:
    """``1 - max share`` of a leaf's class counts (1.0 for a leaf without counts)."""
    total = sum(stats.values()) if stats else 0.0
    return 1.0 - max(stats.values()) / total if stats and total > 0 else 1.0


LEAF = "leaf"
AUTO = "auto"

MEASURES: dict[str, Measure] = {
    "least-confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


# Disagreement of an ensemble's members (see stream_al.core.committee).
COMMITTEE = ("vote-entropy", "kl")

# The expected gain of a label from local label statistics (see stream_al.core.opal).
OPAL = "opal"

NAMES = (AUTO, *MEASURES, LEAF, *COMMITTEE, OPAL)


def measure(name: str) -> Measure:
    """The probability measure registered under ``name`` (see ``MEASURES``)."""
    try:
        return MEASURES[name]
    except KeyError:
        known = ", ".join(MEASURES)
        raise ValueError(f"unknown uncertainty measure {name!r}; choose one of: {known}") from None


# A tree that splits on fewer labels per leaf than River's default grace period: its
# leaves' class counts say where it will split next (see leaf_impurity).
_LEAF_GRACE = 200


def resolve(name: str, model: Any) -> str:
    """The measure a learner uses: ``auto`` is ``leaf`` for Hoeffding trees that split on
    few labels (grace period below River's default 200), else least confidence; ``leaf``
    is refused for models that are not Hoeffding trees.

    A tree with River's defaults is one naive-Bayes leaf for its first thousands of
    labels: its leaf's impurity is the same for every event and says nothing about where
    it is unsure (docs/design.md, "Uncertainty").

    >>> from river import tree
    >>> resolve("auto", tree.HoeffdingTreeClassifier(grace_period=20))
    'leaf'
    >>> resolve("auto", tree.HoeffdingTreeClassifier())
    'least-confidence'

    """
    from river import tree

    is_tree = isinstance(model, tree.HoeffdingTreeClassifier)
    if name == AUTO:
        scarce = is_tree and model.grace_period < _LEAF_GRACE
        return LEAF if scarce else "least-confidence"
    if name == LEAF:
        if not is_tree:
            raise ValueError(
                f"uncertainty 'leaf' needs a Hoeffding tree, not {type(model).__name__}; "
                "use least-confidence, margin or entropy"
            )
        return LEAF
    if name == OPAL:
        return OPAL
    if name in COMMITTEE:
        from stream_al.core.committee import members

        members(model)  # a model without members says what to choose instead
        return name
    if name not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {name!r}; choose one of: {', '.join(NAMES)}")
    return name
