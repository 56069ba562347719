"""What the River-based peer runners share: CSV streams, the model, the job loop.

A runner (``skactiveml_peer.py``, ``river_peer.py``) supplies one function that runs a
job on a loaded stream and returns an :class:`Outcome`; :func:`main` does the rest
through :func:`jobs.run_jobs` (reading the jobs, resuming, one JSON line per job).
The runners are started as scripts, so their directory is on ``sys.path`` and they
import this module as ``_common``.

The prequential protocol is the same for every system: each event is predicted first
(no prediction counts as wrong), then the strategy decides, and an asked label is
learned at once.

Examples
--------
>>> predicted({"a": 0.2, "b": 0.8}), predicted({})
('b', None)

"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobs import read_csv, run_jobs
from river import base, compose, linear_model, multiclass, preprocessing, tree

__all__ = ["Outcome", "Stream", "load_stream", "main", "make_model", "stream_of"]

# stream-al's settings for scarce labels (stream_al.core.models.TREE_PARAMS): River's
# defaults wait for thousands of labels per leaf before the first split.
TREE_PARAMS: dict[str, Any] = {
    "split_criterion": "gini",
    "grace_period": 20,
    "delta": 0.2,
    "tau": 0.1,
}


@dataclass(frozen=True)
class Stream:
    """A labeled stream read from CSV, in both forms the peers need.

    Attributes
    ----------
    features
        The feature names, in CSV order.
    xs
        One ``{feature: value}`` dict per event (River's input).
    X
        The same values as a ``(n_events, n_features)`` float array (scikit-activeml's).
    ys
        The labels, as the strings the CSV holds.
    classes
        The sorted set of labels of the whole file.
    """

    features: tuple[str, ...]
    xs: list[dict[str, float]]
    X: np.ndarray
    ys: list[str]
    classes: tuple[str, ...]

    def head(self, n: int | None) -> Stream:
        """The first ``n`` events (all of them if ``n`` is None); ``classes`` unchanged."""
        if n is None or n >= len(self.ys):
            return self
        return Stream(self.features, self.xs[:n], self.X[:n], self.ys[:n], self.classes)


@dataclass
class Outcome:
    """What a runner measured on one job: counts over the loop and its wall time."""

    n_events: int
    correct: int
    labels: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


_loaded: dict[tuple[str, str], Stream] = {}


def load_stream(path: str, target: str = "target") -> Stream:
    """Read a CSV stream (every column but ``target`` a float); the last file is cached.

    Parameters
    ----------
    path
        The CSV file, with a header row.
    target
        The label column; its values stay strings.
    """
    key = (path, target)
    if key in _loaded:
        return _loaded[key]
    stream = stream_of(*read_csv(path, target))
    _loaded.clear()  # jobs come grouped by file: one stream in memory is enough
    _loaded[key] = stream
    return stream


def stream_of(names: list[str], rows: list[list[float]], ys: list[str]) -> Stream:
    """A :class:`Stream` from :func:`jobs.read_csv`'s feature names, rows and labels."""
    features = tuple(names)
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))
    xs = [dict(zip(features, row, strict=True)) for row in rows]
    return Stream(features, xs, X, ys, tuple(sorted(set(ys))))


def make_model(name: str) -> base.Classifier:
    """A fresh River classifier, the same one stream-al and every River-based peer use.

    ``logistic-regression`` standardises the features first; its scaler is unsupervised
    and must see every event, so runners predict under ``compose.learn_during_predict``.
    """
    if name == "hoeffding-tree":
        return tree.HoeffdingTreeClassifier(**TREE_PARAMS)
    if name == "hoeffding-tree-default":  # River's own settings
        return tree.HoeffdingTreeClassifier()
    if name == "logistic-regression":
        lr = multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
        model: base.Classifier = compose.Pipeline(preprocessing.StandardScaler(), lr)  # type: ignore[assignment]
        return model
    raise ValueError(
        f"unknown model {name!r}; choose hoeffding-tree, hoeffding-tree-default or "
        "logistic-regression"
    )


def predicted(proba: Mapping[Any, float]) -> Any:
    """River's ``predict_one`` from a ``predict_proba_one``: the most probable label or None."""
    return max(proba, key=proba.__getitem__) if proba else None


def _result(job: dict[str, Any], system: str, outcome: Outcome) -> dict[str, Any]:
    n = outcome.n_events
    return {
        **job,
        "system": system,
        "accuracy": outcome.correct / n,
        "labels": outcome.labels,
        "label_fraction": outcome.labels / n,
        "n_events": n,
        "seconds": outcome.seconds,
        "us_per_event": outcome.seconds * 1e6 / n,
        **outcome.extra,
    }


def _run_one(job: dict[str, Any], run: Callable[[dict[str, Any], Stream], Outcome]) -> Outcome:
    for name in ("csv", "model", "strategy", "budget", "seed"):
        if name not in job:
            raise ValueError(f"the job has no {name!r}")
    if job.get("delay"):
        raise ValueError("the peers' runners learn every asked label at once (delay 0 only)")
    stream = load_stream(job["csv"], job.get("target", "target")).head(job.get("max_events"))
    if not stream.ys:
        raise ValueError(f"{job['csv']} has no events")
    return run(job, stream)


def main(
    system: str, run: Callable[[dict[str, Any], Stream], Outcome], argv: list[str] | None = None
) -> int:
    """The command line of a River-based runner (see :func:`jobs.run_jobs`)."""
    return run_jobs(system, lambda job: _result(job, system, _run_one(job, run)), argv)
