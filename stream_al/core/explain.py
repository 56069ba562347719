"""Why an item was picked: the decision's context, and for linear models the features.

A queued item carries an explanation a labeler (or an auditor) can read: which strategy
and uncertainty measure scored it, the score against the threshold, the budget in force
and whether a drift boost raised it, the drift state, and, for linear models, the
features that pushed the prediction most (weight x standardised value, for the predicted
class).

Examples
--------
>>> from stream_al.core.models import make_model
>>> model = make_model("logistic-regression")
>>> for i in range(200):
...     model.learn_one({"x": float(i % 10), "noise": float(i % 3)}, i % 10 >= 5)
>>> [name for name, _ in top_contributions(model, {"x": 9.0, "noise": 1.0}, True, k=1)]
['x']

"""

from __future__ import annotations

from typing import Any

from river import compose, linear_model, multiclass

from stream_al.core.types import ClassLabel, Features

__all__ = ["top_contributions"]


def _linear_for(model: Any, predicted: ClassLabel) -> tuple[Any, float] | None:
    """The linear model that scores ``predicted`` and the sign to read its weights with."""
    if isinstance(model, multiclass.OneVsRestClassifier):
        member = model.classifiers.get(predicted)
        return (member, 1.0) if member is not None else None
    if isinstance(model, linear_model.LogisticRegression):
        # A binary model scores True; its weights speak against a prediction of False.
        return model, 1.0 if predicted is True or predicted == 1 else -1.0
    return None


def top_contributions(
    model: Any, x: Features, predicted: ClassLabel | None, k: int = 3
) -> list[tuple[str, float]] | None:
    """The ``k`` features with the largest ``|weight x value|`` for ``predicted``.

    None for models that are not linear (or a pipeline ending in one), or before a
    prediction exists. Values are taken after the pipeline's preprocessing (so they are
    standardised or one-hot), which is what the weights multiply.
    """
    if predicted is None:
        return None
    steps: list[Any] = (
        list(model.steps.values()) if isinstance(model, compose.Pipeline) else [model]
    )
    found = _linear_for(steps[-1], predicted)
    if found is None:
        return None
    linear, sign = found
    xt: dict[Any, Any] = dict(x)
    for step in steps[:-1]:
        xt = step.transform_one(xt)
    weights = linear.weights
    parts = [
        (str(name), sign * weights.get(name, 0.0) * value)
        for name, value in xt.items()
        if isinstance(value, int | float)  # one-hot flags are bools: 1 or 0
    ]
    parts.sort(key=lambda p: abs(p[1]), reverse=True)
    return [(name, round(float(c), 6)) for name, c in parts[:k]]
