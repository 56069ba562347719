"""Run the peer benchmark and write ``BENCHMARKS.md`` (called by ``bench/run``).

Exports every stream once per seed to CSV, runs each system's runner on its jobs (in its
own virtual environment, ``--workers`` processes at a time, resumable: finished jobs are
kept in ``RESULTS/<system>-<k>.jsonl``), then aggregates the lines into the report and
one plot per stream. ``--report-only`` rebuilds the report from the lines already there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from peers.jobs import finished, job_key  # bench/peers, beside this script

from stream_al.benchmarks.peers import (
    BUDGETS,
    RECORDED,
    STRATEGIES,
    STREAMS,
    aggregate,
    jobs_for,
    plot_stream,
    render_report,
    speed_section,
    write_csv,
)
from stream_al.data.streams import parse_stream

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RUNNERS: dict[str, tuple[Path, Path]] = {
    "stream-al": (Path(sys.executable), BENCH / "peers" / "stream_al_peer.py"),
    "scikit-activeml": (BENCH / ".venv-peers/bin/python", BENCH / "peers" / "skactiveml_peer.py"),
    "river": (BENCH / ".venv-peers/bin/python", BENCH / "peers" / "river_peer.py"),
    "moa": (BENCH / ".venv-moa/bin/python", BENCH / "peers" / "moa_peer.py"),
}
VERSIONS = {
    "stream-al": "stream-al",
    "scikit-activeml": "scikit-activeml",
    "river": "river",
    "moa": "capymoa",
}


# Streams short enough to run on more seeds: 5 seeds of ImageSegments' 2,310 events leave
# intervals of +-10 points, which one lucky or unlucky seed swings by several.
SHORT = frozenset({"image-segments"})


def export(
    streams: Sequence[str], elec2: Path | None, seeds: int, out: Path, short_seeds: int = 0
) -> dict[tuple[str, int], Path]:
    """One CSV per stream and seed (recorded streams: one file shared by the seeds); the
    streams in ``SHORT`` run on ``short_seeds`` seeds when that is more."""
    csvs: dict[tuple[str, int], Path] = {}
    for stream in streams:
        spec = STREAMS[stream]
        kwargs: dict[str, Any] = {}
        if stream == "elec2":
            if elec2 is None:
                raise SystemExit("bench: elec2 needs --elec2 PATH (e.g. ../shared/data/elec2.csv)")
            spec, kwargs = spec.format(elec2=elec2), {"target": "class"}
        for seed in range(max(seeds, short_seeds) if stream in SHORT else seeds):
            data_seed = 0 if stream in RECORDED else seed
            path = out / f"{stream}-s{data_seed}.csv"
            if not path.exists():
                n = write_csv(parse_stream(spec, **kwargs).events(data_seed), path)
                print(f"bench: {stream} seed {data_seed}: {n:,} events -> {path}", file=sys.stderr)
            csvs[(stream, seed)] = path
    return csvs


def run_systems(
    systems: Sequence[str],
    csvs: dict[tuple[str, int], Path],
    budgets: Sequence[float],
    max_events: int | None,
    results: Path,
    workers: int,
) -> set[str]:
    """Run every system's jobs, ``workers`` runner processes at a time; the job keys."""
    tasks: list[tuple[str, list[str]]] = []
    wanted: set[str] = set()
    for system in systems:
        python, script = RUNNERS[system]
        if not python.exists():
            raise SystemExit(
                f"bench: {python} is missing; run bench/run (it makes the environments)"
            )
        jobs = jobs_for(system, csvs, budgets, max_events)
        wanted |= {job_key({**j}) for j in jobs}
        # Finished jobs stay finished whichever runner did them (the shards change with
        # the number of jobs and workers): only the others are handed out.
        done = finished(sorted(results.glob(f"{system}-*.jsonl")), system)
        jobs = [j for j in jobs if job_key({**j}) not in done]
        for k in range(workers):
            shard = jobs[k::workers]
            if not shard:
                continue
            jobs_file = results / f"jobs-{system}-{k}.jsonl"
            jobs_file.write_text("".join(json.dumps(j) + "\n" for j in shard))
            out = results / f"{system}-{k}.jsonl"
            tasks.append(
                (system, [str(python), str(script), "--jobs", str(jobs_file), "--out", str(out)])
            )
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = {**os.environ, "PYTHONPATH": str(BENCH / "peers")}
    while tasks or running:
        while tasks and len(running) < workers:
            system, cmd = tasks.pop(0)
            running.append((system, subprocess.Popen(cmd, env=env)))
        pid, status = os.wait()  # whichever runner ends first frees its slot
        for i, (system, proc) in enumerate(running):
            if proc.pid == pid:
                code = os.waitstatus_to_exitcode(status)
                proc.returncode = code
                if code != 0:
                    raise SystemExit(f"bench: the {system} runner failed (exit {code})")
                running.pop(i)
                break
    return wanted


def _versions(systems: Sequence[str]) -> dict[str, str]:
    found = {}
    for system in systems:
        python = RUNNERS[system][0]
        if not python.exists():
            continue
        code = f"import importlib.metadata as m; print(m.version({VERSIONS[system]!r}))"
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        found[system] = done.stdout.strip() or "?"
    return found


PREAMBLE = """# Benchmarks

Generated by `bench/run` ({when}; {machine}). Do not edit by hand: rerun it.

## Reproduce

```bash
bench/run --elec2 ../shared/data/elec2.csv     # everything below (MOA needs Java 17)
bench/run --elec2 ../shared/data/elec2.csv --fresh   # the same, from scratch
bench/run --elec2 ../shared/data/elec2.csv --systems stream-al,scikit-activeml,river  # no Java
bench/run --elec2 ../shared/data/elec2.csv --no-throughput   # label efficiency only
bench/throughput                               # engine, serve on real Kafka and Redis, memory
.venv/bin/python bench/features.py --elec2 ../shared/data/elec2.csv \
    --out bench/results/features.json --markdown bench/results/features.md
.venv/bin/python bench/pool.py                 # stream-al select on 10,000 and 100,000 rows
```

`bench/run` makes one virtual environment per peer (`bench/requirements-*.txt`: their
libraries pin versions stream-al does not use), exports the streams as CSV to a cache
folder (not the repository), runs every job ({seeds} seeds, {short_seeds} on the short
ImageSegments; budgets {budgets}{cap}) and writes this file, `bench/results/*.jsonl`
(one line per run) and `bench/plots/`. Runs already in `bench/results/` are kept (a
stopped run resumes); `--fresh` deletes them first, and those of `bench/features.py`.
The last sections, when `bench/results/features.md` and `pool.md` exist, come from
`bench/features.py` and `bench/pool.py`.
Microseconds per event are measured with `--workers` runners side by side on the machine
above: compare systems with each other, not with other machines.

## Protocol

- **Systems** ({versions}): stream-al's strategies; scikit-activeml's stream strategies
  wrapped around the same River model (its own budget managers); River's
  `active.EntropySampler` (no budget parameter: its discount factor is calibrated per
  stream and budget on the first events); MOA's `ALUncertainty` and `ALRandom` through
  capymoa.
- **Model**: River's Hoeffding tree with stream-al's settings for scarce labels (gini,
  grace period 20, delta 0.2, tau 0.1) for every River-based system; MOA's Hoeffding tree
  with the same options (`-g 20 -c 0.2 -t 0.1 -s GiniSplitCriterion`). Logistic regression
  (standardised features) on Elec2 as well. stream-al adds its drift reaction (ADWIN on
  the labeled error, budget boost, challenger) and predicts its trees with one correction
  to River's naive-Bayes leaves (a class seen fewer than twice in a leaf is scored with
  the leaf's pooled variance instead of being let off the likelihood; see
  `stream_al/core/tree_predict.py`): both are part of what is compared. The other
  River-based systems use River's tree as it is.
- **Prequential, test then train**: every event is predicted before anything else (no
  prediction = wrong), then the strategy decides, and an asked label is learned at once.
  Accuracy is over every event; the label fraction is what each system really asked.
- **Streams**: Elec2 (45,312 events), SEA with abrupt drifts, Agrawal 1→4 (drift in the
  middle), rotating Hyperplane, RBF with moving centroids (20,000 events each, a new
  stream per seed), Shuttle (imbalanced: 7% anomalies among 49,097 events) and ImageSegments
  (2,310 events, 7 classes).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--elec2", type=Path, help="path of elec2.csv (Elec2 is skipped without it)"
    )
    parser.add_argument("--streams", default=",".join(STREAMS), help="comma-separated streams")
    parser.add_argument("--systems", default=",".join(STRATEGIES), help="comma-separated systems")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--short-seeds",
        type=int,
        default=25,
        help=f"seeds for the short streams ({', '.join(sorted(SHORT))})",
    )
    parser.add_argument("--max-events", type=int, help="only the first N events of each stream")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    parser.add_argument(
        "--data",
        type=Path,
        default=cache / "stream-al" / "bench-streams",
        help="where the streams are exported as CSV (not in the repository: Elec2 is not ours)",
    )
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--appendix", type=Path, help="markdown appended to the report")
    parser.add_argument(
        "--report-only", action="store_true", help="no runs: report the lines there"
    )
    args = parser.parse_args(argv)
    streams = [s for s in args.streams.split(",") if s]
    systems = [s for s in args.systems.split(",") if s]
    for name, known in (("stream", STREAMS), ("system", STRATEGIES)):
        unknown = [s for s in (streams if name == "stream" else systems) if s not in known]
        if unknown:
            parser.error(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    if args.elec2 is None and "elec2" in streams:
        print("bench: no --elec2 PATH given, Elec2 is left out", file=sys.stderr)
        streams.remove("elec2")
    budgets = [float(b) for b in args.budgets.split(",")]
    args.results.mkdir(parents=True, exist_ok=True)
    csvs = export(streams, args.elec2, args.seeds, args.data, args.short_seeds)
    wanted: set[str] | None = None
    if not args.report_only:
        wanted = run_systems(systems, csvs, budgets, args.max_events, args.results, args.workers)
    lines = []
    for path in sorted(args.results.glob("*.jsonl")):
        if path.name.startswith("jobs-"):
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                result = json.loads(line)
                if wanted is None or job_key(result) in wanted:
                    lines.append(result)
    errors = [r for r in lines if "error" in r]
    for r in errors[:10]:
        print(
            f"bench: {r['system']} {r['strategy']} on {r['stream']}: {r['error']}", file=sys.stderr
        )
    rows = aggregate(lines)
    plots = {}
    for stream in streams:
        path = BENCH / "plots" / f"{stream}.png"
        plot_stream(rows, stream, path)
        plots[stream] = os.path.relpath(path, args.report.parent)
    preamble = PREAMBLE.format(
        when=datetime.date.today().isoformat(),
        machine=f"{os.cpu_count()} cores, Python {platform.python_version()}",
        seeds=args.seeds,
        short_seeds=max(args.seeds, args.short_seeds),
        budgets=", ".join(map(str, budgets)),
        cap=f", the first {args.max_events:,} events of each stream" if args.max_events else "",
        versions=", ".join(f"{s} {v}" for s, v in _versions(systems).items()),
    )
    features = args.results / "features.md"
    engine_file = args.results / "engine.json"
    engine = json.loads(engine_file.read_text()) if engine_file.exists() else None
    throughput = [json.loads(p.read_text()) for p in sorted(args.results.glob("throughput-*.json"))]
    appendix = speed_section(engine, throughput)
    for extra in (features, args.results / "pool.md"):
        if extra.exists():
            appendix += "\n" + extra.read_text()
    if args.appendix:
        appendix += "\n" + args.appendix.read_text()
    args.report.write_text(
        render_report(
            rows,
            streams=streams,
            budgets=budgets,
            preamble=preamble,
            plots=plots,
            appendix=appendix,
        )
    )
    print(f"bench: {len(lines)} runs ({len(errors)} failed) -> {args.report}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
