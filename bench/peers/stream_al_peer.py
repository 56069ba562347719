"""stream-al's side of the peer benchmark: the same job lines as every other runner.

Usage: ``python bench/peers/stream_al_peer.py --jobs JOBS.jsonl --out RESULTS.jsonl``
(in stream-al's own environment). Strategy ``full`` is the ceiling: the plain model with
every label. See ``stream_al/benchmarks/peers.py`` for the protocol.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

from stream_al.core.evaluation import prequential
from stream_al.core.learner import ActiveLearner, LearnerSpec
from stream_al.core.types import Example
from stream_al.streams import parse_stream

JOB_KEYS = ("stream", "csv", "target", "model", "strategy", "budget", "seed", "max_events")


def job_key(job: dict[str, Any]) -> str:
    return json.dumps([job.get(k) for k in JOB_KEYS])


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.jobs.is_file():
        parser.error(f"no jobs file at {args.jobs}")
    jobs = [json.loads(line) for line in args.jobs.read_text().splitlines() if line.strip()]
    done = set()
    if args.out.exists():
        done = {job_key(json.loads(line)) for line in args.out.read_text().splitlines() if line}
    with args.out.open("a", encoding="utf-8") as out:
        for n, job in enumerate(jobs, 1):
            if job_key(job) in done:
                continue
            try:
                result = run_job(job)
            except Exception as exc:  # one broken job must not end the run
                result = {**job, "system": "stream-al", "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(result) + "\n")
            out.flush()
            what = result.get("error") or f"{100 * result['accuracy']:.2f}%"
            print(
                f"stream-al {n}/{len(jobs)} {job['stream']} {job['strategy']} "
                f"{job['budget']} s{job['seed']}: {what}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
