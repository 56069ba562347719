"""What the River-based peer runners share: CSV streams, the model, the job loop.

A runner (``skactiveml_peer.py``, ``river_peer.py``) supplies one function that runs a
job on a loaded stream and returns an :class:`Outcome`; :func:`main` does the rest:
reads the jobs, skips those already in the results file, writes one JSON line per job as
soon as it ends (an ``error`` line if it failed) and prints one progress line to stderr.
The runners are started as scripts, so their directory is on ``sys.path`` and they
import this module as ``_common``.

The prequential protocol is the same for every system: each event is predicted first
(no prediction counts as wrong), then the strategy decides, and an asked label is
learned at once.

Examples
--------
>>> predicted({"a": 0.2, "b": 0.8}), predicted({})
('b', None)
>>> job_key({"stream": "s", "csv": "s.csv", "model": "m", "budget": 0.1, "extra": 1})
'[null, "s", "s.csv", "m", null, 0.1, null, null]'

"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from river import base, compose, linear_model, multiclass, preprocessing, tree

__all__ = ["JOB_KEYS", "Outcome", "Stream", "job_key", "load_stream", "main", "make_model"]

# A job's identity (the same keys as bench/run_peers.py): a result with these values is
# that job's result, whatever else it records.
JOB_KEYS = (
    "system",
    "stream",
    "csv",
    "target",
    "model",
    "strategy",
    "budget",
    "seed",
    "max_events",
)

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
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        if target not in header:
            raise ValueError(f"{path} has no column {target!r}")
        t = header.index(target)
        features = tuple(h for i, h in enumerate(header) if i != t)
        rows: list[list[float]] = []
        ys: list[str] = []
        for record in reader:
            ys.append(record[t])
            rows.append([float(v) for i, v in enumerate(record) if i != t])
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))
    xs = [dict(zip(features, row, strict=True)) for row in rows]
    stream = Stream(features, xs, X, ys, tuple(sorted(set(ys))))
    _loaded.clear()  # jobs come grouped by file: one stream in memory is enough
    _loaded[key] = stream
    return stream


def make_model(name: str) -> base.Classifier:
    """A fresh River classifier, the same one stream-al and every River-based peer use.

    ``logistic-regression`` standardises the features first; its scaler is unsupervised
    and must see every event, so runners predict under ``compose.learn_during_predict``.
    """
    if name == "hoeffding-tree":
        return tree.HoeffdingTreeClassifier(**TREE_PARAMS)
    if name == "logistic-regression":
        lr = multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
        model: base.Classifier = compose.Pipeline(preprocessing.StandardScaler(), lr)  # type: ignore[assignment]
        return model
    raise ValueError(f"unknown model {name!r}; choose hoeffding-tree or logistic-regression")


def predicted(proba: Mapping[Any, float]) -> Any:
    """River's ``predict_one`` from a ``predict_proba_one``: the most probable label or None."""
    return max(proba, key=proba.__getitem__) if proba else None


def job_key(job: Mapping[str, Any]) -> str:
    """The identity of a job (or of the result line that records it)."""
    return json.dumps([job.get(k) for k in JOB_KEYS])


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
    stream = load_stream(job["csv"], job.get("target", "target")).head(job.get("max_events"))
    if not stream.ys:
        raise ValueError(f"{job['csv']} has no events")
    return run(job, stream)


def main(
    system: str, run: Callable[[dict[str, Any], Stream], Outcome], argv: list[str] | None = None
) -> int:
    """The command line of a runner: ``--jobs JOBS.jsonl --out RESULTS.jsonl``.

    Jobs with a result in ``--out`` are skipped; those recorded with an ``error`` run
    again (the report leaves error lines out). Returns 0 once every job ran, 2 for bad
    arguments.
    """
    parser = argparse.ArgumentParser(description=f"{system}'s runner for the peer benchmark")
    parser.add_argument("--jobs", type=Path, required=True, help="one JSON job per line")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    try:
        lines = args.jobs.read_text(encoding="utf-8").splitlines()
        jobs = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read the jobs: {exc}")  # exits with 2
    if not all(isinstance(job, dict) for job in jobs):
        parser.error("every line of --jobs must be a JSON object")
    done: set[str] = set()
    if args.out.exists():
        for line in args.out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                result = json.loads(line)
                if "error" not in result:
                    done.add(job_key(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as out:
        for i, job in enumerate(jobs, 1):
            if job_key({**job, "system": system}) in done:
                continue
            try:
                result = _result(job, system, _run_one(job, run))
                what = (
                    f"accuracy {result['accuracy']:.4f}, labels {result['label_fraction']:.3f}, "
                    f"{result['us_per_event']:.0f} us/event"
                )
            except Exception as exc:  # one broken job must not end the run
                result = {**job, "system": system, "error": f"{type(exc).__name__}: {exc}"}
                what = result["error"]
            out.write(json.dumps(result) + "\n")
            out.flush()
            print(
                f"{system} {i}/{len(jobs)} {job.get('stream')} {job.get('model')} "
                f"{job.get('strategy')} b={job.get('budget')} s{job.get('seed')}: {what}",
                file=sys.stderr,
                flush=True,
            )
    return 0
