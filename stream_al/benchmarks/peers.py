"""Label efficiency against the peers: the streams, the jobs and the ``BENCHMARKS.md`` report.

Every system is evaluated by a runner of its own (``bench/peers/*_peer.py``, each in the
virtual environment its library needs) on the **same CSV files**, with the same
prequential protocol: each event is predicted first (no prediction counts as wrong), then
the strategy decides, and an asked label is learned at once. All systems wrap the same
model: River's Hoeffding tree with stream-al's settings for scarce labels (MOA's own
Hoeffding tree with the same options), and logistic regression on Elec2; stream-al
predicts the tree with its correction of River's naive-Bayes leaves for classes seen
fewer than twice (``TreePredictor(pooled=True)``). A runner writes one JSON line per job;
this module turns the lines into tables and plots.

Systems do not spend exactly the same: a budget estimator asks more at the start, a
sampler without a budget parameter is calibrated. So a comparison is made **at the same
true label fraction**: stream-al's best strategy at a budget (its ``random`` excluded,
that is the baseline) against each peer strategy's accuracy interpolated, over its own
budgets, at stream-al's label fraction (linear in the log of the fraction; no
extrapolation beyond 10% of a strategy's measured range). Random sampling is compared
the same way.

Examples
--------
>>> rows = aggregate([
...     {"stream": "s", "model": "m", "system": "a", "strategy": "x", "budget": 0.1,
...      "seed": seed, "accuracy": acc, "label_fraction": 0.1, "us_per_event": 20.0}
...     for seed, acc in enumerate([0.70, 0.72, 0.74])
... ])
>>> [(r.system, r.strategy, round(r.accuracy, 2), r.seeds) for r in rows]
[('a', 'x', 0.72, 3)]

"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_al.core.types import Example
from stream_al.evaluation.prequential import mean_ci95

__all__ = [
    "BUDGETS",
    "RECORDED",
    "STRATEGIES",
    "STREAMS",
    "Row",
    "accuracy_at",
    "aggregate",
    "best",
    "best_peer_at",
    "jobs_for",
    "plot_stream",
    "render_report",
    "speed_section",
    "write_csv",
]

STREAMS: dict[str, str] = {
    "elec2": "csv:{elec2}",
    "sea-drift": "synth:sea-drift",
    "agrawal-drift": "synth:agrawal-drift",
    "hyperplane": "synth:hyperplane",
    "rbf-drift": "synth:rbf-drift",
    "shuttle": "river:Shuttle",
    "image-segments": "river:ImageSegments",
}
# Recorded streams are the same for every seed (only the strategies' draws differ).
RECORDED = frozenset({"elec2", "shuttle", "image-segments"})
BUDGETS = (0.01, 0.05, 0.1, 0.2)
STRATEGIES: dict[str, tuple[str, ...]] = {
    "stream-al": (
        "split",
        "variable-uncertainty",
        "randomized-variable-uncertainty",
        "fixed-uncertainty",
        "moving-average",
        "random",
    ),
    "scikit-activeml": (
        "StreamRandomSampling",
        "FixedUncertainty",
        "VariableUncertainty",
        "RandomVariableUncertainty",
        "Split",
        "StreamProbabilisticAL",
    ),
    "river": ("EntropySampler",),
    "moa": ("FixedUncertainty", "VarUncertainty", "RandVarUncertainty", "SelSampling", "ALRandom"),
}
# The ceiling: stream-al's plain model with every label.
FULL = "full"
# How far beyond its measured label fractions a strategy's accuracy is carried.
REACH = 1.1


def write_csv(examples: Iterable[Example], path: Path) -> int:
    """Write a labeled stream as the runners read it: float features, then ``target``.

    Returns the number of rows. Every event must have the first event's features (the
    benchmark streams are dense); a missing one is an error, not a silent blank.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        keys: list[Any] = []
        for x, y in examples:
            if not keys:
                keys = list(x)
                writer.writerow([*map(str, keys), "target"])
            try:
                row = [repr(float(x[k])) for k in keys]
            except KeyError as exc:
                raise ValueError(f"event {n} of {path.name} lacks feature {exc}") from None
            writer.writerow([*row, str(y)])
            n += 1
    return n


def jobs_for(
    system: str,
    csvs: Mapping[tuple[str, int], Path],
    budgets: Sequence[float] = BUDGETS,
    max_events: int | None = None,
) -> list[dict[str, Any]]:
    """The jobs of one system: every stream and seed, budget and strategy.

    Each stream runs the Hoeffding tree; Elec2 also logistic regression. stream-al's jobs
    include the full-label ceiling once per stream, model and seed.
    """
    jobs: list[dict[str, Any]] = []
    for (stream, seed), path in sorted(csvs.items()):
        models = ["hoeffding-tree"] + (["logistic-regression"] if stream == "elec2" else [])
        for model in models:
            common: dict[str, Any] = {"stream": stream, "csv": str(path), "target": "target"}
            common["model"] = model
            common |= {"seed": seed, "max_events": max_events}
            if system == "stream-al":
                jobs.append({**common, "strategy": FULL, "budget": 1.0})
            for budget in budgets:
                for strategy in STRATEGIES[system]:
                    jobs.append({**common, "strategy": strategy, "budget": budget})
    return jobs


@dataclass(frozen=True)
class Row:
    """One system's strategy at one budget on one stream, over its seeds."""

    stream: str
    model: str
    system: str
    strategy: str
    budget: float
    accuracy: float
    ci95: tuple[float, float]
    label_fraction: float
    us_per_event: float
    seeds: int

    @property
    def name(self) -> str:
        return f"{self.system} {self.strategy}"


def aggregate(results: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Mean and 95% interval over seeds; lines with an ``error`` are left out."""
    groups: dict[tuple[str, str, str, str, float], list[Mapping[str, Any]]] = defaultdict(list)
    for r in results:
        if "error" in r:
            continue
        key = (r["stream"], r["model"], r["system"], r["strategy"], float(r["budget"]))
        groups[key].append(r)
    rows = []
    for (stream, model, system, strategy, budget), runs in sorted(groups.items()):
        mean, lo, hi = mean_ci95([r["accuracy"] for r in runs])
        rows.append(
            Row(
                stream,
                model,
                system,
                strategy,
                budget,
                mean,
                (lo, hi),
                statistics.fmean(r["label_fraction"] for r in runs),
                statistics.fmean(r["us_per_event"] for r in runs),
                len(runs),
            )
        )
    return rows


def best(rows: Iterable[Row], budget: float) -> Row | None:
    """stream-al's most accurate strategy at ``budget`` (random sampling left out)."""
    ours = [
        r
        for r in rows
        if r.system == "stream-al" and r.budget == budget and r.strategy not in (FULL, "random")
    ]
    return max(ours, key=lambda r: r.accuracy, default=None)


def accuracy_at(rows: Iterable[Row], fraction: float) -> float | None:
    """One strategy's accuracy at a true label ``fraction``, from its rows at each budget.

    >>> def row(b, lf, acc):
    ...     return Row("s", "m", "x", "y", b, acc, (acc, acc), lf, 1.0, 1)
    >>> curve = [row(0.01, 0.01, 0.60), row(0.1, 0.1, 0.70)]
    >>> round(accuracy_at(curve, 0.0316), 3), accuracy_at(curve, 0.2) is None
    (0.65, True)

    """
    points = sorted((r.label_fraction, r.accuracy) for r in rows if r.label_fraction > 0)
    if not points or not points[0][0] / REACH <= fraction <= points[-1][0] * REACH:
        return None
    if fraction <= points[0][0]:
        return points[0][1]
    for (f0, a0), (f1, a1) in itertools.pairwise(points):
        if fraction <= f1:
            t = (
                (math.log(fraction) - math.log(f0)) / (math.log(f1) - math.log(f0))
                if f1 > f0
                else 1
            )
            return a0 + t * (a1 - a0)
    return points[-1][1]


def best_peer_at(rows: Sequence[Row], fraction: float) -> tuple[float, str] | None:
    """The most accurate peer strategy at ``fraction`` (interpolated) and its name."""
    found = []
    for system, strategy in sorted(
        {(r.system, r.strategy) for r in rows if r.system != "stream-al"}
    ):
        acc = accuracy_at(
            [r for r in rows if (r.system, r.strategy) == (system, strategy)], fraction
        )
        if acc is not None:
            found.append((acc, f"{system} {strategy}"))
    return max(found, default=None)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _cell(row: Row | None) -> str:
    if row is None:
        return "–"
    half = _pct((row.ci95[1] - row.ci95[0]) / 2)
    return f"{_pct(row.accuracy)} ±{half} ({_pct(row.label_fraction)}%)"


def _select(rows: Sequence[Row], **where: Any) -> list[Row]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def _summary(rows: Sequence[Row], streams: Sequence[str], budget: float) -> list[str]:
    lines = [
        f"### Budget {budget}, Hoeffding tree",
        "",
        "| stream | full labels | stream-al best | stream-al split (default) "
        "| best peer at the same label fraction | random at the same fraction "
        "| vs best peer | vs random |",
        "|---|---|---|---|---|---|---|---|",
    ]
    wins = close = counted = above_random = 0
    for stream in streams:
        mine = _select(rows, stream=stream, model="hoeffding-tree")
        ours = best(mine, budget)
        if ours is None:
            continue
        full = [r for r in mine if r.strategy == FULL]
        split = next((r for r in mine if r.budget == budget and r.name == "stream-al split"), None)
        peer = best_peer_at(mine, ours.label_fraction)
        random = accuracy_at([r for r in mine if r.name == "stream-al random"], ours.label_fraction)
        vs_peer = vs_random = "–"
        if peer:
            counted += 1
            delta = ours.accuracy - peer[0]
            wins += delta >= 0
            close += delta >= -0.005
            vs_peer = f"{100 * delta:+.2f}"
        if random is not None:
            vs_random = f"{100 * (ours.accuracy - random):+.2f}"
            above_random += ours.accuracy - random >= -0.005
        lines.append(
            f"| {stream} | {_pct(full[0].accuracy) if full else '–'} "
            f"| {_cell(ours)} {ours.strategy} | {_cell(split)} "
            f"| {f'{_pct(peer[0])} {peer[1]}' if peer else '–'} "
            f"| {'–' if random is None else _pct(random)} | {vs_peer} | {vs_random} |"
        )
    lines += [
        "",
        f"stream-al's best strategy matches or beats the best peer on **{wins} of {counted}** "
        f"streams (within 0.5 points on {close}); it is no more than 0.5 points below random "
        f"sampling on {above_random} of {len([s for s in streams if _select(rows, stream=s)])}.",
        "",
    ]
    return lines


def _stream_table(
    rows: Sequence[Row], stream: str, model: str, budgets: Sequence[float]
) -> list[str]:
    mine = _select(rows, stream=stream, model=model)
    full = [r for r in mine if r.strategy == FULL]
    names = sorted({(r.system, r.strategy) for r in mine if r.strategy != FULL})
    lines = [
        "| system | strategy | " + " | ".join(f"budget {b}" for b in budgets) + " | µs/event |",
        "|---|---|" + "---|" * (len(budgets) + 1),
    ]
    for system, strategy in names:
        cells, speeds = [], []
        for b in budgets:
            row = next(
                (r for r in mine if (r.system, r.strategy, r.budget) == (system, strategy, b)), None
            )
            cells.append(_cell(row))
            if row:
                speeds.append(row.us_per_event)
        speed = f"{statistics.fmean(speeds):.0f}" if speeds else "–"
        lines.append(f"| {system} | {strategy} | " + " | ".join(cells) + f" | {speed} |")
    if full:
        f = full[0]
        lines.append(
            f"| stream-al | full labels | {_cell(f)} |"
            + " |" * (len(budgets) - 1)
            + f" {f.us_per_event:.0f} |"
        )
    return lines


def _speed_table(rows: Sequence[Row], streams: Sequence[str]) -> list[str]:
    systems = sorted({r.system for r in rows})
    lines = [
        "| stream | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for stream in streams:
        cells = []
        for system in systems:
            mine = [
                r.us_per_event
                for r in _select(rows, stream=stream, model="hoeffding-tree", system=system)
                if r.strategy != FULL
            ]
            cells.append(f"{statistics.median(mine):.0f}" if mine else "–")
        lines.append(f"| {stream} | " + " | ".join(cells) + " |")
    return lines


def render_report(
    rows: Sequence[Row],
    *,
    streams: Sequence[str],
    budgets: Sequence[float],
    preamble: str,
    plots: Mapping[str, str] | None = None,
    appendix: str = "",
) -> str:
    """``BENCHMARKS.md``: summary at each budget, one table per stream, speed, appendix."""
    out = [preamble.rstrip(), "", "## Summary", ""]
    for budget in sorted(budgets, key=lambda b: b != 0.1):
        out += _summary(rows, streams, budget)
    out += [
        "Cells: accuracy % ± half the 95% interval over seeds (true label fraction %). "
        "Peers and random sampling are interpolated at stream-al's true label fraction "
        "from their own runs at each budget.",
        "",
        "## Per stream",
        "",
    ]
    for stream in streams:
        out += [f"### {stream}", ""]
        if plots and stream in plots:
            out += [f"![{stream}: accuracy against labels]({plots[stream]})", ""]
        out += [*_stream_table(rows, stream, "hoeffding-tree", budgets), ""]
        if _select(rows, stream=stream, model="logistic-regression"):
            out += ["Logistic regression:", ""]
            out += [*_stream_table(rows, stream, "logistic-regression", budgets), ""]
    out += [
        "## Speed",
        "",
        "Median microseconds per event of each system's prequential loop (predict, decide, "
        "learn), Hoeffding tree, over all its strategies and budgets:",
        "",
        *_speed_table(rows, streams),
        "",
    ]
    if appendix:
        out += [appendix.rstrip(), ""]
    return "\n".join(out)


def plot_stream(rows: Sequence[Row], stream: str, path: Path) -> None:
    """Accuracy against true label fraction: each system's best strategy at each budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = _select(rows, stream=stream, model="hoeffding-tree")
    fig, ax = plt.subplots(figsize=(4.2, 3.0), dpi=90)
    for system in sorted({r.system for r in mine}):
        points = []
        for budget in sorted({r.budget for r in mine if r.strategy != FULL}):
            at = [r for r in mine if r.budget == budget and r.system == system]
            at = [r for r in at if r.strategy not in (FULL, "random") or system != "stream-al"]
            top = max(at, key=lambda r: r.accuracy, default=None)
            if top:
                points.append((top.label_fraction, top.accuracy))
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, [100 * y for y in ys], marker="o", markersize=3, label=system)
    full = [r for r in mine if r.strategy == FULL]
    if full:
        ax.axhline(
            100 * full[0].accuracy, color="grey", linestyle="--", linewidth=1, label="full labels"
        )
    ax.set_xscale("log")
    ax.set_xlabel("true label fraction")
    ax.set_ylabel("accuracy %")
    ax.set_title(stream, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def speed_section(engine: Mapping[str, Any] | None, throughput: Sequence[Mapping[str, Any]]) -> str:
    """The engine and ``serve`` results (``stream-al bench engine|throughput --json``)."""
    out = ["## Throughput, latency and memory", ""]
    if engine:
        out += [
            f"**Engine** (`stream-al bench engine`, {engine['stream']}, {engine['n_events']:,} "
            f"events, {engine['model']}, {engine['strategy']} at {engine['budget']}): "
            f"{engine['engine_events_per_s']:,.0f} events/s against "
            f"{engine['baseline_events_per_s']:,.0f} for a bare River loop making the same "
            f"model calls: **ratio {engine['ratio']:.2f}**.",
            "",
        ]
    if throughput:
        out += [
            "**serve on real Kafka and Redis** (`stream-al bench throughput`: the serve loop "
            "against a raw loop of the same backend doing the same Kafka I/O on the same "
            "topic; labels answered from the stream's truth as fast as they are queued; the "
            "resident memory includes the benchmark's own copy of that truth, made before "
            "the run, so its growth is what to read):",
            "",
            "| backend | events | serve events/s | raw loop events/s | ratio "
            "| decision p50 / p99 ms | label to learned p99 ms | RSS MiB (start → end) "
            "| RSS growth, 2nd half | of which the model |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t in throughput:
            rss = t.get("rss_mb") or [[0, 0.0]]
            model = t.get("model_growth_second_half_mb")
            out.append(
                f"| {t['backend']} | {t['n_events']:,} | {t['serve_events_per_s']:,.0f} "
                f"| {t['raw_consume_events_per_s']:,.0f} | {t['ratio']:.2f} "
                f"| {t['decision_latency_p50_ms']:.0f} / {t['decision_latency_p99_ms']:.0f} "
                f"| {t['label_to_learned_p99_ms']:.0f} | {rss[0][1]:.0f} → {rss[-1][1]:.0f} "
                f"| {t['rss_growth_second_half_mb']:+.1f} MiB "
                f"| {'–' if model is None else f'{model:+.1f} MiB'} |"
            )
        out.append("")
    return "\n".join(out)
