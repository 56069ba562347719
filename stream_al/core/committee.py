"""Query by committee: ask where the members of an ensemble disagree.

The committee is the members of a River ensemble (``ensemble.BaggingClassifier`` and its
ADWIN and leveraging variants, ``forest.ARFClassifier``, any ``base.Ensemble``
classifier), possibly at the end of a ``compose.Pipeline``, or a configured
:class:`Committee` of different models. Two measures map the members' predictions to a
score in [0, 1], **higher meaning more disagreement**, usable wherever an uncertainty
score is:

- **vote entropy**: the entropy of the members' votes (each member's most likely class),
  divided by its largest possible value, ``log min(members, classes)``. It is 0 when all
  members vote alike and 1 when the votes are spread as evenly as the classes allow. With
  10 members and 2 classes, 9 against 1 scores 0.47, 8 against 2 scores 0.72.
- **KL to the consensus**: the mean Kullback-Leibler divergence of each member's
  distribution to their mean, the consensus. This mean is the generalised Jensen-Shannon
  divergence, which is at most ``log min(members, classes)``; it is divided by that bound,
  so it too is 0 when all members predict the same distribution and 1 only when they are
  certain of classes as different as possible. Unlike vote entropy it sees members that
  agree on the vote but not on how sure they are.

A class a member does not predict has probability 0 for it. No epsilon is needed: the
consensus gives every class some member predicts at least ``p / members``, so each
divergence is finite. Members with an empty prediction (nothing learned yet) are left
out; every distribution is normalised to sum 1.

:func:`disagreement` scores a model: with fewer than two members that predict anything,
or fewer than two classes between them, the committee has learned nothing to disagree
about, and the event scores 1 (maximally uncertain, as in :mod:`stream_al.core.uncertainty`);
a score of 0 there would starve a committee of the very labels it needs to start.

The consensus is the plain mean of the members' distributions, also for an adaptive
random forest, which weighs its trees by their accuracy when it predicts.

References
----------
Seung, H. S., Opper, M., Sompolinsky, H. (1992). Query by committee. COLT.
McCallum, A., Nigam, K. (1998). Employing EM and pool-based active learning for text
classification. ICML.

Examples
--------
>>> from stream_al.core import committee
>>> committee.vote_entropy(["spam", "spam", "spam"])
0.0
>>> committee.vote_entropy(["spam", "ham", "spam", "ham"])
1.0
>>> round(committee.kl_to_consensus([{"spam": 0.9, "ham": 0.1}, {"spam": 0.2, "ham": 0.8}]), 3)
0.397

"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from river import base, compose
from river.utils.random import poisson

__all__ = [
    "MEASURES",
    "Committee",
    "disagreement",
    "kl_to_consensus",
    "member_probas",
    "members",
    "score",
    "vote_entropy",
]

Proba = Mapping[Any, float]

MEASURES = ("vote-entropy", "kl")


def vote_entropy(votes: Sequence[Hashable], n_classes: int | None = None) -> float:
    """Entropy of the votes divided by ``log min(len(votes), n_classes)``, in [0, 1].

    ``n_classes`` is the number of classes the members could vote for; by default the
    number of distinct votes. 0 when all votes agree (or fewer than two are cast).
    """
    m = len(votes)
    counts = Counter(votes)
    c = max(len(counts), n_classes or 0)
    bound = min(m, c)
    if bound < 2 or len(counts) < 2:
        return 0.0
    h = -sum(n / m * math.log(n / m) for n in counts.values())
    return min(1.0, h / math.log(bound))


def _normalised(probas: Sequence[Proba]) -> list[dict[Any, float]]:
    """The non-empty distributions, each scaled to sum 1."""
    out = []
    for p in probas:
        total = sum(p.values()) if p else 0.0
        if total > 0.0:
            out.append({c: q / total for c, q in p.items()})
    return out


def _consensus(probas: Sequence[Mapping[Any, float]]) -> dict[Any, float]:
    mean: dict[Any, float] = {}
    for p in probas:
        for c, q in p.items():
            mean[c] = mean.get(c, 0.0) + q
    m = len(probas)
    return {c: q / m for c, q in mean.items()}


def kl_to_consensus(probas: Sequence[Proba]) -> float:
    """Mean KL divergence of each distribution to their mean, divided by its bound
    ``log min(members, classes)``, in [0, 1] (see the module docstring).

    Empty distributions are skipped; with fewer than two left, or fewer than two classes,
    it is 0.
    """
    return _kl(_normalised(probas))


def _kl(usable: list[dict[Any, float]]) -> float:
    m = len(usable)
    if m < 2:
        return 0.0
    consensus = _consensus(usable)
    bound = min(m, len(consensus))
    if bound < 2:
        return 0.0
    kl = 0.0
    for p in usable:
        for c, q in p.items():
            if q > 0.0:  # 0 log 0 = 0; and consensus[c] >= q / m > 0
                kl += q * math.log(q / consensus[c])
    return min(1.0, max(0.0, kl / m / math.log(bound)))


def score(probas: Sequence[Proba], measure: str = "vote-entropy") -> float:
    """The disagreement of the members' distributions ``probas`` by ``measure``, 1 when
    fewer than two members predict anything or they know fewer than two classes."""
    if measure not in MEASURES:
        raise ValueError(
            f"unknown disagreement measure {measure!r}; choose one of: {', '.join(MEASURES)}"
        )
    usable = _normalised(probas)
    classes = {c for p in usable for c in p}
    if len(usable) < 2 or len(classes) < 2:
        return 1.0
    if measure == "kl":
        return _kl(usable)
    # The vote is River's prediction: the first most likely class.
    votes = [max(p, key=p.__getitem__) for p in usable]
    return vote_entropy(votes, n_classes=len(classes))


class Committee(base.Classifier):
    """A configured set of classifiers that learn the same labels; predicts their mean.

    Parameters
    ----------
    models
        Two or more classifiers (or pipelines ending in one). The members are fresh
        clones of them, as in River's ensembles, so the configured models stay untrained.
    bootstrap
        Each member learns each label ``k ~ Poisson(1)`` times (online bagging, Oza 2005)
        instead of once. That makes members of the same kind differ; different kinds of
        models differ anyway and then need not lose the labels of ``k = 0`` (37% of them
        per member), which is why it is off by default.
    seed
        Seeds the bootstrap draws.

    Examples
    --------
    >>> from river import naive_bayes, tree
    >>> model = Committee([naive_bayes.GaussianNB(), tree.HoeffdingTreeClassifier()])
    >>> for i in range(40):
    ...     model.learn_one({"x": float(i)}, i >= 20)
    >>> model.predict_one({"x": 35.0})
    True
    >>> len(members(model)), members(model)[0] is not model.models[0]
    (2, True)

    """

    def __init__(
        self,
        models: Sequence[base.Classifier | compose.Pipeline],
        bootstrap: bool = False,
        seed: int | None = None,
    ):
        if len(models) < 2:
            raise ValueError(f"a committee needs at least 2 models, got {len(models)}")
        self.models = list(models)
        self.bootstrap = bootstrap
        self.seed = seed
        self._rng = random.Random(seed)
        self.members: list[base.Classifier | compose.Pipeline] = [m.clone() for m in self.models]

    @property
    def _multiclass(self) -> bool:
        return all(getattr(m, "_multiclass", False) for m in self.models)

    def learn_one(self, x: dict[Any, Any], y: Any) -> None:
        for member in self.members:
            for _ in range(poisson(1.0, self._rng) if self.bootstrap else 1):
                member.learn_one(x, y)

    def predict_proba_one(self, x: dict[Any, Any], **kwargs: Any) -> dict[Any, float]:
        usable = _normalised([m.predict_proba_one(x, **kwargs) for m in self.members])
        return _consensus(usable) if usable else {}


def _final_step(model: Any) -> tuple[list[Any], Any]:
    """The transformers a pipeline applies before its final step, and that step."""
    transformers: list[Any] = []
    while isinstance(model, compose.Pipeline):
        steps = list(model.steps.values())
        transformers.extend(steps[:-1])
        model = steps[-1]
    return transformers, model


def _members_of(final: Any, model: Any) -> list[Any]:
    if isinstance(final, Committee):
        return list(final.members)
    if isinstance(final, base.Ensemble) and isinstance(final, base.Classifier):
        # A forest makes its trees on its first example (stream-al's, core/forest.py, on
        # its first label): before that there are none.
        return list(final)
    raise ValueError(
        f"model {model} is not an ensemble; choose adaptive-random-forest or bagging, "
        "or configure committee members"
    )


def members(model: Any) -> list[base.Classifier]:
    """The members of an ensemble classifier or :class:`Committee`, also at the end of a
    pipeline (whose earlier steps they then expect applied, see :func:`member_probas`).

    Raises ``ValueError`` for a model that is not an ensemble.
    """
    return _members_of(_final_step(model)[1], model)


def member_probas(model: Any, x: Mapping[Any, Any]) -> list[dict[Any, float]]:
    """Each member's predicted distribution for ``x``, after the transformers of a
    pipeline (``transform_one`` only: no step learns from ``x`` here)."""
    transformers, final = _final_step(model)
    found = _members_of(final, model)
    for t in transformers:
        x = t.transform_one(x)
    return [m.predict_proba_one(x) for m in found]


def disagreement(model: Any, x: Mapping[Any, Any], measure: str = "vote-entropy") -> float:
    """How much the members of ``model`` disagree on ``x``, in [0, 1] (see :func:`score`).

    ``measure`` is ``"vote-entropy"`` or ``"kl"`` (mean KL divergence to the consensus).

    Examples
    --------
    >>> import random
    >>> from river import ensemble, tree
    >>> model = ensemble.BaggingClassifier(tree.HoeffdingTreeClassifier(), seed=1)
    >>> disagreement(model, {"x": 1.0})  # nothing learned yet
    1.0
    >>> rng = random.Random(0)
    >>> for _ in range(300):
    ...     x = rng.uniform(-5, 5)
    ...     model.learn_one({"x": x}, x + rng.gauss(0, 1) > 0)
    >>> disagreement(model, {"x": -4.0}), disagreement(model, {"x": 0.0})
    (0.0, 1.0)
    >>> [round(disagreement(model, {"x": x}, "kl"), 2) for x in (-4.0, 0.0)]
    [0.06, 0.26]

    """
    if measure not in MEASURES:
        raise ValueError(
            f"unknown disagreement measure {measure!r}; choose one of: {', '.join(MEASURES)}"
        )
    return score(member_probas(model, x), measure)
