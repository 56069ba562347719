"""Run the label-efficiency benchmark and write ``BENCHMARKS.md`` (called by ``bench/run``).

Exports every stream once per seed to CSV (outside the repository), runs each system's
runner on its jobs (in its own virtual environment, ``--workers`` processes at a time,
resumable: finished jobs are kept in ``RESULTS/<system>-<k>.jsonl``), then aggregates
every result line of the benchmark's jobs in ``RESULTS`` into the report: the reporting
half's tables first, then the tuning half's, labeled as such. ``--report-only`` rebuilds
the report from the lines already there. See ``bench/protocol.py`` for the streams, the
split and the jobs, ``bench/analysis.py`` for the statistics.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis import Cell, aggregate
from peers.jobs import finished, job_key  # bench/peers, beside this script
from protocol import (
    N_EVENTS,
    REPORTING,
    SPLIT_SALT,
    STREAM,
    STREAMS,
    SYSTEMS,
    TUNING,
    Plan,
    csv_name,
    default_learner,
    export,
    jobs_for,
    split_halves,
)
from report import SEEN, render_half, stream_table
from throughput_report import throughput_section

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


def run_systems(
    systems: Sequence[str],
    csvs: dict[tuple[str, int], Path],
    plan: Plan,
    results: Path,
    workers: int,
) -> None:
    """Run every system's unfinished jobs, ``workers`` runner processes at a time."""
    tasks: list[tuple[str, list[str]]] = []
    for system in systems:
        python, script = RUNNERS[system]
        if not python.exists():
            raise SystemExit(
                f"bench: {python} is missing; run bench/run (it makes the environments)"
            )
        # Finished jobs stay finished whichever runner did them (the shards change with
        # the number of jobs and workers): only the others are handed out.
        done = finished(sorted(results.glob(f"{system}-*.jsonl")), system)
        jobs = [j for j in jobs_for(system, csvs, plan) if job_key(j) not in done]
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


def read_results(results: Path, wanted: set[str]) -> list[dict[str, Any]]:
    """Every result line in ``results`` that is one of the ``wanted`` jobs' (others, from
    streams or settings no longer in the benchmark, are left out)."""
    lines = []
    for path in sorted(results.glob("*.jsonl")):
        if path.name.startswith("jobs-"):
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                result = json.loads(line)
                if job_key(result) in wanted:
                    lines.append(result)
    return lines


def _versions(systems: Sequence[str], recorded: Path) -> dict[str, str]:
    """Each system's library version: asked of its venv, else as ``recorded`` when it ran.

    ``--report-only`` on a machine without the peers' venvs still names the versions
    their results came from; every version asked of a venv updates ``recorded``.
    """
    known: dict[str, str] = json.loads(recorded.read_text()) if recorded.exists() else {}
    found = {}
    for system in systems:
        python = RUNNERS[system][0]
        if python.exists():
            code = f"import importlib.metadata as m; print(m.version({VERSIONS[system]!r}))"
            done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
            found[system] = done.stdout.strip() or "?"
        elif system in known:
            found[system] = known[system]
    asked = {s: v for s, v in found.items() if v != "?"}
    if known | asked != known:
        recorded.write_text(json.dumps(known | asked, indent=2, sort_keys=True) + "\n")
    return found


PREAMBLE = """# Benchmarks

Generated by `bench/run` ({when}; {machine}). Do not edit by hand: rerun it.

## Reproduce

```bash
bench/run --elec2 ../shared/data/elec2.csv     # everything below (MOA needs Java 17)
bench/run --elec2 ../shared/data/elec2.csv --no-throughput --no-features  # label efficiency
bench/run --elec2 ../shared/data/elec2.csv --no-throughput --no-features --systems stream-al
bench/run --elec2 ../shared/data/elec2.csv --no-throughput --no-features \\
    --systems scikit-activeml,river,moa --half reporting   # the peers, reporting half
bench/run --elec2 ../shared/data/elec2.csv --fresh   # the same, from scratch
bench/throughput                               # engine, serve on real Kafka and Redis, memory
.venv/bin/python bench/features.py --elec2 ../shared/data/elec2.csv \\
    --out bench/results/features.json --markdown bench/results/features.md
.venv/bin/python bench/pool.py                 # stream-al select on 10,000 and 100,000 rows
```

`bench/run` makes one virtual environment per peer (`bench/requirements-*.txt`: their
libraries pin versions stream-al does not use), exports the streams as CSV to a cache
folder (not the repository; nothing is downloaded), runs every job not yet in
`bench/results/*.jsonl` (one line per run: a stopped run resumes; `--fresh` deletes the
selected systems' lines first) and writes this file from every line there. The last
sections come from `bench/throughput`, `bench/features.py` and `bench/pool.py`.

## Label efficiency: the protocol

- **Streams**: {n_streams} streams of at most {n_events:,} events (below). Synthetic
  streams are a new realisation per seed; recorded ones the same events for every seed.
- **The split, fixed before any run** (`bench/protocol.py`, `split_halves`, pinned by a unit
  test): streams ordered by the SHA-256 of `"{salt}:" + family`, then of the same salt and
  the stream's name, go alternately to the reporting half (first) and the tuning half. So
  every family is spread over both halves and the halves differ by one stream at most.
  Defaults may be chosen on the tuning half only; the summary (and the README) quote the
  reporting half only. † marks the {n_seen} streams stream-al's settings were chosen on
  before issue 16 (the earlier benchmark's: same data or generator settings).
- **Systems** ({versions}): stream-al's default learner and strategy (`{default}`) and
  random sampling on the same learner, at budgets {budgets}, label delays {delays} events
  (a label arrives that many events after its question), seeds 0-{last_seed}; peers at
  budgets {peer_budgets}, delay 0, seeds 0-{last_peer_seed}: scikit-activeml's stream
  strategies around River's Hoeffding tree (VariableUncertainty,
  RandomVariableUncertainty, Split, StreamProbabilisticAL, with their own budget
  managers; its StreamRandomSampling is River's `random` below, its FixedUncertainty
  MOA's), River's `active.EntropySampler` (no budget parameter: its discount factor is
  calibrated per stream, tree and budget on the first 5,000 events of seed 0) and random
  sampling around River's tree, MOA's `ALUncertainty` (fixed, variable, randomized
  variable uncertainty, selective sampling) and `ALRandom` through capymoa. Each peer
  runs two trees: stream-al's settings for scarce labels (gini, grace
  period 20, delta 0.2, tau 0.1; MOA `-g 20 -c 0.2 -t 0.1 -s GiniSplitCriterion`) and its
  library's default Hoeffding tree; the best of its strategies and trees is the peer.
- **Prequential, test then train**: every event is predicted first (no prediction counts
  as wrong), then the strategy decides; an asked label is learned `delay` events later.
  Accuracy is over every event; the label fraction is what each system really asked.
- **References with every label** (delay 0, stream-al's seeds): stream-al's plain model,
  stream-al's learner with the same drift reaction as the active runs (the fair ceiling),
  today's tuned tree (stream-al's `hoeffding-tree`, the model it served before issue 16)
  without and with that drift reaction, River's tree with stream-al's settings, River's
  default tree.
- **Statistics**: paired Wilcoxon signed-rank tests (two-sided) over (stream, seed) pairs;
  against random at the same budget and delay; against a peer at stream-al's true label
  fraction, seed by seed, the peer's accuracy interpolated over its budgets on the log of
  the fraction (carried flat at most 10% beyond its range, never further), its best
  strategy and tree picked per stream on those same runs (which favours the peer). The
  label-savings ratio is explained under its table. A cell whose seeds all agree is "one
  run" (a deterministic strategy on recorded data), never "±0.00"; ± is half the 95%
  t-interval over seeds; [x%] the true label fraction.
"""


def _speed(cells: Sequence[Cell], streams: Sequence[str]) -> list[str]:
    systems = sorted({c.system for c in cells})
    lines = [
        "## Speed",
        "",
        "Median microseconds per event of each system's prequential loop (predict, decide, "
        "learn) over its active runs on the machine above, each system run when it was (with "
        "`--workers` processes side by side, often beside other work): compare orders of "
        "magnitude, not small ratios; `stream-al bench engine` measures stream-al's speed "
        "against a baseline in one run:",
        "",
        "| stream | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for stream in streams:
        cells_here = [c for c in cells if c.stream == stream and c.budget < 1]
        row = []
        for system in systems:
            speeds = [c.us_per_event for c in cells_here if c.system == system]
            row.append(f"{statistics.median(speeds):.0f}" if speeds else "–")
        lines.append(f"| {stream} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _report(
    args: argparse.Namespace, plan: Plan, lines: list[dict[str, Any]], halves: dict[str, str]
) -> str:
    model, default = default_learner()
    # ``lines`` are the plan's jobs only (read_results), so stream-al's are the default
    # learner's and the references jobs_for adds; the report reads those by model.
    cells = aggregate(lines)
    when = datetime.date.today().isoformat()
    versions = _versions(SYSTEMS, args.results / "versions.json")
    out = PREAMBLE.format(
        when=when,
        machine=f"{os.cpu_count()} cores, Python {platform.python_version()}",
        n_streams=len(STREAMS),
        n_events=N_EVENTS,
        salt=SPLIT_SALT,
        n_seen=len(SEEN),
        versions=", ".join(f"{s} {v}" for s, v in versions.items()),
        default=default,
        budgets=", ".join(map(str, plan.budgets)),
        delays=" and ".join(map(str, plan.delays)),
        last_seed=plan.seeds - 1,
        peer_budgets=" and ".join(map(str, plan.peer_budgets)),
        last_peer_seed=plan.peer_seeds - 1,
    ).splitlines()
    names = [s.name for s in STREAMS]
    out += ["", *stream_table(names, halves), ""]
    kwargs: dict[str, Any] = {
        "default": default,
        "budgets": plan.budgets,
        "delays": plan.delays,
        "peer_budgets": plan.peer_budgets,
    }
    for half, title in (
        (REPORTING, "Summary: the reporting half"),
        (TUNING, "The tuning half (for choosing defaults; not quoted in summaries)"),
    ):
        streams = [n for n in names if halves[n] == half]
        if not any(c.system == "stream-al" and c.strategy == default and c.stream in streams
                   for c in cells):  # fmt: skip
            out += [
                f"## {title}, {len(streams)} streams",
                "",
                f"stream-al's default ({model}, {default}) has not run on this half with "
                "`bench/run`: the runs that chose it are `bench/tune.py`'s, in "
                "`bench/results/issue16/tuning/` (docs/design.md says what they chose).",
                "",
            ]
            continue
        out += render_half(
            cells, title=f"{title}, {len(streams)} streams", streams=streams, **kwargs
        )
    out += _speed(cells, names)
    appendix = throughput_section(args.results)
    for extra in (args.results / "features.md", args.results / "pool.md"):
        if extra.exists():
            appendix += "\n" + extra.read_text()
    if args.appendix:
        appendix += "\n" + args.appendix.read_text()
    return "\n".join(out) + "\n" + appendix.rstrip() + "\n"


def _parser() -> argparse.ArgumentParser:
    plan = Plan()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--elec2", type=Path, help="path of elec2.csv (Elec2 is skipped without it)")
    add("--half", choices=(REPORTING, TUNING, "both"), default="both", help="streams to run")
    add("--streams", help="comma-separated streams to run (instead of --half)")
    add("--systems", default=",".join(SYSTEMS), help="comma-separated systems to run")
    add("--budgets", default=",".join(map(str, plan.budgets)))
    add("--delays", default=",".join(map(str, plan.delays)))
    add("--seeds", type=int, default=plan.seeds)
    add("--peer-budgets", default=",".join(map(str, plan.peer_budgets)))
    add("--peer-seeds", type=int, default=plan.peer_seeds)
    add("--peer-models", default=",".join(plan.peer_models))
    add("--max-events", type=int, help="only the first N events of each stream (a smoke test)")
    add("--workers", type=int, default=1, help="runner processes side by side")
    add("--results", type=Path, default=BENCH / "results")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    add(
        "--data",
        type=Path,
        default=cache / "stream-al" / "bench-streams",
        help="where the streams are exported as CSV (not in the repository: Elec2 is not ours)",
    )
    add("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    add("--appendix", type=Path, help="markdown appended to the report")
    add("--report-only", action="store_true", help="no runs: report the lines there")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    plan = Plan(
        budgets=tuple(float(b) for b in args.budgets.split(",")),
        delays=tuple(int(d) for d in args.delays.split(",")),
        seeds=args.seeds,
        peer_budgets=tuple(float(b) for b in args.peer_budgets.split(",")),
        peer_seeds=args.peer_seeds,
        peer_models=tuple(args.peer_models.split(",")),
        max_events=args.max_events,
    )
    halves = split_halves(STREAMS)
    if args.streams:
        chosen = [s for s in args.streams.split(",") if s]
    else:
        chosen = [s.name for s in STREAMS if args.half in ("both", halves[s.name])]
    systems = [s for s in args.systems.split(",") if s]
    for name, known, given in (("stream", STREAM, chosen), ("system", SYSTEMS, systems)):
        unknown = [s for s in given if s not in known]
        if unknown:
            parser.error(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    if args.elec2 is None and "elec2" in chosen:
        print("bench: no --elec2 PATH given, Elec2 is not run", file=sys.stderr)
        chosen.remove("elec2")
    args.results.mkdir(parents=True, exist_ok=True)
    seeds = max(plan.seeds, plan.peer_seeds)
    if not args.report_only:
        csvs = export(
            [STREAM[s] for s in chosen],
            seeds,
            args.data,
            {"elec2": args.elec2} if args.elec2 else None,
            log=lambda msg: print(msg, file=sys.stderr),
        )
        run_systems(systems, csvs, plan, args.results, args.workers)
    # Every job of the benchmark, whichever were run now: the report reads all of them.
    every = {(s.name, k): args.data / csv_name(s, k) for s in STREAMS for k in range(seeds)}
    wanted = {job_key(j) for system in SYSTEMS for j in jobs_for(system, every, plan)}
    lines = read_results(args.results, wanted)
    errors = [r for r in lines if "error" in r]
    for r in errors[:10]:
        print(
            f"bench: {r['system']} {r['strategy']} on {r['stream']}: {r['error']}", file=sys.stderr
        )
    args.report.write_text(_report(args, plan, lines, halves))
    print(f"bench: {len(lines)} runs ({len(errors)} failed) -> {args.report}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
