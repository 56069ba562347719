"""stream-al's side of the peer benchmark: the same job lines as every other runner.

Usage: ``python bench/peers/stream_al_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl``
(in stream-al's own environment). Strategy ``full`` is the ceiling: the plain model with
every label. See ``stream_al/benchmarks/peers.py`` for the protocol.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

from jobs import run_jobs

from stream_al.core.learner import ActiveLearner, LearnerSpec
from stream_al.core.types import Example
from stream_al.data.streams import parse_stream
from stream_al.evaluation.prequential import prequential


@functools.lru_cache(maxsize=1)  # jobs come grouped by file
def _load(path: str, target: str) -> list[Example]:
    return list(parse_stream(f"csv:{path}", target=target).events())


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    data = _load(job["csv"], job["target"])[: job.get("max_events")]
    spec = LearnerSpec(model=job["model"], strategy="random", budget=float(job["budget"]))
    learner: ActiveLearner
    if job["strategy"] == "full":
        learner = spec.full_labels(job["seed"])
    else:
        learner = spec.build(job["seed"], strategy=job["strategy"])
    result = prequential(data, learner, clock=time.perf_counter)
    return {
        **job,
        "system": "stream-al",
        "accuracy": result.accuracy,
        "labels": result.labels,
        "label_fraction": result.label_fraction,
        "n_events": result.n_events,
        "seconds": result.seconds,
        "us_per_event": result.seconds * 1e6 / result.n_events,
    }


def main(argv: list[str] | None = None) -> int:
    # A job that failed here fails again (stream-al's own code): it is not rerun.
    return run_jobs("stream-al", run_job, argv, retry_errors=False)


if __name__ == "__main__":
    sys.exit(main())
