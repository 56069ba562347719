"""Online model selection: which of several candidate models serves the stream.

No fixed model wins everywhere under scarce labels: a Hoeffding tree tuned to split on a
few dozen labels wins on streams whose concept is a few axis-parallel cuts (Agrawal, RBF,
Sine) and over-splits where the boundary is oblique or the features noisy (hyperplanes,
LED), where River's default tree (a naive-Bayes leaf for the first thousands of labels)
or a linear model wins. So several candidates learn the same labels and the stream says
which should serve.

Every labeled example is predicted by every candidate *before* it learns the example
(prequential, so each prediction is out of sample), and each pair of candidates keeps a
decayed, weighted score of their disagreements: ``lead[i][j]`` sums ``w`` over the labels
``i`` got right and ``j`` wrong, minus those ``j`` got right and ``i`` wrong, ``spread[i][j]``
sums ``w**2`` over the labels they disagreed on. The weight ``w`` makes the estimate
unbiased for the stream's accuracy: only labels asked at random count (``w = 1``), or
every label with ``w = 1 / P(asked)`` (importance weighting). Candidate ``i`` replaces the
served ``s`` when it leads by ``z`` standard deviations, ``lead[i][s] > z sqrt(spread[i][s])``
(McNemar's test on the disagreements, weighted), which is the hysteresis: a candidate that
is as good as the served one never takes over, and one that took over is not replaced on
the next label. Forgetting (``memory`` labels) lets a drift change the verdict.

Examples
--------
>>> selection = ModelSelection(3, z=2.0, memory=1000)
>>> for i in range(300):
...     # candidate 2 is right 80% of the time, the others 60%, on different items
...     correct = (i % 5 < 3, (i + 1) % 5 < 3, i % 5 != 4)
...     _ = selection.observe(correct)
>>> selection.served, selection.switches
(2, 1)

"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["DEFAULT_CANDIDATES", "ModelSelection"]

# The ``auto`` model's candidates (core/candidates.py): River's own tree (a naive-Bayes
# leaf until it has thousands of labels per leaf), the tree tuned for scarce labels and a
# linear model: each wins where the others lose. The first serves until the race has
# evidence, so it is the one with the fewest parameters to fit: a few hundred labels
# estimate a naive-Bayes leaf, not a tree of cuts (docs/design.md, "Models"). Names only,
# here, where the settings read them without importing River.
DEFAULT_CANDIDATES = ("hoeffding-tree-default", "hoeffding-tree", "logistic-regression")


class ModelSelection:
    """A decayed, weighted McNemar race between ``n`` candidates; one of them serves.

    Parameters
    ----------
    n
        Number of candidates.
    z
        Standard deviations a candidate must lead the served one by to replace it.
    memory
        Labels after which a disagreement's weight has fallen to ``1/e``.
    served
        The candidate serving at the start (before any evidence).

    """

    __slots__ = ("_decay", "_lead", "_spread", "memory", "n", "served", "switches", "z")

    def __init__(self, n: int, z: float = 2.0, memory: int = 1000, served: int = 0):
        if n < 1:
            raise ValueError(f"model selection needs at least one candidate, got {n}")
        if z < 0:
            raise ValueError(f"selection z must be >= 0, got {z!r}")
        if memory < 1:
            raise ValueError(f"selection memory must be >= 1 label, got {memory!r}")
        if not 0 <= served < n:
            raise ValueError(f"served candidate {served} is not one of 0..{n - 1}")
        self.n = n
        self.z = float(z)
        self.memory = int(memory)
        self.served = served
        self.switches = 0
        self._decay = 1.0 - 1.0 / self.memory
        self._lead = [[0.0] * n for _ in range(n)]
        self._spread = [[0.0] * n for _ in range(n)]

    def observe(self, correct: Sequence[bool], weight: float = 1.0) -> bool:
        """Account for one labeled example: whether each candidate predicted it right.

        ``weight`` is the example's weight in the accuracy estimate (1 for a label asked
        at random, ``1 / P(asked)`` under importance weighting). Returns True when the
        served candidate changed.
        """
        n, decay = self.n, self._decay
        lead, spread = self._lead, self._spread
        w2 = weight * weight
        for i in range(n):
            li, si, ci = lead[i], spread[i], correct[i]
            for j in range(i + 1, n):
                li[j] *= decay
                si[j] *= decay
                if ci != correct[j]:
                    li[j] += weight if ci else -weight
                    si[j] += w2
        return self._choose()

    def _choose(self) -> bool:
        served, best, best_z = self.served, self.served, self.z
        for i in range(self.n):
            if i == served:
                continue
            lead, spread = self.lead(i, served), self.spread(i, served)
            if lead > 0 and spread > 0 and lead / math.sqrt(spread) > best_z:
                best, best_z = i, lead / math.sqrt(spread)
        if best == served:
            return False
        self.served = best
        self.switches += 1
        return True

    def lead(self, i: int, j: int) -> float:
        """How far candidate ``i`` leads ``j``: weighted wins minus losses, decayed."""
        if i == j:
            return 0.0
        return self._lead[i][j] if i < j else -self._lead[j][i]

    def spread(self, i: int, j: int) -> float:
        """The variance of :meth:`lead` under the null (weighted disagreements)."""
        if i == j:
            return 0.0
        return self._spread[min(i, j)][max(i, j)]

    def reset(self) -> None:
        """Forget the evidence (the candidates were restarted); the served one stays."""
        for row in (*self._lead, *self._spread):
            row[:] = [0.0] * self.n

    def __repr__(self) -> str:
        return f"ModelSelection(n={self.n}, served={self.served}, switches={self.switches})"
