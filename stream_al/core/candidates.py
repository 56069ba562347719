"""Candidate models learning the same labels, one of which serves: the ``auto`` model.

:class:`Candidates` holds the models and the race that picks the served one
(:class:`~stream_al.core.selection.ModelSelection`). The learner predicts every event with
the served model only; the others predict and learn the labeled items only, so an event
costs what it costs with one model, and a label costs one prediction and one update per
candidate. See docs/design.md, "Models".

It is a River classifier too (``predict_proba_one`` is the served model's, ``learn_one``
teaches every candidate), so it can be cloned, pickled and digested like any model; the
learner reaches into it for the race (:meth:`race`) and for the served model's fast paths.

Examples
--------
>>> from river.datasets import synth
>>> from stream_al.core.models import make_model
>>> auto = Candidates(make_model, ("hoeffding-tree", "logistic-regression"), seed=0)
>>> for x, y in synth.Hyperplane(seed=1, n_features=10).take(2_000):
...     _ = auto.race(x, y, at_random=False)
>>> auto.served_name
'logistic-regression'

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

from river import base

from stream_al.core.drift import Challenger, DriftReaction
from stream_al.core.selection import DEFAULT_CANDIDATES, ModelSelection
from stream_al.core.types import ClassLabel, Features, Proba

__all__ = ["DEFAULT_CANDIDATES", "Candidates", "SelectionLabels", "ServedAt", "challenged"]


SelectionLabels = Literal["random", "all"]
ServedAt = Literal["question", "label"]

Predict = Callable[[base.Classifier, Features], ClassLabel | None]
Learn = Callable[[base.Classifier, Features, ClassLabel], None]


def challenged(challengers: bool | Literal["auto"], every_label: bool) -> bool:
    """Whether the candidates that do not serve have challengers: ``challengers``, where
    ``"auto"`` means with every label.

    >>> challenged("auto", True), challenged("auto", False), challenged(True, False)
    (True, False, True)

    """
    return every_label if challengers == "auto" else bool(challengers)


class Candidates(base.Classifier):
    """Several models learning the same labels; the one with the best accuracy serves.

    Parameters
    ----------
    make
        ``make(name, seed)``: a fresh model of a name (``stream_al.core.models.make_model``,
        which builds this class for the model name ``auto``).
    names
        Model names (see :mod:`stream_al.core.models`); the first serves until the race
        says otherwise.
    seed
        Seeds the models that draw random numbers.
    z
        How many standard deviations a candidate must lead the served one by before it
        takes over (see :class:`~stream_al.core.selection.ModelSelection`).
    memory
        Labels of the race's memory (older disagreements fade).
    labels
        Which labels judge the race: ``"all"``, or ``"random"``, only those asked at random
        (an unbiased sample of the stream, but a strategy without a random part has none,
        and ``split`` at a 2% budget too few; see docs/design.md, "Models").
    served_at
        When the served model's prediction is judged: ``"question"``, the one it made when
        the item was asked (the learner passes it), or ``"label"``, its prediction when
        the label is learned, as the other candidates are judged. With labels that come
        late the first is the staler, so the race leans towards switching (docs/design.md,
        "Models").
    challengers
        Whether each candidate that does not serve has a challenger of its own kind, once
        the learner says how (:meth:`challenge`, with the drift reaction's settings):
        ``True``, ``False``, or ``"auto"``, when the learner labels every event (a gain
        there on issue 16's tuning half; at budgets up to 0.2 it put one more stream
        significantly below random sampling, docs/design.md "Models").

    """

    served_at: ServedAt = "question"  # for snapshots made before the option existed
    # How the candidates that do not serve are challenged, see challenge() (None: they are
    # not, as in snapshots made before they could be).
    challengers: bool | Literal["auto"] = False
    _challenge: DriftReaction | None = None

    def __init__(
        self,
        make: Callable[[str, int | None], base.Classifier],
        names: Sequence[str] = DEFAULT_CANDIDATES,
        seed: int | None = None,
        z: float = 2.0,
        memory: int = 1000,
        labels: SelectionLabels = "all",
        served_at: ServedAt = "question",
        challengers: bool | Literal["auto"] = "auto",
    ):
        names = tuple(names)
        if not names or "auto" in names:
            raise ValueError(f"candidates must be model names other than 'auto', got {names!r}")
        if labels not in ("random", "all"):
            raise ValueError(f"selection labels must be 'random' or 'all', got {labels!r}")
        if served_at not in ("question", "label"):
            raise ValueError(f"served_at must be 'question' or 'label', got {served_at!r}")
        if challengers not in (True, False, "auto"):
            raise ValueError(f"challengers must be true, false or 'auto', got {challengers!r}")
        self.make = make
        self.names = names
        self.seed = seed
        self.z = z
        self.memory = memory
        self.labels: SelectionLabels = labels
        self.served_at: ServedAt = served_at
        self.challengers = challengers
        self.members: list[base.Classifier] = [make(n, seed) for n in names]
        self.selection = ModelSelection(len(names), z=z, memory=memory)
        self._challengers: dict[int, Challenger] = {}

    @property
    def served(self) -> int:
        """The index of the candidate that serves."""
        return self.selection.served

    @property
    def served_name(self) -> str:
        return self.names[self.selection.served]

    @property
    def _multiclass(self) -> bool:
        return True

    def fresh(self, index: int) -> base.Classifier:
        """A new, untrained model of candidate ``index``'s kind."""
        return self.make(self.names[index], self.seed)

    def restart(self) -> None:
        """Every candidate starts afresh (a drift); the race forgets its evidence."""
        self.members = [self.fresh(i) for i in range(len(self.names))]
        self.selection.reset()
        self._challengers = {}

    def challenge(self, reaction: DriftReaction, every_label: bool = False) -> None:
        """Give each candidate that does not serve a challenger of its own kind.

        The served model has the learner's challenger (:class:`~stream_al.core.drift.
        Challenger`), which replaces a model whose first structure was chosen on too few
        labels; without one of their own, the others would keep such a structure until
        they serve, and the race would judge them by it. Their settings are the served
        one's (``reaction.challenger_*``). Nothing changes unless ``challengers`` is true,
        or ``"auto"`` and the learner labels ``every_label``.
        """
        if challenged(self.challengers, every_label):
            self._challenge = reaction

    def race(
        self,
        x: Features,
        y: ClassLabel,
        at_random: bool,
        predict: Predict | None = None,
        learn: Learn | None = None,
        served_correct: bool | None = None,
    ) -> bool:
        """Every candidate predicts ``x``; those that do not serve learn ``(x, y)``.

        The served model is left to the caller (it learns through the drift reaction);
        ``served_correct`` is whether its prediction when the item was asked was right
        (None, or ``served_at="label"``: it predicts ``x`` now). Returns True when another
        candidate serves from now on.
        """
        predict = predict or _predict
        learn = learn or _learn
        counted = at_random or self.labels == "all"
        challenge = self._challenge
        correct = []
        served = self.selection.served
        if self.served_at == "label":
            served_correct = None
        for i, model in enumerate(self.members):
            if i == served:
                if counted:
                    right = served_correct
                    correct.append(predict(model, x) == y if right is None else right)
                continue
            right = predict(model, x) == y if counted or challenge else False
            if counted:
                correct.append(right)
            if challenge is not None:
                challenger = self._challengers.get(i)
                if challenger is None:
                    challenger = challenge.challenger(partial(self.fresh, i), predict, learn)
                    self._challengers[i] = challenger
                winner = challenger.observe(x, y, right)
                if winner is not None:  # it has learned (x, y) already
                    self.members[i] = winner
                    continue
            learn(model, x, y)
        switched = counted and self.selection.observe(correct)
        if switched and challenge is not None:
            # The new served model is the learner's to challenge.
            self._challengers.pop(self.selection.served, None)
        return switched

    def learn_one(self, x: dict[Any, Any], y: ClassLabel, **kwargs: Any) -> None:
        served = self.members[self.served]
        self.race(x, y, at_random=True)
        _learn(served, x, y)

    def predict_proba_one(self, x: dict[Any, Any], **kwargs: Any) -> Proba:
        return self.members[self.served].predict_proba_one(x)

    def __repr__(self) -> str:
        return f"Candidates({', '.join(self.names)}; serving {self.served_name})"

    def __str__(self) -> str:
        return f"Candidates({', '.join(self.names)})"


def _predict(model: base.Classifier, x: Features) -> ClassLabel | None:
    proba = model.predict_proba_one(x)
    return max(proba, key=proba.__getitem__) if proba else None


def _learn(model: base.Classifier, x: Features, y: ClassLabel) -> None:
    model.learn_one(x, y)
