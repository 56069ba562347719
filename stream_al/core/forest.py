"""River's adaptive random forest, made by the labels alone.

River makes the forest's trees on the first example it sees, a prediction or a label, and
fixes each tree's feature count (``max_features="sqrt"``) from that example's features. Serve
predicts events before its first label, and a replay of the train log predicts none; with
events of different feature counts (a null is a missing feature) the two held different
forests. Here a forest without trees predicts nothing and its first label makes them.

>>> forest = ARFClassifier(n_models=2, seed=1)
>>> forest.predict_proba_one({"a": 1.0})
{}
>>> len(forest)
0
>>> forest.learn_one({"a": 1.0, "b": 2.0, "c": 0.0, "d": 1.0}, True)
>>> len(forest), forest.max_features
(2, 2)

"""

from __future__ import annotations

from typing import Any

from river import forest

__all__ = ["ARFClassifier"]


class ARFClassifier(forest.ARFClassifier):
    """:class:`river.forest.ARFClassifier` whose trees come from its first label."""

    def predict_proba_one(self, x: dict[Any, Any], **kwargs: Any) -> dict[Any, float]:
        if len(self) == 0:  # River would make the trees from this event's features
            return {}
        return super().predict_proba_one(x, **kwargs)
