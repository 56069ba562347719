"""What the model says about an event, and about a batch of them: :class:`Assessing`, the
part of :class:`~stream_al.core.learner.ActiveLearner` that predicts and scores.

:meth:`Assessing.assess` gives one event's prediction, probabilities and uncertainty;
:meth:`Assessing.assess_many` gives a batch's, the same answers, at once where the model
allows it: a plain Hoeffding tree routes the batch's events through its branches first,
then each naive-Bayes leaf scores its events with its terms read once
(:meth:`~stream_al.core.tree_predict.TreePredictor.proba_many`). Nothing is learned while
a batch is decided, so a batch assessed at once and decided event by event is decided as
one event at a time (docs/design.md, "Throughput").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream_al.core.committee import disagreement
from stream_al.core.tree_predict import TreePredictor, writing_nothing
from stream_al.core.types import ClassLabel, Features, Proba
from stream_al.core.uncertainty import leaf_impurity, stats_impurity

__all__ = ["Assessing", "Assessment"]

Assessment = tuple[ClassLabel | None, Proba, float]
"""``(prediction, proba, score)``: what :meth:`Assessing.assess` gives for an event."""


class Assessing:
    """Prediction and uncertainty, for the learner (whose ``__init__`` sets these)."""

    _model: Any
    _fused: bool
    _leaf: bool
    _plain_tree: bool
    _committee: str | None
    _least_confidence: bool
    _measure: Any
    _opal: Any  # OPAL's gain (stream_al.core.opal), or None

    def _tree_proba(self, model: Any, x: Features) -> tuple[Proba, float]:
        raise NotImplementedError

    def _predict_proba(self, model: Any, x: Features) -> Proba:
        raise NotImplementedError

    def _tree_predictor(self) -> TreePredictor:
        raise NotImplementedError

    def assess(self, x: Features) -> Assessment:
        """``(prediction, proba, score)`` for ``x``: the uncertainty :meth:`decide` acts on,
        with nothing decided, spent or monitored (pool selection ranks items with it).

        >>> from stream_al.core.learner import ActiveLearner
        >>> learner = ActiveLearner("gaussian-nb", "variable-uncertainty", budget=0.1)
        >>> learner.assess({"x": 1.0})  # no label seen yet: no idea, fully uncertain
        (None, {}, 1.0)

        """
        model = self._model
        if self._fused:
            proba, score = self._tree_proba(model, x)
        else:
            proba = self._predict_proba(model, x)
        if not proba:
            return None, proba, 1.0
        prediction = max(proba, key=proba.__getitem__)
        if self._fused:
            pass
        elif self._leaf:
            score = leaf_impurity(model, x)
        elif self._committee is not None:
            with writing_nothing:
                score = disagreement(model, x, self._committee)
        elif self._opal is not None:
            score = self._opal.score(x, proba)
        elif self._least_confidence:
            score = 1.0 - proba[prediction]  # falls out of the argmax: no second pass
        else:
            score = self._measure(proba)
        return prediction, proba, score

    def assess_many(self, xs: Sequence[Features]) -> list[Assessment] | None:
        """:meth:`assess` of each of ``xs``, equal to one call each, for a plain Hoeffding
        tree (its leaves score their events together); None for any other model (a
        prediction may change it, e.g. a pipeline's scaler) or with OPAL's gain (its
        density follows each decided event): assess one by one.

        >>> from stream_al.core.learner import ActiveLearner
        >>> learner = ActiveLearner("hoeffding-tree", "variable-uncertainty")
        >>> xs = [{"x": float(i % 7)} for i in range(60)]
        >>> for x in xs[:30]:
        ...     _ = learner.learn(x, x["x"] > 3)
        >>> learner.assess_many(xs) == [learner.assess(x) for x in xs]
        True
        >>> ActiveLearner("gaussian-nb").assess_many(xs) is None
        True

        """
        if not self._plain_tree or self._committee is not None or self._opal is not None:
            return None
        results: list[Assessment] = []
        impurity: dict[int, float] = {}  # per leaf: it does not change within the batch
        for proba, leaf in self._tree_predictor().proba_many(self._model, xs):
            if not proba:
                results.append((None, proba, 1.0))
                continue
            prediction = max(proba, key=proba.__getitem__)
            if self._fused:
                score = impurity.get(id(leaf), -1.0)
                if score < 0.0:
                    score = impurity[id(leaf)] = 1.0 if leaf is None else stats_impurity(leaf.stats)
            elif self._least_confidence:
                score = 1.0 - proba[prediction]
            else:
                score = self._measure(proba)
            results.append((prediction, proba, score))
        return results
