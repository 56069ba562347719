"""scikit-activeml's side of the peer benchmark: its stream query strategies around River.

Usage: ``python bench/peers/skactiveml_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl``
(in ``bench/.venv-peers``, see ``bench/requirements-peers.txt``).

Each strategy of ``skactiveml.stream`` is built with the job's budget and seed and
otherwise its defaults (its own budget manager). It judges the same River model every
runner uses, seen through :class:`RiverClassifier`, and is driven the way the library's
stream tutorials do: ``query`` one candidate with ``fit_clf=False``, then ``update``
with the utilities (the budget manager of ``StreamProbabilisticAL`` needs them). An asked
label is learned by the River model at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from _common import Outcome, Stream, main, make_model, predicted
from river import base, compose, tree
from river.tree.nodes.branch import DTBranch
from skactiveml.base import SkactivemlClassifier
from skactiveml.stream import (
    FixedUncertainty,
    RandomVariableUncertainty,
    Split,
    StreamProbabilisticAL,
    StreamRandomSampling,
    VariableUncertainty,
)

SYSTEM = "scikit-activeml"
STRATEGIES = {
    "StreamRandomSampling": StreamRandomSampling,
    "FixedUncertainty": FixedUncertainty,
    "VariableUncertainty": VariableUncertainty,
    "RandomVariableUncertainty": RandomVariableUncertainty,
    "Split": Split,
    "StreamProbabilisticAL": StreamProbabilisticAL,
}
# Strategies whose query judges the classifier (StreamRandomSampling takes no clf).
_NEEDS_CLF = frozenset(STRATEGIES) - {"StreamRandomSampling"}
# Frequency estimates of a model without leaves (logistic regression): its probabilities
# times the labels learned so far, at most this many. A Hoeffding tree with grace period 20
# keeps tens of labels in a leaf; an uncapped count would grow with the stream and make
# every event look well known to StreamProbabilisticAL.
PSEUDO_COUNT_CAP = 20


class RiverClassifier(SkactivemlClassifier):
    """A River classifier as the ``SkactivemlClassifier`` skactiveml's strategies check for.

    The prequential loop predicts each event once, with :meth:`observe` (a second
    prediction would update an unsupervised scaler twice under
    ``compose.learn_during_predict`` and cost a second pass through the model);
    :meth:`predict_proba` and :meth:`predict_freq` then answer for that event, the one
    candidate the strategy judges.

    Parameters
    ----------
    model
        The River classifier; it learns in :meth:`learn`.
    classes
        The labels, in the column order of the probabilities.
    features
        The feature names of the columns of a candidate row (only for rows other than
        the observed event).
    """

    def __init__(
        self,
        model: base.Classifier | None = None,
        classes: Sequence[str] | None = None,
        features: Sequence[str] = (),
    ) -> None:
        super().__init__(classes=classes, missing_label=None)
        self.model = model
        self.features = features

    def observe(self, x: dict[str, float]) -> dict[str, float]:
        """Predict event ``x`` with the River model; its probabilities, as River gives them."""
        proba = self.model.predict_proba_one(x)  # type: ignore[union-attr]
        self._x = x
        self._proba = self._row(proba)[np.newaxis, :]
        return proba

    def learn(self, x: dict[str, float], y: str) -> None:
        """Learn one labeled event."""
        self.model.learn_one(x, y)  # type: ignore[union-attr]
        self.n_learned_ = getattr(self, "n_learned_", 0) + 1

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RiverClassifier:
        """Learn the rows of ``X`` one by one (incrementally: River models never refit)."""
        for row, label in zip(np.asarray(X), y, strict=True):
            if label is not None:
                self.learn(self._dict(row), label)
        return self

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities in ``classes`` order; uniform while the model knows nothing."""
        if len(X) == 1 and hasattr(self, "_proba"):
            return self._proba
        return np.stack([self._row(self.model.predict_proba_one(self._dict(r))) for r in X])  # type: ignore[union-attr]

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """The most probable class of each row."""
        return np.asarray(self.classes)[self.predict_proba(X).argmax(axis=1)]

    def predict_freq(self, X: Any) -> np.ndarray:
        """Class counts near the observed event, for ``StreamProbabilisticAL``.

        A Hoeffding tree's are the class counts of the leaf the event falls into;
        otherwise the probabilities times the labels learned (at most
        :data:`PSEUDO_COUNT_CAP`).
        """
        if len(X) != 1 or not hasattr(self, "_x"):
            raise ValueError("predict_freq answers for the observed event only")
        model = self.model
        if isinstance(model, tree.HoeffdingTreeClassifier):
            root = model._root
            if root is None:
                return np.zeros((1, len(self.classes)))  # type: ignore[arg-type]
            leaf = root.traverse(self._x, until_leaf=True) if isinstance(root, DTBranch) else root
            return self._counts(leaf.stats)[np.newaxis, :]
        n = min(getattr(self, "n_learned_", 0), PSEUDO_COUNT_CAP)
        return self._proba * n

    def _counts(self, values: Mapping[str, float]) -> np.ndarray:
        return np.array([values.get(c, 0.0) for c in self.classes], dtype=np.float64)  # type: ignore[union-attr]

    def _row(self, proba: Mapping[str, float]) -> np.ndarray:
        row = self._counts(proba)
        total = row.sum()
        # No prediction yet: every class equally likely, as skactiveml's own classifiers do.
        return row / total if total > 0 else np.full(len(row), 1.0 / len(row))

    def _dict(self, row: np.ndarray) -> dict[str, float]:
        return dict(zip(self.features, row.tolist(), strict=True))


def make_strategy(name: str, budget: float, seed: int, classes: Sequence[str]) -> Any:
    """One of :data:`STRATEGIES` with the job's budget and seed, otherwise its defaults."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    kwargs: dict[str, Any] = {"budget": budget, "random_state": seed}
    if name == "FixedUncertainty":
        kwargs["classes"] = list(classes)  # its threshold depends on the number of classes
    return STRATEGIES[name](**kwargs)


def run_job(job: dict[str, Any], stream: Stream) -> Outcome:
    """The prequential loop of one job."""
    strategy = job["strategy"]
    # skactiveml needs the classes up front: the sorted labels of the whole CSV file, the
    # only look ahead in the benchmark (stream-al and River learn classes as they come).
    clf = RiverClassifier(make_model(job["model"]), stream.classes, stream.features)
    qs = make_strategy(strategy, float(job["budget"]), int(job["seed"]), stream.classes)
    needs_clf = strategy in _NEEDS_CLF
    rows = [stream.X[i : i + 1] for i in range(len(stream.ys))]  # one-row candidate views
    correct = labels = 0
    with compose.learn_during_predict():  # the scaler of logistic regression sees every event
        start = time.perf_counter()
        for x, row, y in zip(stream.xs, rows, stream.ys, strict=True):
            if predicted(clf.observe(x)) == y:
                correct += 1
            if needs_clf:
                queried, utilities = qs.query(
                    candidates=row, clf=clf, fit_clf=False, return_utilities=True
                )
                qs.update(
                    candidates=row,
                    queried_indices=queried,
                    budget_manager_param_dict={"utilities": utilities},
                )
            else:
                queried = qs.query(candidates=row)
                qs.update(candidates=row, queried_indices=queried)
            if len(queried):
                labels += 1
                clf.learn(x, y)
        seconds = time.perf_counter() - start
    return Outcome(len(stream.ys), correct, labels, seconds)


if __name__ == "__main__":
    sys.exit(main(SYSTEM, run_job))
