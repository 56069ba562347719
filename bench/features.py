"""Benchmark the learner options beyond plain uncertainty sampling (a BENCHMARKS.md appendix).

Run from the repository root with stream-al's virtual environment::

    .venv/bin/python bench/features.py --elec2 ../shared/data/elec2.csv \\
        --out bench/results/features.json --markdown bench/results/features.md

then append the markdown to the report with
``bench/run_peers.py --report-only --appendix bench/results/features.md``.

Seven comparisons, each a part named by a letter (``--only a,c`` runs a subset):

a. query by committee (bagging, vote entropy and KL) against random and a plain tree;
b. density weighting of the score (``Shaping(density_beta=...)``);
c. class-imbalance weighting on Shuttle (``Shaping(imbalance=...)``), minority labels;
d. a budget in label-cost units, with and without cost-aware ranking (``cost_power``);
e. the stopping rule (``LearnerSpec(stop_after=N)``);
f. label-free drift detection (``DriftReaction(label_free=True)``);
g. the ``moving-average`` strategy.

Every run is prequential (test then train, labels learned at once) over ``--seeds`` seeds
(synthetic streams differ per seed; Elec2 and Shuttle are the same events for every seed,
only the learner's seed changes). Runs already in ``--out`` with the same settings are
kept (the script resumes where it stopped; ``--fresh`` reruns the selected parts); the JSON
is rewritten
after every cell and the markdown is built from it, so an interrupted run loses little.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stream_al.core.drift import DriftReaction
from stream_al.core.learner import ActiveLearner
from stream_al.core.shaping import Shaping
from stream_al.core.spec import LearnerSpec
from stream_al.core.strategies import QUERY_RANDOM
from stream_al.core.types import Example, Features
from stream_al.data.streams import parse_stream
from stream_al.evaluation.prequential import mean_ci95, prequential

DRIFT_STREAMS = ("sea-drift", "agrawal-drift", "hyperplane", "rbf-drift")
RECORDED = ("elec2", "shuttle")
RVU = "randomized-variable-uncertainty"
VU = "variable-uncertainty"
QBC_EVENTS = 10_000
SYNTH_EVENTS = 20_000
MINORITY = 1  # Shuttle's rare class (7% of the events)
EXPENSIVE_LOAN = 1_000_000 / 3  # Agrawal's loan is uniform on [0, 500k]: a third above this
EXPENSIVE_COST = 5.0
MIN_EFFECT = 0.001  # a difference under 0.1 point is "no clear difference" in any case


def _spec(**settings: Any) -> LearnerSpec:
    """A learner of these comparisons: the label-scarce Hoeffding tree and split unless
    told otherwise. The options were built on that learner and are measured on it, not on
    whatever the default learner is today (``auto`` races three models since issue 16)."""
    return LearnerSpec(**{"model": "hoeffding-tree", "strategy": "split", **settings})


Runner = Literal["prequential", "counted"]
Metrics = dict[str, float]


# -- what is compared ------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One learner configuration: a table row within a cell."""

    name: str
    spec: LearnerSpec


@dataclass(frozen=True)
class Cell:
    """A group of rows run on the same events: a stream, or a stream and a setting."""

    name: str
    stream: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Comparison:
    """An option against its reference, cell by cell, paired over seeds."""

    option: str
    reference: str
    metric: str = "accuracy"
    also: tuple[str, ...] = ("label_fraction",)


@dataclass(frozen=True)
class Part:
    """One comparison table of the report."""

    key: str
    title: str
    cells: tuple[Cell, ...]
    n_events: int | None
    columns: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    note: str
    runner: Runner = "prequential"
    costs: bool = False
    cell_header: str = "Stream"


def _grid(streams: Iterable[str], variants: Sequence[Variant]) -> tuple[Cell, ...]:
    return tuple(Cell(s, s, tuple(variants)) for s in streams)


BASIC_COLUMNS = ("accuracy", "label_fraction", "us_per_event")


def _part_a() -> Part:
    bagging = {"model": "bagging", "strategy": RVU}
    variants = (
        Variant("bagging, RVU, vote entropy", _spec(**bagging, uncertainty="vote-entropy")),
        Variant("bagging, RVU, KL", _spec(**bagging, uncertainty="kl")),
        Variant("bagging, random", _spec(model="bagging", strategy="random")),
        Variant("tree, RVU (leaf)", _spec(strategy=RVU)),
        Variant("tree, random", _spec(strategy="random")),
    )
    return Part(
        "a",
        "Query by committee",
        _grid(DRIFT_STREAMS, variants),
        QBC_EVENTS,
        BASIC_COLUMNS,
        (
            Comparison("bagging, RVU, vote entropy", "bagging, random"),
            Comparison("bagging, RVU, KL", "bagging, random"),
            Comparison("bagging, RVU, vote entropy", "tree, RVU (leaf)"),
            Comparison("bagging, RVU, KL", "tree, RVU (leaf)"),
        ),
        "Online bagging of 10 Hoeffding trees asking where its members disagree (RVU = "
        "randomized variable uncertainty on the disagreement score), against the same "
        "committee asking at random and a single Hoeffding tree (uncertainty `auto`, the "
        f"impurity of its leaf). Bagging is slow, so every row of this table is on the "
        f"first {QBC_EVENTS:,} events of each stream (the other tables use {SYNTH_EVENTS:,}).",
    )


def _part_b() -> Part:
    variants = [
        Variant(f"{strategy}, β={beta:g}", _spec(strategy=strategy, shaping=shaping))
        for strategy in (RVU, "split")
        for beta, shaping in ((0.0, Shaping()), *((b, Shaping(density_beta=b)) for b in (1.0, 2.0)))
    ]
    variants.append(Variant("random", _spec(strategy="random")))
    comparisons = tuple(
        Comparison(f"{strategy}, β={beta}", f"{strategy}, β=0")
        for strategy in (RVU, "split")
        for beta in (1, 2)
    )
    return Part(
        "b",
        "Density weighting",
        _grid((*DRIFT_STREAMS, "elec2"), variants),
        SYNTH_EVENTS,
        BASIC_COLUMNS,
        comparisons,
        "Hoeffding tree; the uncertainty score multiplied by the recent stream's density at "
        "the event to the power β (`Shaping(density_beta=β)`, 200 recent points), so "
        "isolated outliers are asked less. β=0 is the plain strategy.",
    )


def _part_c() -> Part:
    cells: list[Cell] = []
    for budget in (0.01, 0.05):
        for strategy in (VU, "split"):
            variants = tuple(
                Variant(
                    f"imbalance {power}",
                    _spec(strategy=strategy, budget=budget, shaping=Shaping(imbalance=power)),
                )
                for power in (0, 1, 2)
            )
            cells.append(Cell(f"{strategy} @ {budget:.0%}", "shuttle", variants))
        random = Variant("imbalance 0", _spec(strategy="random", budget=budget))
        cells.append(Cell(f"random @ {budget:.0%}", "shuttle", (random,)))
    return Part(
        "c",
        "Class imbalance (Shuttle)",
        tuple(cells),
        None,
        (
            "accuracy",
            "balanced_accuracy",
            "minority_recall",
            "minority_labels",
            "label_fraction",
            "us_per_event",
        ),
        (
            Comparison("imbalance 1", "imbalance 0", "balanced_accuracy", ("minority_labels",)),
            Comparison("imbalance 2", "imbalance 0", "balanced_accuracy", ("minority_labels",)),
        ),
        f"`river:Shuttle`, all 49,097 events, class {MINORITY} the 7% minority; Hoeffding "
        "tree; items predicted as a class with few labels so far get their score weighted "
        "up by (mean labels per class / labels of that class) ** power, capped at 10 "
        "(`Shaping(imbalance=power)`). *Balanced accuracy* is the mean of the two classes' "
        "recalls and *minority recall* the share of class-1 events predicted as 1, both over "
        "every event of the stream (prequential); *minority labels* is how many class-1 "
        "labels were asked. Variable uncertainty and the tree draw no random numbers, so "
        "its three seeds are the same run (± 0.00).",
        runner="counted",
        cell_header="Strategy @ budget",
    )


def _part_d() -> Part:
    cost = {"strategy": VU, "unit": "cost"}
    variants = (
        Variant("cost units, cost_power 0", _spec(**cost)),
        Variant("cost units, cost_power 1", _spec(**cost, shaping=Shaping(cost_power=1.0))),
        Variant("cost units, random", _spec(strategy="random", unit="cost")),
        Variant("event units, cost_power 0", _spec(strategy=VU)),
    )
    return Part(
        "d",
        "Cost-sensitive budget",
        _grid(("agrawal-drift",), variants),
        SYNTH_EVENTS,
        (
            "accuracy",
            "label_fraction",
            "cost_share",
            "label_cost",
            "accuracy_per_cost",
            "us_per_event",
        ),
        (
            Comparison(
                "cost units, cost_power 1",
                "cost units, cost_power 0",
                "accuracy",
                ("label_fraction", "cost_share", "label_cost", "accuracy_per_cost"),
            ),
            Comparison(
                "cost units, cost_power 0",
                "event units, cost_power 0",
                "accuracy",
                ("label_fraction", "cost_share", "label_cost"),
            ),
        ),
        f"`synth:agrawal-drift` where a label costs {EXPENSIVE_COST:g} when `loan` > "
        f"{EXPENSIVE_LOAN:,.0f} (a third of the events, and about {_expensive_share():.0%} "
        "of the stream's total cost) and 1 otherwise, passed as `decide(x, cost)`. Budget "
        '10% of the stream\'s label cost (`unit="cost"`) or of its events (`unit="events"`, '
        "for reference); `cost_power 1` ranks by uncertainty per unit of cost. Variable "
        "uncertainty, Hoeffding tree. *Cost spent* is the cost of the labels asked over the "
        "cost of labeling every event; *mean cost of a label* is the cost spent per label "
        f"asked (an event costs {_mean_cost():.2f} on average), and *accuracy / cost* is "
        "accuracy (%) over cost spent (%). A budget in cost units admits a label only while "
        "there is room for its cost, so cheap labels get through more often even with "
        "`cost_power 0`. Note `loan` is not a feature of Agrawal's concept 1 but is one of "
        "concept 4 (the second half of the stream), so the expensive labels are not "
        "uninformative.",
        runner="counted",
        costs=True,
    )


def _mean_cost() -> float:
    third = 1 / 3
    return third * EXPENSIVE_COST + (1 - third)


def _expensive_share() -> float:
    return EXPENSIVE_COST / 3 / _mean_cost()


def _part_e() -> Part:
    variants = (
        Variant("no stopping", _spec()),
        Variant("stop_after 500", _spec(stop_after=500)),
        Variant("stop_after 2000", _spec(stop_after=2000)),
    )
    return Part(
        "e",
        "Stopping rule",
        _grid(("sea-drift", "agrawal-drift", "elec2"), variants),
        SYNTH_EVENTS,
        BASIC_COLUMNS,
        (
            Comparison("stop_after 500", "no stopping"),
            Comparison("stop_after 2000", "no stopping"),
        ),
        "Hoeffding tree, `split` (half of the decisions random). With `stop_after=N` the "
        "learner stops asking (but for the random half) once N labels have not improved "
        "the accuracy measured on the random-slice labels; a drift resumes it. What to look "
        "for: labels saved against accuracy lost.",
    )


def _part_f() -> Part:
    variants = (
        Variant("label-free off", _spec()),
        Variant(
            "label-free on",
            _spec(drift=DriftReaction(label_free=True)),
        ),
    )
    return Part(
        "f",
        "Label-free drift detection",
        _grid(("sea-drift", "agrawal-drift", "rbf-drift"), variants),
        SYNTH_EVENTS,
        (*BASIC_COLUMNS[:2], "label_free_drifts", "drifts", "us_per_event"),
        (Comparison("label-free on", "label-free off", "accuracy", ("label_fraction", "drifts")),),
        "Hoeffding tree, `split`, the default drift reaction (ADWIN on the labeled error, "
        "budget boost, warm restart, challenger) with and without an ADWIN on the "
        "uncertainty of every event (`DriftReaction(label_free=True)`), whose detections "
        "boost the budget before labels confirm a drift. *Label-free detections* and "
        "*labeled drifts* are per run.",
    )


def _part_g() -> Part:
    variants = (
        Variant("moving-average", _spec(strategy="moving-average")),
        Variant("RVU", _spec(strategy=RVU)),
        Variant("random", _spec(strategy="random")),
    )
    return Part(
        "g",
        "Moving-average strategy",
        _grid((*DRIFT_STREAMS, "elec2"), variants),
        SYNTH_EVENTS,
        BASIC_COLUMNS,
        (Comparison("moving-average", "RVU"), Comparison("moving-average", "random")),
        "Hoeffding tree; `moving-average` asks when the uncertainty is above its moving mean "
        "plus one standard deviation (k=1, alpha=0.01), against randomized variable "
        "uncertainty (RVU) and random sampling at the same budget.",
    )


PARTS: dict[str, Callable[[], Part]] = {
    "a": _part_a,
    "b": _part_b,
    "c": _part_c,
    "d": _part_d,
    "e": _part_e,
    "f": _part_f,
    "g": _part_g,
}


# -- the streams -----------------------------------------------------------------------


class Streams:
    """The events of each stream and seed, read once and kept while a part runs."""

    def __init__(self, elec2: Path | None, max_events: int | None = None):
        self.elec2 = elec2
        self.max_events = max_events
        self._cache: dict[tuple[str, int, int | None], list[Example]] = {}

    def events(self, stream: str, seed: int, n_events: int | None) -> list[Example]:
        data_seed = 0 if stream in RECORDED else seed
        n = None if stream in RECORDED else n_events
        if self.max_events is not None:
            n = min(n or self.max_events, self.max_events)
        key = (stream, data_seed, n)
        if key not in self._cache:
            self._cache[key] = list(self._spec(stream, n).events(data_seed))
        return self._cache[key]

    def _spec(self, stream: str, n_events: int | None) -> Any:
        if stream == "elec2":
            if self.elec2 is None:
                raise SystemExit("features: Elec2 needs --elec2 PATH (../shared/data/elec2.csv)")
            return parse_stream(f"csv:{self.elec2}", target="class", n_events=n_events)
        if stream == "shuttle":
            return parse_stream("river:Shuttle", n_events=n_events)
        return parse_stream(f"synth:{stream}", n_events=n_events)

    def clear(self) -> None:
        self._cache.clear()


def label_cost(x: Features) -> float:
    """The cost rule of part d: expensive when the loan is large (a third of Agrawal)."""
    return EXPENSIVE_COST if x["loan"] > EXPENSIVE_LOAN else 1.0


# -- the runs --------------------------------------------------------------------------


def run_prequential(data: Sequence[Example], learner: ActiveLearner) -> Metrics:
    """One pass with :func:`prequential`; the learner's drift counters read after it."""
    result = prequential(data, learner, clock=time.perf_counter)
    return {
        "accuracy": result.accuracy,
        "label_fraction": result.label_fraction,
        "us_per_event": result.seconds / result.n_events * 1e6,
        "drifts": float(learner.n_drifts),
        "label_free_drifts": float(learner.n_label_free_drifts),
    }


def run_counted(
    data: Sequence[Example], learner: ActiveLearner, cost: Callable[[Features], float] | None
) -> Metrics:
    """Test then train by hand: per-class recall, minority labels and label cost."""
    hits: Counter[Any] = Counter()
    seen: Counter[Any] = Counter()
    minority_labels = 0
    spent = total_cost = 0.0
    decide, learn = learner.decide, learner.learn
    start = time.perf_counter()
    for x, y in data:
        c = cost(x) if cost is not None else 1.0
        total_cost += c
        d = decide(x, c)
        seen[y] += 1
        if d.prediction == y:
            hits[y] += 1
        if d.queried:
            spent += c
            minority_labels += y == MINORITY
            learn(x, y, d.prediction, d.reason == QUERY_RANDOM)
    seconds = time.perf_counter() - start
    n = len(data)
    recalls = {k: hits[k] / v for k, v in seen.items()}
    accuracy = sum(hits.values()) / n
    cost_share = spent / total_cost
    return {
        "accuracy": accuracy,
        "label_fraction": learner.n_queried / n,
        "us_per_event": seconds / n * 1e6,
        "balanced_accuracy": statistics.fmean(recalls.values()),
        "minority_recall": recalls.get(MINORITY, 0.0),
        "minority_labels": float(minority_labels),
        "cost_share": cost_share,
        "label_cost": spent / learner.n_queried if learner.n_queried else 0.0,
        "event_cost": total_cost / n,
        "accuracy_per_cost": accuracy / cost_share if cost_share else 0.0,
        "drifts": float(learner.n_drifts),
    }


def run_variant(part: Part, variant: Variant, data: Sequence[Example], seed: int) -> Metrics:
    learner = variant.spec.build(seed)
    if part.runner == "prequential":
        return run_prequential(data, learner)
    return run_counted(data, learner, label_cost if part.costs else None)


# -- the results file ------------------------------------------------------------------


def row_key(cell: Cell, variant: Variant) -> str:
    return f"{cell.name} | {variant.name}"


@dataclass
class Results:
    """The JSON file: per part, its settings and one entry per row (every seed's run)."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Results:
        if path.exists():
            return cls(path, json.loads(path.read_text()))
        return cls(path, {"parts": {}})

    def part(
        self, part: Part, seeds: int, max_events: int | None, fresh: bool = False
    ) -> dict[str, Any]:
        """The stored part, emptied when asked or when it was run with other settings."""
        settings = {"seeds": seeds, "n_events": part.n_events, "max_events": max_events}
        stored = self.data["parts"].get(part.key)
        if fresh or not stored or stored.get("settings") != settings:
            stored = {"settings": settings, "rows": {}}
            self.data["parts"][part.key] = stored
        stored["title"] = part.title
        return stored

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        tmp.replace(self.path)


def summarize(runs: Sequence[Metrics]) -> dict[str, float]:
    """Mean of every metric; the accuracy's half 95% interval over seeds."""
    summary = {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
    _, lo, hi = mean_ci95([r["accuracy"] for r in runs])
    summary["accuracy_half_ci95"] = (hi - lo) / 2
    return summary


def run_part(
    part: Part, seeds: int, streams: Streams, results: Results, fresh: bool = False
) -> None:
    stored = results.part(part, seeds, streams.max_events, fresh)
    for cell in part.cells:
        for variant in cell.variants:
            key = row_key(cell, variant)
            if key in stored["rows"]:
                continue
            started = time.perf_counter()
            runs = []
            for seed in range(seeds):
                data = streams.events(cell.stream, seed, part.n_events)
                runs.append(run_variant(part, variant, data, seed))
            stored["rows"][key] = {
                "cell": cell.name,
                "stream": cell.stream,
                "variant": variant.name,
                "n_events": len(data),
                "runs": runs,
                "summary": summarize(runs),
                "seconds": time.perf_counter() - started,
            }
            results.save()
            summary = stored["rows"][key]["summary"]
            print(
                f"features {part.key}: {key}: accuracy {summary['accuracy']:.4f}, labels "
                f"{summary['label_fraction']:.3f}, {summary['us_per_event']:.0f} µs/event",
                file=sys.stderr,
            )
    streams.clear()


# -- the verdicts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """An option minus its reference in one cell, paired over seeds."""

    cell: str
    diff: float
    lo: float
    hi: float
    also: dict[str, tuple[float, float]]
    single: bool = False  # every seed made the same run: no spread to judge by

    @property
    def sign(self) -> int | None:
        if self.single:
            return None
        if self.lo > 0 and self.diff >= MIN_EFFECT:
            return 1
        if self.hi < 0 and self.diff <= -MIN_EFFECT:
            return -1
        return 0


def effects(rows: dict[str, Any], comparison: Comparison) -> list[Effect]:
    """The comparison in every cell that has both rows."""
    by_cell: dict[str, dict[str, Any]] = {}
    for row in rows.values():
        by_cell.setdefault(row["cell"], {})[row["variant"]] = row
    found = []
    for cell, variants in by_cell.items():
        option, reference = variants.get(comparison.option), variants.get(comparison.reference)
        if option is None or reference is None:
            continue
        metric = comparison.metric
        diffs = [
            a[metric] - b[metric] for a, b in zip(option["runs"], reference["runs"], strict=True)
        ]
        mean, lo, hi = mean_ci95(diffs)
        also = {
            k: (reference["summary"][k], option["summary"][k])
            for k in comparison.also
            if k in option["summary"]
        }
        single = (
            all(len({r[metric] for r in row["runs"]}) == 1 for row in (option, reference))
            and len(diffs) > 1
        )
        found.append(Effect(cell, mean, lo, hi, also, single))
    return found


def _also_text(effect: Effect) -> str:
    notes = []
    for key, (before, after) in effect.also.items():
        if _changed(key, before, after):
            notes.append(f"{LABELS[key]} {FORMATS[key](before)} → {FORMATS[key](after)}")
    return "; " + ", ".join(notes) if notes else ""


def _changed(key: str, before: float, after: float) -> bool:
    if key in ("label_fraction", "cost_share"):
        return abs(after - before) >= 0.005
    if key in ("accuracy_per_cost", "label_cost"):
        return abs(after - before) >= 0.05
    return abs(after - before) >= max(1.0, 0.05 * abs(before))


def _effect_text(effect: Effect, unit: str) -> str:
    half = (effect.hi - effect.lo) / 2
    spread = "" if effect.single else f" ± {100 * half:.2f}"
    return f"{effect.cell} ({_signed(effect.diff)}{spread} {unit}{_also_text(effect)})"


def _signed(value: float) -> str:
    text = f"{100 * abs(value):.2f}"
    return f"+{text}" if value >= 0 else f"−{text}"


def verdict(rows: dict[str, Any], comparison: Comparison) -> str:
    """One sentence: where the option helps, hurts, or makes no clear difference."""
    found = effects(rows, comparison)
    if not found:
        return ""
    unit = "points"
    groups: dict[int | None, str] = {
        1: "helps on",
        -1: "hurts on",
        0: "no clear difference on",
        None: "one deterministic run (all seeds identical, no spread to judge by) on",
    }
    clauses = []
    for sign, words in groups.items():
        chosen = [e for e in found if e.sign == sign]
        if chosen:
            clauses.append(f"{words} " + ", ".join(_effect_text(e, unit) for e in chosen))
    mean = statistics.fmean(e.diff for e in found)
    what = "" if comparison.metric == "accuracy" else f" ({LABELS[comparison.metric]})"
    average = f" Mean over {len(found)} cells: {_signed(mean)} {unit}." if len(found) > 1 else ""
    return (
        f"- **{comparison.option}** against **{comparison.reference}**{what}: "
        + "; ".join(clauses)
        + "."
        + average
    )


# -- the markdown ----------------------------------------------------------------------


def _pct(digits: int) -> Callable[[float], str]:
    return lambda v: f"{100 * v:.{digits}f}%"


LABELS = {
    "accuracy": "accuracy (%)",
    "label_fraction": "labels",
    "us_per_event": "µs/event",
    "balanced_accuracy": "balanced accuracy",
    "minority_recall": "minority recall",
    "minority_labels": "minority labels",
    "cost_share": "cost spent",
    "label_cost": "mean cost of a label",
    "accuracy_per_cost": "accuracy / cost",
    "label_free_drifts": "label-free detections",
    "drifts": "labeled drifts",
}
FORMATS: dict[str, Callable[[float], str]] = {
    "label_fraction": _pct(1),
    "us_per_event": lambda v: f"{v:,.0f}",
    "balanced_accuracy": _pct(2),
    "minority_recall": _pct(1),
    "minority_labels": lambda v: f"{v:,.0f}",
    "cost_share": _pct(1),
    "label_cost": lambda v: f"{v:.2f}",
    "accuracy_per_cost": lambda v: f"{v:.2f}",
    "label_free_drifts": lambda v: f"{v:.1f}",
    "drifts": lambda v: f"{v:.1f}",
}


def _cell_value(summary: dict[str, float], key: str) -> str:
    if key == "accuracy":
        return f"{100 * summary['accuracy']:.2f} ± {100 * summary['accuracy_half_ci95']:.2f}"
    return FORMATS[key](summary[key])


def table(part: Part, rows: dict[str, Any]) -> list[str]:
    header = [part.cell_header, "Learner", *(LABELS[c] for c in part.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in part.cells:
        for variant in cell.variants:
            row = rows.get(row_key(cell, variant))
            if row is None:
                continue
            values = [_cell_value(row["summary"], c) for c in part.columns]
            lines.append("| " + " | ".join([cell.name, variant.name, *values]) + " |")
    return lines


def _events_text(part: Part, rows: dict[str, Any]) -> str:
    counts = sorted({(r["stream"], r["n_events"]) for r in rows.values()})
    return ", ".join(f"{s} {n:,}" for s, n in counts)


def section(part: Part, stored: dict[str, Any]) -> list[str]:
    rows = stored["rows"]
    seconds = sum(r["seconds"] for r in rows.values())
    lines = [
        f"### {part.key}. {part.title}",
        "",
        part.note,
        "",
        f"Events: {_events_text(part, rows)}; {stored['settings']['seeds']} seeds; "
        f"{seconds / 60:.1f} min of runs.",
        "",
        *table(part, rows),
        "",
    ]
    verdicts = [v for v in (verdict(rows, c) for c in part.comparisons) if v]
    return [*lines, *verdicts, ""]


INTRO = """## Beyond plain uncertainty

Generated by `bench/features.py` ({when}; {machine}; {total:.0f} min of runs; load average
{load} when it started). Every run is prequential, test then train: each event is predicted
before its label can count, an asked label is learned at once, accuracy is over every
event and *labels* is the fraction of events whose label was really asked (the cold start
included). Rows are means over {seeds} seeds (synthetic streams: a new stream per seed;
Elec2 and Shuttle: the same events, only the learner's seed changes); accuracy is given
± half its 95% t-interval over seeds. Budget 10% unless stated; Hoeffding tree with
stream-al's settings and its default drift reaction. RVU is randomized variable
uncertainty.

Verdicts compare each option with its reference on the same events and seeds (paired):
an option **helps** or **hurts** where the 95% interval of the paired difference excludes
zero (and the difference is at least 0.1 point), otherwise the difference is not clear at
this number of seeds. µs/event are wall-clock times on a shared machine (other jobs ran
at the same time): compare them within a table, not with other tables.
"""


def markdown(results: Results, seeds: int) -> str:
    parts = [PARTS[k]() for k in sorted(results.data["parts"]) if k in PARTS]
    stored = results.data["parts"]
    total = sum(r["seconds"] for p in stored.values() for r in p["rows"].values())
    meta = results.data.get("meta", {})
    out = [
        INTRO.format(
            when=meta.get("date", "?"),
            machine=meta.get("machine", "?"),
            total=total / 60,
            load=meta.get("load", "?"),
            seeds=seeds,
        )
    ]
    for part in parts:
        out += section(part, stored[part.key])
    return "\n".join(out).rstrip() + "\n"


# -- the command -----------------------------------------------------------------------


def _meta() -> dict[str, Any]:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    cpus = os.cpu_count() or 1
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {cpus} cores, Python {platform.python_version()}",
        "load": load,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elec2", type=Path, help="path of elec2.csv (parts b, e and g)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/features.json"))
    parser.add_argument("--markdown", type=Path, default=Path("bench/results/features.md"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts, a-g")
    parser.add_argument(
        "--fresh", action="store_true", help="rerun the selected parts (ignore their stored runs)"
    )
    parser.add_argument(
        "--max-events", type=int, help="cap every stream at N events (a quick check, not a result)"
    )
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in PARTS]
    if unknown or args.seeds < 1:
        parser.error(f"unknown parts {unknown} (choose among {', '.join(PARTS)}) or seeds < 1")
    results = Results.load(args.out)
    results.data["meta"] = {**_meta(), "seeds": args.seeds}
    streams = Streams(args.elec2, args.max_events)
    for key in keys:
        run_part(PARTS[key](), args.seeds, streams, results, args.fresh)
    results.save()
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(results, args.seeds))
    print(f"features: wrote {args.out} and {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
