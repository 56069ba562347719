"""Probabilistic active learning (OPAL / McPAL): the expected gain in accuracy of a label.

Uncertainty sampling asks where the model's posterior is closest to a tie, whether that
posterior rests on one label or on a thousand. Probabilistic active learning (Krempl,
Kottke and Lemaire 2015; multi-class: Kottke et al. 2016) asks where a label is expected
to improve the local decision the most, from the *local label statistics* at ``x``: how
many labels there are near ``x`` (``n``) and how they split over the classes (``k``, with
``sum k = n``). The true class distribution near ``x`` is unknown; given the labels it is
Dirichlet(``k + prior``). With ``m`` more labels ``l`` (drawn from it), the local decision
becomes ``argmax(k + l)``, and its expected accuracy can be written in closed form (the
Dirichlet-multinomial). The gain of ``m`` labels is the expected accuracy after them
minus now, per label; OPAL takes the best ``m`` up to ``m_max`` (non-myopic: two labels
may flip a decision one cannot). A region with few labels gains much (exploration), one
with many labels split evenly gains a little, one with many labels of one class gains
nothing. The gain is weighted by the density of the recent stream at ``x``, so a label
that improves a decision many events share is worth more (Kottke, Krempl and
Spiliopoulou 2015, who pair it with the balanced quantile filter,
:mod:`stream_al.core.strategies.quantile_filter`).

The local statistics, for any model: ``n(x)`` is a Parzen-window estimate, the sum of a
Gaussian kernel over the last ``size`` labeled items (features standardised by their
spread over those items; ``d2`` is the mean squared difference, about 2 between unrelated
points), and ``k = n(x) p(x)`` with ``p`` the served model's posterior, as
scikit-activeml's stream version does.

References
----------
Krempl, G., Kottke, D., Lemaire, V. (2015). Optimised probabilistic active learning
(OPAL) for fast, non-myopic, cost-sensitive active classification. Machine Learning 100.

Kottke, D., Krempl, G., Lang, D., Teschner, J., Spiliopoulou, M. (2016). Multi-class
probabilistic active learning. ECAI 2016.

Kottke, D., Krempl, G., Spiliopoulou, M. (2015). Probabilistic Active Learning in
Datastreams. Advances in Intelligent Data Analysis XIV.

Examples
--------
Two labels split evenly gain more than two of one class, which gain nothing:

>>> round(expected_gain([1.0, 1.0]), 4), round(expected_gain([2.0, 0.0]), 4)
(0.1666, 0.0)

No label yet: every decision is open, and a first label settles much:

>>> round(expected_gain([0.0, 0.0, 0.0]), 4)
0.6647

"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from stream_al.core.density import DensityEstimator
from stream_al.core.types import ClassLabel, Proba

__all__ = ["ProbabilisticGain", "expected_gain"]

FloatArray = npt.NDArray[np.float64]


def _risk_after(k: Sequence[float], a: Sequence[float], m: int) -> float:
    """Expected error of the local decision after ``m`` (0, 1 or 2) more labels, under
    Dirichlet(``a``) with observed counts ``k`` (the decision is ``argmax(k + l)``)."""
    total = sum(a)
    n = len(k)
    best = max(range(n), key=k.__getitem__)
    if m == 0:
        return 1.0 - a[best] / total
    risk = 0.0
    if m == 1:
        for c in range(n):
            decision = c if k[c] + 1.0 > k[best] else best
            hit = a[decision] + (1.0 if decision == c else 0.0)
            risk += a[c] / total * (1.0 - hit / (total + 1.0))
        return risk
    norm = total * (total + 1.0)
    for c in range(n):
        for d in range(c, n):
            # P(l = e_c + e_d) under the Dirichlet-multinomial.
            p = (a[c] * (a[c] + 1.0) if c == d else 2.0 * a[c] * a[d]) / norm
            counts = {best: k[best], c: k[c], d: k[d]}
            counts[c] += 1.0
            counts[d] += 1.0
            decision = max(counts, key=counts.__getitem__)
            hit = a[decision] + (c == decision) + (d == decision)
            risk += p * (1.0 - hit / (total + 2.0))
    return risk


def expected_gain(counts: Sequence[float], prior: float = 1e-3, m_max: int = 2) -> float:
    """The expected gain in local accuracy per label of up to ``m_max`` (1 or 2) more
    labels, given local class counts ``counts`` (McPAL's closed form for the 0-1 loss)."""
    if not 1 <= m_max <= 2:
        raise ValueError(f"m_max must be 1 or 2, got {m_max!r}")
    k = list(counts)
    if len(k) < 2:
        k += [0.0] * (2 - len(k))
    ordered = sorted(k, reverse=True)
    if ordered[0] - ordered[1] > m_max:  # no m_max labels can change the decision
        return 0.0
    a = [c + prior for c in k]
    now = _risk_after(k, a, 0)
    return max(0.0, *((now - _risk_after(k, a, m)) / m for m in range(1, m_max + 1)))


class ProbabilisticGain:
    """OPAL's utility of an event: its expected gain times the recent density at it.

    Parameters
    ----------
    bandwidth
        The Parzen window's width, in units of the typical distance between labeled items.
    size
        How many recent labeled items the frequency estimate uses.
    m_max
        The most hypothetical labels considered (1 or 2).
    prior
        The Dirichlet prior's weight on each class.

    """

    def __init__(
        self, bandwidth: float = 0.5, size: int = 300, m_max: int = 2, prior: float = 1e-3
    ):
        if not float(bandwidth) > 0.0:
            raise ValueError(f"opal bandwidth must be > 0, got {bandwidth!r}")
        if int(size) < 2:
            raise ValueError(f"opal size must be at least 2 labels, got {size!r}")
        self.bandwidth = float(bandwidth)
        self.size = int(size)
        self.m_max = int(m_max)
        self.prior = float(prior)
        self._density = DensityEstimator(size=200, k=10)
        self._features: tuple[Any, ...] | None = None
        self._rows: FloatArray = np.empty((0, 0))
        self._stored = 0
        self._next = 0
        self._scale: FloatArray = np.empty(0)

    def score(self, x: Mapping[Any, Any], proba: Proba) -> float:
        """The utility of asking ``x``'s label, given the served model's posterior."""
        n = self._frequency(x)
        counts = [n * p for p in proba.values()] if proba else [0.0, 0.0]
        return expected_gain(counts, self.prior, self.m_max) * self._density.density(x)

    def observe(self, x: Mapping[Any, Any]) -> None:
        """Account for one event in the density (every event, after :meth:`score`)."""
        self._density.update(x)

    def learn(self, x: Mapping[Any, Any], y: ClassLabel) -> None:
        """Store a labeled item for the frequency estimate."""
        if self._features is None:
            self._features = tuple(f for f, v in x.items() if isinstance(v, int | float))
            self._rows = np.zeros((self.size, len(self._features)))
        if not self._features:
            return
        self._rows[self._next] = self._vector(x)
        self._next = (self._next + 1) % self.size
        self._stored = min(self._stored + 1, self.size)
        if self._stored < self.size or self._next % 16 == 0:
            var = self._rows[: self._stored].var(axis=0)
            self._scale = np.divide(1.0, var, out=np.zeros_like(var), where=var > 0.0)

    def _vector(self, x: Mapping[Any, Any]) -> FloatArray:
        assert self._features is not None
        values = [x.get(f) for f in self._features]
        return np.array(
            [v if isinstance(v, int | float) and math.isfinite(v) else 0.0 for v in values],
            dtype=np.float64,
        )

    def _frequency(self, x: Mapping[Any, Any]) -> float:
        """``n(x)``: the kernel-weighted number of labeled items near ``x``."""
        if self._stored < 2 or self._features is None or not self._features:
            return 0.0
        diff = self._rows[: self._stored] - self._vector(x)
        d2 = np.square(diff, out=diff) @ self._scale / len(self._features)
        return float(np.exp(d2 * (-0.5 / self.bandwidth**2)).sum())

    def __repr__(self) -> str:
        return (
            f"ProbabilisticGain(bandwidth={self.bandwidth}, size={self.size}, "
            f"stored={self._stored})"
        )
