"""What every runner of the peer benchmark shares: job identity, CSV streams, the job loop.

Standard library only: each runner (and ``bench/run_peers.py``) runs in its own virtual
environment, and this module must import in all of them. The runners are started as
scripts, so their directory is on ``sys.path`` and they import this module as ``jobs``.

Examples
--------
>>> job_key({"stream": "s", "csv": "/data/s.csv", "model": "m", "budget": 0.1, "extra": 1})
'["s", "s.csv", null, "m", null, 0.1, null, null, 0]'

"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["JOB_KEYS", "job_key", "read_csv", "run_jobs"]

# A job's identity: a result line with these values is that job's result.
JOB_KEYS = (
    "stream",
    "csv",
    "target",
    "model",
    "strategy",
    "budget",
    "seed",
    "max_events",
    "delay",
)


def job_key(job: dict[str, Any]) -> str:
    """A job's identity as a string (its :data:`JOB_KEYS` values).

    The CSV counts by its file name (which names the stream's definition and seed), not
    its folder, so results are found again from another checkout or cache folder; no
    delay is delay 0.
    """
    values = [job.get(k) for k in JOB_KEYS]
    values[1] = None if job.get("csv") is None else Path(job["csv"]).name
    values[-1] = job.get("delay") or 0
    return json.dumps(values)


def read_csv(path: str, target: str) -> tuple[list[str], list[list[float]], list[str]]:
    """A benchmark stream: the feature names, the float rows and the labels (strings)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        if target not in header:
            raise ValueError(f"{path} has no column {target!r}")
        t = header.index(target)
        features = [h for i, h in enumerate(header) if i != t]
        rows: list[list[float]] = []
        ys: list[str] = []
        for record in reader:
            ys.append(record[t])
            rows.append([float(v) for i, v in enumerate(record) if i != t])
    return features, rows, ys


def _read_jobs(path: Path) -> list[dict[str, Any]]:
    jobs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError(f"line {n} is not a JSON object")
            jobs.append(job)
    return jobs


def finished(paths: Sequence[Path], system: str, retry_errors: bool = True) -> set[str]:
    """The keys of ``system``'s jobs that the result files ``paths`` hold (failed ones
    left out when ``retry_errors``): what a new run need not do again."""
    done: set[str] = set()
    for path in paths:
        done |= _finished(path, system, retry_errors)
    return done


def _finished(path: Path, system: str, retry_errors: bool) -> set[str]:
    done: set[str] = set()
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed run: that job runs again
        if not isinstance(result, dict) or result.get("system") != system:
            continue
        if "error" not in result or not retry_errors:
            done.add(job_key(result))
    return done


def run_jobs(
    system: str,
    run: Callable[[dict[str, Any]], dict[str, Any]],
    argv: list[str] | None = None,
    retry_errors: bool = True,
    before: Callable[[], None] | None = None,
) -> int:
    """The command line of a runner: ``--jobs JOBS.jsonl --out RESULTS.jsonl``.

    ``run(job)`` returns the job's result line, to which the job's whole wall time is
    added (``job_seconds``: loading and calibrating too, not only the timed loop). Jobs
    with a result in ``--out`` are skipped (those recorded with an ``error`` run again if
    ``retry_errors``); a job that fails writes an ``error`` line and the run goes on.
    ``before`` runs once, after the arguments are checked (a JVM start, say). Returns 0
    once every job has a line, 2 for bad arguments.
    """
    parser = argparse.ArgumentParser(description=f"{system}'s runner for the peer benchmark")
    parser.add_argument("--jobs", type=Path, required=True, help="one JSON job per line")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    try:
        jobs = _read_jobs(args.jobs)
    except (OSError, ValueError) as exc:
        parser.error(f"--jobs {args.jobs}: {exc}")  # exits with 2
    done = _finished(args.out, system, retry_errors)
    if before is not None:
        before()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as out:
        for i, job in enumerate(jobs, 1):
            key = job_key(job)
            if key in done:
                continue
            start = time.time()
            try:
                result = {**run(job), "job_seconds": round(time.time() - start, 3)}
            except Exception as exc:  # one broken job (a Java exception too) must not end the run
                result = {**job, "system": system, "error": f"{type(exc).__name__}: {exc}"}
                what = result["error"]
            else:
                what = (
                    f"accuracy {result['accuracy']:.4f}, labels {result['label_fraction']:.3f}, "
                    f"{result['us_per_event']:.1f} us/event"
                )
            if "error" not in result or not retry_errors:
                done.add(key)
            out.write(json.dumps(result) + "\n")
            out.flush()
            print(
                f"{system} {i}/{len(jobs)} {job.get('stream')} {job.get('model')} "
                f"{job.get('strategy')} b={job.get('budget')} s{job.get('seed')}: {what}",
                file=sys.stderr,
                flush=True,
            )
    return 0
