"""Choose defaults on the tuning half only: run learner settings on its streams and compare.

Usage (stream-al's ``.venv``; the streams are exported as ``bench/run_peers.py`` does, to
the same cache folder)::

    nice -n 10 .venv/bin/python bench/tune.py --run nb-first-d05,nb-first-d05-random \\
        --budgets 0.02,0.1 --seeds 5 --workers 2
    .venv/bin/python bench/tune.py --compare nb-first-d05 --against nb-first-d05-random \\
        --budgets 0.1

(``nb-first-d05`` is today's default; ``default`` the one before ADWIN's delta 0.05, see
:data:`SETTINGS`.)

A *setting* is a named :class:`~stream_al.core.learner.LearnerSpec` keyword set
(:data:`SETTINGS`, or ``--setting NAME='{"strategy": "...", ...}'``); each run is one
setting on one tuning-half stream, seed, budget and label delay, learned prequentially as
in the benchmark, and is one JSON line in ``--out`` (runs there are kept: a stopped run
resumes, and a changed setting must get a new name). The reporting half is refused: it is
for the final report only (``bench/run_peers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from analysis import savings_ratio, wilcoxon
from protocol import STREAM, STREAMS, TUNING, export, split_halves

from stream_al.core.drift import DriftReaction
from stream_al.core.learner import ActiveLearner
from stream_al.core.pending import LateLabels
from stream_al.core.spec import LearnerSpec
from stream_al.core.types import Example
from stream_al.data.streams import parse_stream
from stream_al.evaluation.prequential import prequential

BENCH = Path(__file__).resolve().parent

# River's Hoeffding tree as it comes (its defaults), for the references.
RIVER_TREE = {"grace_period": 200, "delta": 1e-7, "tau": 0.05, "split_criterion": "info_gain"}

# The auto model's candidates with River's tree first (the default since issue 16's
# nb-first runs; named here so the runs made before keep their meaning).
NB_FIRST: dict[str, Any] = {
    "model_params": {"names": ["hoeffding-tree-default", "hoeffding-tree", "logistic-regression"]}
}

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "random": {"strategy": "random"},
    "full": {"strategy": "random", "budget": 1.0, "drift": {"enabled": False}},
    "full-drift": {"strategy": "random", "budget": 1.0},
    "full-river-tree": {
        "strategy": "random",
        "budget": 1.0,
        "drift": {"enabled": False},
        "model_params": RIVER_TREE,
    },
    "ht-split": {"model": "hoeffding-tree"},
    "ht-random": {"model": "hoeffding-tree", "strategy": "random"},
    "auto-split": {"model": "auto"},
    "auto-split-lc": {"model": "auto", "uncertainty": "least-confidence"},
    "auto-split-all": {"model": "auto", "model_params": {"labels": "all"}},
    "auto-random": {"model": "auto", "strategy": "random"},
    "auto-vu-all": {
        "model": "auto",
        "strategy": "variable-uncertainty",
        "model_params": {"labels": "all"},
    },
    "auto-rvu-all": {
        "model": "auto",
        "strategy": "randomized-variable-uncertainty",
        "model_params": {"labels": "all"},
    },
    "auto-split02-all": {
        "model": "auto",
        "strategy_params": {"random_fraction": 0.2},
        "model_params": {"labels": "all"},
    },
    "auto-vu-all-z1": {
        "model": "auto",
        "strategy": "variable-uncertainty",
        "model_params": {"labels": "all", "z": 1.0},
    },
    "auto-vu-all-m300": {
        "model": "auto",
        "strategy": "variable-uncertainty",
        "model_params": {"labels": "all", "memory": 300},
    },
    "full-auto": {
        "model": "auto",
        "strategy": "random",
        "budget": 1.0,
        "model_params": {"labels": "all"},
    },
    "full-lr": {
        "model": "logistic-regression",
        "strategy": "random",
        "budget": 1.0,
        "drift": {"enabled": False},
    },
    # Issue 16, point 2: strategies from the literature against the default.
    "bandit": {"strategy": "bandit"},  # ALBL over variable uncertainty and random
    "opal-qf": {"uncertainty": "opal", "strategy": "quantile-filter"},
    "pending": {"late_labels": {"aware": True}},  # the default, aware of pending questions
    "bandit-pending": {"strategy": "bandit", "late_labels": {"aware": True}},
    # The quantile filter on the default uncertainty: its own window (100) and the budget's.
    "qf": {"strategy": "quantile-filter"},
    "qf1k": {"strategy": "quantile-filter", "strategy_params": {"window": 1000}},
    # The budget window as 100 labels (w = max(1000, 100 / B)), for 0.02 and 0.05 only:
    # at 0.1 and 0.2 it is the default's.
    "w5k": {"window": 5000},
    "w5k-random": {"window": 5000, "strategy": "random"},
    "w2k": {"window": 2000},
    "w2k-random": {"window": 2000, "strategy": "random"},
    # Which candidate serves before the race has evidence: River's tree (a naive-Bayes leaf
    # for its first thousands of labels) rather than the tree tuned to split early; then
    # the strategies above on top of that order.
    "nb-first": NB_FIRST,
    "nb-first-random": {**NB_FIRST, "strategy": "random"},
    "nb-first-rvu": {**NB_FIRST, "strategy": "randomized-variable-uncertainty"},
    "nb-first-bandit": {**NB_FIRST, "strategy": "bandit"},
    "nb-first-pending": {**NB_FIRST, "late_labels": {"aware": True}},
    "nb-first-opal-qf": {**NB_FIRST, "uncertainty": "opal", "strategy": "quantile-filter"},
    "nb-first-split": {**NB_FIRST, "strategy": "split"},
    "nb-first-split02": {
        **NB_FIRST,
        "strategy": "split",
        "strategy_params": {"random_fraction": 0.2},
    },
    # The race judging the served model at the label like the others (selection
    # served_at="label"; scratch/race-now.patch before the option existed).
    "nb-first-served-label": {"model_params": {**NB_FIRST["model_params"], "served_at": "label"}},
    "nb-first-served-label-z1": {
        "model_params": {**NB_FIRST["model_params"], "served_at": "label", "z": 1.0}
    },
    "htd-vu": {"model": "hoeffding-tree-default"},
    "htd-random": {"model": "hoeffding-tree-default", "strategy": "random"},
    # ADWIN at delta 0.05 (scratch/README.md, "drift monitor's ADWIN delta"): the default
    # since its confirmation on seeds 30-39.
    "nb-first-d05": {**NB_FIRST, "drift": {"delta": 0.05}},
    "nb-first-d05-random": {**NB_FIRST, "strategy": "random", "drift": {"delta": 0.05}},
    "full-drift-d05": {"strategy": "random", "budget": 1.0, "drift": {"delta": 0.05}},
}
# Every setting above ran with ADWIN's delta at 0.002, the default until issue 16's confirmation
# on seeds 30-39 made it 0.05: pinned, so that a name keeps meaning what it ran.
SETTINGS = {
    name: setting | {"drift": {"delta": 0.002, **setting.get("drift", {})}}
    for name, setting in SETTINGS.items()
}
# Settings first run with today's drift monitor (delta 0.05) go here: the pinning above
# would change what they run. Today's default is "nb-first-d05" (its random sampling
# "nb-first-d05-random", its every-label run "full-drift-d05"); "default" is the one
# before delta 0.05.
SETTINGS |= {
    # Issue 16's every-label references on the tuning half, as the report has them: the
    # tuned tree without and with the drift reaction (at the delta of the issue's time,
    # and at today's), and River's default tree.
    "full-ht": {
        "model": "hoeffding-tree",
        "strategy": "random",
        "budget": 1.0,
        "drift": {"enabled": False},
    },
    "full-ht-drift-d002": {
        "model": "hoeffding-tree",
        "strategy": "random",
        "budget": 1.0,
        "drift": {"delta": 0.002},
    },
    "full-ht-drift": {"model": "hoeffding-tree", "strategy": "random", "budget": 1.0},
    "full-htd": {
        "model": "hoeffding-tree-default",
        "strategy": "random",
        "budget": 1.0,
        "drift": {"enabled": False},
    },
    # The quantile filter on today's default, for the hybrids with variable uncertainty
    # (qf-small-seeds20.jsonl: its rows at B <= 0.05 or 0.02, the default's above).
    "qf-d05": {"strategy": "quantile-filter"},
    # Today's default with a challenger for every candidate (selection.challengers,
    # session 34: not adopted, scratch/README.md "candidate challengers").
    "cc": {"model_params": {"challengers": True}},
    "cc-random": {"strategy": "random", "model_params": {"challengers": True}},
    "full-cc": {"strategy": "random", "budget": 1.0, "model_params": {"challengers": True}},
    "full-cc-d002": {
        "strategy": "random",
        "budget": 1.0,
        "drift": {"delta": 0.002},
        "model_params": {"challengers": True},
    },
}


def _pinned(setting: dict[str, Any]) -> dict[str, Any]:
    """A setting as it ran before delta and candidate challengers became ``auto`` (with
    every label: ADWIN at 0.002 and challengers): delta 0.05 and no challengers unless set."""
    pinned = setting | {"drift": {"delta": 0.05, **setting.get("drift", {})}}
    if setting.get("model", "auto") == "auto":
        params = setting.get("model_params", {})
        pinned["model_params"] = {"challengers": False, **params}
    return pinned


SETTINGS = {name: _pinned(setting) for name, setting in SETTINGS.items()}
# Today's default with every label, as the report runs it (``full-drift``): ADWIN's delta
# and candidate challengers ``auto`` (session 35; the same runs as "full-cc-d002").
SETTINGS["full-auto"] = {"strategy": "random", "budget": 1.0}


def spec_of(setting: Mapping[str, Any]) -> LearnerSpec:
    """The learner a setting describes (its budget is overridden per run, unless fixed)."""
    kwargs = dict(setting)
    if "drift" in kwargs:
        kwargs["drift"] = DriftReaction(**kwargs["drift"])
    if "late_labels" in kwargs:
        kwargs["late_labels"] = LateLabels(**kwargs["late_labels"])
    return LearnerSpec(**kwargs)


_DATA: dict[str, list[Example]] = {}


def _load(path: str) -> list[Example]:
    if path not in _DATA:
        _DATA.clear()
        _DATA[path] = list(parse_stream(f"csv:{path}", target="target").events())
    return _DATA[path]


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One run: a setting on one stream, seed, budget and delay."""
    setting = job["setting_spec"]
    spec = spec_of(setting)
    budget = float(setting.get("budget", job["budget"]))
    learner: ActiveLearner = spec.build(job["seed"], budget=budget)
    data = _load(job["csv"])
    result = prequential(
        data,
        learner,
        delay=job["delay"],
        clock=time.perf_counter,
        jitter=job.get("jitter", 0),
        seed=job["seed"],
    )
    out = {k: v for k, v in job.items() if k != "setting_spec"}
    return out | {
        "accuracy": result.accuracy,
        "label_fraction": result.label_fraction,
        "n_events": result.n_events,
        "drifts": result.drifts,
        "us_per_event": result.seconds * 1e6 / result.n_events,
        "served": getattr(learner, "served_name", None),
    }


def _key(r: Mapping[str, Any]) -> tuple[Any, ...]:
    key = (r["setting"], r["stream"], r["seed"], float(r["budget"]), int(r["delay"]))
    return (*key, int(r.get("jitter", 0)))


def _read(path: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                found[_key(r)] = r
    return found


def run(args: argparse.Namespace, settings: dict[str, dict[str, Any]]) -> None:
    halves = split_halves(STREAMS)
    streams = [STREAM[s] for s in args.streams]
    for s in streams:
        if halves[s.name] != TUNING:
            raise SystemExit(f"tune: {s.name} is in the reporting half: not for tuning")
    csvs = export(streams, range(args.first_seed, args.first_seed + args.seeds), args.data)
    done = _read(args.out)
    jobs = []
    for name in args.run:
        setting = settings[name]
        budgets = [1.0] if "budget" in setting else args.budgets
        delays = [0] if "budget" in setting else args.delays
        for (stream, seed), path in sorted(csvs.items()):
            for budget in budgets:
                for delay in delays:
                    job = {
                        "setting": name,
                        "stream": stream,
                        "seed": seed,
                        "budget": budget,
                        "delay": delay,
                        "csv": str(path),
                    }
                    if min(args.jitter, delay):  # runs without jitter keep their keys
                        job["jitter"] = min(args.jitter, delay)
                    if _key(job) not in done:
                        jobs.append(job | {"setting_spec": setting})
    jobs.sort(key=lambda j: j["csv"])  # one stream in memory per worker, mostly
    print(f"tune: {len(jobs)} runs", file=sys.stderr)
    with args.out.open("a") as out, ProcessPoolExecutor(args.workers) as pool:
        for i, result in enumerate(pool.map(run_one, jobs, chunksize=4)):
            out.write(json.dumps(result) + "\n")
            out.flush()
            if (i + 1) % 50 == 0:
                print(f"tune: {i + 1}/{len(jobs)}", file=sys.stderr)


def compare(args: argparse.Namespace) -> None:
    """Per stream and budget: each setting's mean accuracy minus the reference's."""
    rows = _read(args.out)
    acc: dict[tuple[Any, ...], dict[int, tuple[float, float]]] = defaultdict(dict)
    for (name, stream, seed, budget, delay), r in rows.items():
        acc[(name, stream, budget, delay)][seed] = (r["accuracy"], r["label_fraction"])
    ref = args.against
    for delay in args.delays:
        for budget in args.budgets:
            print(f"\n## budget {budget}, delay {delay}: accuracy minus {ref} (points)")
            print("| stream | " + " | ".join(args.compare) + f" | {ref} |")
            diffs: dict[str, list[float]] = defaultdict(list)
            for stream in args.streams:
                base = acc.get((ref, stream, budget, delay)) or acc.get((ref, stream, 1.0, 0))
                if not base:
                    continue
                cells = []
                for name in args.compare:
                    runs = acc.get((name, stream, budget, delay)) or acc.get((name, stream, 1.0, 0))
                    seeds = sorted(set(runs or {}) & set(base))
                    if not seeds:
                        cells.append("–")
                        continue
                    d = [100 * (runs[k][0] - base[k][0]) for k in seeds]  # type: ignore[index]
                    diffs[name] += d
                    frac = statistics.fmean(runs[k][1] for k in seeds)  # type: ignore[index]
                    p = wilcoxon(d).p if len(d) > 1 else 1.0
                    mark = "*" if p < 0.05 else ""
                    cells.append(f"{statistics.fmean(d):+.2f}{mark} [{100 * frac:.1f}%]")
                mean_base = statistics.fmean(a for a, _ in base.values())
                print(f"| {stream} | " + " | ".join(cells) + f" | {100 * mean_base:.2f} |")
            summary = []
            for name in args.compare:
                d = diffs[name]
                if d:
                    t = wilcoxon(d)
                    mean = statistics.fmean(d)
                    summary.append(f"{mean:+.2f} (p={t.p:.2g}, {t.wins}W/{t.losses}L)")
                else:
                    summary.append("–")
            print("| **all** | " + " | ".join(summary) + " | |")
    if len(args.budgets) > 1:
        _savings(args, acc)


def _point(
    acc: Mapping[tuple[Any, ...], Mapping[int, tuple[float, float]]], key: tuple[Any, ...]
) -> tuple[float, float] | None:
    """``(mean true label fraction, mean accuracy)`` of a setting's runs, if any."""
    runs = acc.get(key)
    if not runs:
        return None
    return (
        statistics.fmean(f for _, f in runs.values()),
        statistics.fmean(a for a, _ in runs.values()),
    )


def _savings(args: argparse.Namespace, acc: Mapping[tuple[Any, ...], Any]) -> None:
    ref = args.against
    for delay in args.delays:
        print(f"\n## label-savings ratio against {ref}, delay {delay} (median over streams)")
        for name in args.compare:
            line = []
            for budget in args.budgets:
                ratios = []
                for stream in args.streams:
                    curve = [
                        p for b in args.budgets if (p := _point(acc, (name, stream, b, delay)))
                    ]
                    reference = _point(acc, (ref, stream, budget, delay))
                    if curve and reference:
                        ratios.append(savings_ratio(curve, reference).value)
                if ratios:
                    line.append(f"{budget}: {statistics.median(ratios):.2f}")
            print(f"- {name}: " + ", ".join(line))


def main(argv: list[str] | None = None) -> int:
    halves = split_halves(STREAMS)
    tuning = [s.name for s in STREAMS if halves[s.name] == TUNING and s.path_option is None]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--run", default="", help="comma-separated settings to run")
    add("--compare", default="", help="comma-separated settings to compare")
    add("--against", default="random", help="the reference setting")
    add("--setting", action="append", default=[], help="NAME=JSON: a setting of your own")
    add("--streams", default=",".join(tuning))
    add("--budgets", default="0.02,0.05,0.1,0.2")
    add("--delays", default="0")
    add(
        "--jitter",
        type=int,
        default=0,
        help="each label's delay drawn from delay +- jitter events (seeded by the run's seed)",
    )
    add("--seeds", type=int, default=5)
    add(
        "--first-seed",
        type=int,
        default=0,
        help="seeds first-seed .. first-seed + seeds - 1 (fresh seeds for a confirmation)",
    )
    add("--workers", type=int, default=min(2, os.cpu_count() or 1))
    add("--out", type=Path, default=BENCH / "results" / "tune.jsonl")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    add("--data", type=Path, default=cache / "stream-al" / "bench-streams")
    args = parser.parse_args(argv)
    settings = dict(SETTINGS)
    for text in args.setting:
        name, _, spec = text.partition("=")
        settings[name] = json.loads(spec)
    args.run = [s for s in args.run.split(",") if s]
    args.compare = [s for s in args.compare.split(",") if s]
    args.streams = [s for s in args.streams.split(",") if s]
    args.budgets = [float(b) for b in args.budgets.split(",")]
    args.delays = [int(d) for d in args.delays.split(",")]
    unknown = [s for s in args.run if s not in settings]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; known: {', '.join(settings)}")
    if args.run:
        run(args, settings)
    if args.compare:
        compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
