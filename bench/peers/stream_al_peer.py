"""stream-al's side of the peer benchmark: the same job lines as every other runner.

Usage: ``python bench/peers/stream_al_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl``
(in stream-al's own environment). A job's ``delay`` is the label delay in events (a label
arrives that many events after its question; 0 = learned at once). Two references learn
every label: ``full``, the plain model (no drift reaction), and ``full-drift``, the learner
with the same drift reaction as the active runs. See ``bench/protocol.py`` for the
protocol.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import replace
from typing import Any

from jobs import run_jobs

from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.core.types import Example
from stream_al.data.streams import parse_stream
from stream_al.evaluation.prequential import prequential


@functools.lru_cache(maxsize=1)  # jobs come grouped by file
def _load(path: str, target: str) -> list[Example]:
    return list(parse_stream(f"csv:{path}", target=target).events())


def build_learner(job: dict[str, Any]) -> ActiveLearner:
    """The learner of a job: stream-al's defaults but for the model, strategy and budget."""
    spec = LearnerSpec(model=job["model"], strategy="random", budget=float(job["budget"]))
    if job["strategy"] == "full":
        return spec.full_labels(job["seed"])
    if job["strategy"] == "full-drift":  # every label, the drift reaction kept
        if "drift_delta" in job:  # a reference pinned to the delta it had
            spec = replace(spec, drift=replace(spec.drift, delta=float(job["drift_delta"])))
        return spec.build(job["seed"], budget=1.0)
    return spec.build(job["seed"], strategy=job["strategy"])


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    data = _load(job["csv"], job["target"])[: job.get("max_events")]
    learner = build_learner(job)
    result = prequential(data, learner, delay=int(job.get("delay") or 0), clock=time.perf_counter)
    return {
        **job,
        "system": "stream-al",
        "accuracy": result.accuracy,
        "labels": result.labels,
        "label_fraction": result.label_fraction,
        "n_events": result.n_events,
        "drifts": result.drifts,
        "seconds": result.seconds,
        "us_per_event": result.seconds * 1e6 / result.n_events,
    }


def main(argv: list[str] | None = None) -> int:
    # A job that failed here fails again (stream-al's own code): it is not rerun.
    return run_jobs("stream-al", run_job, argv, retry_errors=False)


if __name__ == "__main__":
    sys.exit(main())
