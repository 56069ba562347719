"""Run MOA's stream active-learning classifiers prequentially on CSV streams (via capymoa).

Usage::

    bench/.venv-moa/bin/python bench/peers/moa_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl

Each line of JOBS is a job (``stream``, ``csv``, ``target``, ``model``, ``strategy``,
``budget``, ``seed``, ``max_events``, ``delay``: 0 only); each finished job appends one line
to RESULTS: the job, ``system: "moa"``, the MOA command line it ran (``learner``),
``accuracy`` over every event, the ``labels`` MOA acquired, ``label_fraction``,
``n_events``, the wall time of the prequential loop (``seconds``, ``us_per_event``), or an
``error``. A job already in RESULTS without an error is skipped, so a run resumes where it
stopped.

Strategies: ``FixedUncertainty``, ``VarUncertainty``, ``RandVarUncertainty`` and
``SelSampling`` are ``moa.classifiers.active.ALUncertainty`` (``-d``, budget ``-b``, other
options MOA's defaults); ``ALRandom`` is ``moa.classifiers.active.ALRandom`` with a
``FixedBM`` budget manager; ``full`` is the base learner given every label. An AL
classifier decides inside ``trainOnInstance`` whether it acquires the label; the count is
MOA's own (``ALClassifier.getLastLabelAcqReport``: the labels since the last call).

Every event is predicted first (no votes, or only zero votes, is no prediction and counts
as wrong), then handed with its label to the classifier's training step. MOA needs the
class set in the instances' header before the first event, so it is read up front: the
sorted labels of the whole file. capymoa starts the JVM when imported, with the MOA jar
that its wheel ships (``capymoa/jar/moa.jar``; ``CAPYMOA_MOA_JAR`` and
``CAPYMOA_JVM_ARGS`` override the jar and the JVM options): nothing is downloaded.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jobs import read_csv, run_jobs

# stream-al's Hoeffding tree settings (stream_al.core.models.TREE_PARAMS) in MOA's words:
# gini, grace period 20, delta 0.2, tau 0.1; the leaves predict with adaptive naive Bayes
# and numeric features use the Gaussian observer, MOA's defaults and River's alike.
# SGD is MOA's logistic regression (binary classes only), with River's LogisticRegression
# defaults: learning rate 0.01 (MOA's is 1e-4) and no L2 penalty. hoeffding-tree-default
# is MOA's tree as it comes (grace period 200, delta 1e-7, tau 0.05, information gain).
BASE_LEARNERS = {
    "hoeffding-tree": "trees.HoeffdingTree -g 20 -c 0.2 -t 0.1 -s GiniSplitCriterion",
    "hoeffding-tree-default": "trees.HoeffdingTree",  # MOA's own settings
    "logistic-regression": "functions.SGD -o LOGLOSS -r 0.01 -l 0.0",
}
UNCERTAINTY = ("FixedUncertainty", "VarUncertainty", "RandVarUncertainty", "SelSampling")
STRATEGIES = (*UNCERTAINTY, "ALRandom", "full")


@dataclass(frozen=True)
class Data:
    """A CSV stream as MOA instances.

    Attributes
    ----------
    schema
        capymoa's schema: the features, then the target as a nominal class.
    instances
        One MOA ``InstanceExample`` per row, labeled.
    labels
        Each row's class index.
    classes
        The class values, sorted; a label's index is its position here.
    """

    schema: Any
    instances: list[Any]
    labels: list[int]
    classes: tuple[str, ...]


_loaded: dict[tuple[str, str], Data] = {}


def load(path: str, target: str) -> Data:
    """Read a CSV stream (every column but ``target`` a float); the last file is cached.

    The MOA instances are built here, once, so the timed loop only predicts and trains.
    """
    from capymoa.core import LabeledInstance
    from capymoa.stream import Schema

    key = (path, target)
    if key in _loaded:
        return _loaded[key]
    features, rows, ys = read_csv(path, target)
    classes = tuple(sorted(set(ys)))
    index = {c: i for i, c in enumerate(classes)}
    labels = [index[y] for y in ys]
    # The target goes last: capymoa writes the features first and the class after them.
    schema = Schema.from_custom(
        [*features, target], target, {target: classes}, name=Path(path).stem
    )
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))
    instances = [
        LabeledInstance.from_array(schema, x, y).java_instance
        for x, y in zip(X, labels, strict=True)
    ]
    _loaded.clear()  # jobs come grouped by file: one stream in memory is enough
    _loaded[key] = Data(schema, instances, labels, classes)
    return _loaded[key]


def learner_cli(model: str, strategy: str, budget: float) -> str:
    """The MOA command line (class under ``moa.classifiers``, options) of a job.

    Examples
    --------
    >>> learner_cli("logistic-regression", "ALRandom", 0.05)
    'active.ALRandom -l (functions.SGD -o LOGLOSS -r 0.01 -l 0.0) -b (FixedBM -b 0.05)'
    """
    if model not in BASE_LEARNERS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(BASE_LEARNERS)}")
    base = BASE_LEARNERS[model]
    if strategy == "full":
        return base
    if strategy in UNCERTAINTY:
        return f"active.ALUncertainty -l ({base}) -d {strategy} -b {budget!r}"
    if strategy == "ALRandom":
        return f"active.ALRandom -l ({base}) -b (FixedBM -b {budget!r})"
    raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")


def build_learner(cli: str, schema: Any, seed: int) -> Any:
    """A fresh MOA classifier from its command line, ready for ``schema``'s instances."""
    from capymoa.base import MOAClassifier
    from jpype import JClass

    name, _, options = cli.partition(" ")
    learner = JClass(f"moa.classifiers.{name}")()
    # capymoa hands the header to a learner before preparing it, and MOA's AL classifiers
    # pass it on to a base learner they only create when prepared: prepare them first.
    learner.getOptions().setViaCLIString(options)
    learner.prepareForUse()
    # The seed goes through capymoa (setRandomSeed): this MOA exposes no -r option here.
    return MOAClassifier(learner, schema=schema, CLI=options, random_seed=seed).moa_learner


def prequential(learner: Any, instances: list[Any], labels: list[int]) -> tuple[int, float]:
    """Test then train on every instance; the number predicted right and the seconds taken."""
    correct = 0
    start = time.perf_counter()
    for instance, label in zip(instances, labels, strict=True):
        votes = np.asarray(learner.getVotesForInstance(instance))
        if votes.size:
            best = votes.argmax()
            # All-zero votes (an untrained model) are no prediction; votes are never negative.
            if votes[best] > 0 and best == label:
                correct += 1
        learner.trainOnInstance(instance)
    return correct, time.perf_counter() - start


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job and return its result line."""
    if job.get("delay"):
        raise ValueError("the peers' runners learn every asked label at once (delay 0 only)")
    data = load(job["csv"], job.get("target") or "target")
    cli = learner_cli(job["model"], job["strategy"], float(job["budget"]))
    if job["model"] == "logistic-regression" and len(data.classes) != 2:
        raise ValueError(f"MOA's SGD is binary; {job['csv']} has {len(data.classes)} classes")
    learner = build_learner(cli, data.schema, int(job["seed"]))
    n = len(data.instances) if job.get("max_events") is None else int(job["max_events"])
    n = min(n, len(data.instances))
    if n <= 0:
        raise ValueError("no events to run")
    correct, seconds = prequential(learner, data.instances[:n], data.labels[:n])
    if job["strategy"] == "full":
        labels = int(learner.trainingWeightSeenByModel())  # every instance has weight 1
    else:
        labels = int(learner.getLastLabelAcqReport())  # only read once: it resets
    return {
        **job,
        "system": "moa",
        "learner": cli,
        "accuracy": correct / n,
        "labels": labels,
        "label_fraction": labels / n,
        "n_events": n,
        "seconds": seconds,
        "us_per_event": seconds / n * 1e6,
    }


def _start_jvm() -> None:
    start = time.perf_counter()
    import capymoa  # noqa: F401  (starts the JVM, once for every job)

    print(f"moa: JVM up in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the jobs; 0 once every job has a line, 2 for bad arguments."""
    return run_jobs("moa", run_job, argv, before=_start_jvm)


if __name__ == "__main__":
    sys.exit(main())
