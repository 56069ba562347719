"""What the commands print: their reports on standard output, JSON reports and plots.

Warnings and progress go to standard error, so standard output holds the results alone.

Examples
--------
>>> print_engine({"engine_events_per_s": 40000.0, "engine_us_per_event": 25.0,
...               "baseline_events_per_s": 50000.0, "baseline_us_per_event": 20.0,
...               "ratio": 0.8})  # doctest: +ELLIPSIS
engine: 40,000 events/s (25.0 µs/event); bare River loop: 50,000 events/s ...; ratio 0.800

"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_al.config import LearnerSettings
from stream_al.data.streams import StreamSpec
from stream_al.runtime.console import percent, table

if TYPE_CHECKING:  # types only: the commands import these modules when they run
    from stream_al.evaluation.demo import DemoResult
    from stream_al.io.base import Checkpoint, ReplicaSeen
    from stream_al.io.model_file import ImportResult
    from stream_al.runtime.status import Status

__all__ = [
    "PROG",
    "plot_curves",
    "print_demo",
    "print_deployed",
    "print_engine",
    "print_evaluation",
    "print_export",
    "print_import",
    "print_replicas",
    "print_selection",
    "print_status",
    "print_throughput",
    "print_warm_start",
    "write_json",
    "write_report",
]

PROG = "stream-al"


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` as indented JSON (making its folder)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def write_report(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON and say where."""
    write_json(path, payload)
    print(f"report: {path}")


def plot_curves(path: str | None, curves: dict[str, Any], title: str) -> None:
    """Write the learning curves to ``path`` (if given and matplotlib is installed)."""
    if path is None:
        return
    from stream_al.evaluation.plots import matplotlib_available, plot_learning_curves

    if not matplotlib_available():
        print(
            f"{PROG}: no plot: matplotlib is not installed (pip install 'stream-al[plot]')",
            file=sys.stderr,
        )
        return
    print(f"learning curves: {plot_learning_curves(curves, title, path)}")


def print_demo(result: DemoResult, spec: StreamSpec, learner: LearnerSettings, delay: int) -> None:
    """The demo's run beside random sampling and full labels."""
    strategy = learner.strategy
    print(
        f"stream-al demo: {spec.spec}, {result.run.n_events:,} events, {learner.model}, "
        f"{strategy} at budget {learner.budget:g}, labels answered after {delay} events"
    )
    print()
    runs = {
        f"{strategy} (this run)": result.run,
        "random, same budget": result.random,
        "full labels": result.full,
    }
    rows = [
        [name, percent(r.accuracy), f"{r.labels:,}", percent(r.label_fraction)]
        for name, r in runs.items()
    ]
    print(table(["", "accuracy", "labels", "label fraction"], rows))
    print()
    print(
        f"drifts detected: {result.run.drifts}   dead letters: {result.dead_letters}   "
        f"items still in the label queue: {result.queue_left}   "
        f"loop time: {result.run.seconds:.1f} s"
    )
    print(
        "one stream, one seed: a point or so either way is noise here; "
        "`stream-al evaluate --seeds 10` gives intervals, BENCHMARKS.md paired tests"
    )


def interval(lo: float, hi: float, seeds: int) -> str:
    """A 95% interval, or what a zero-width one is: one run (all seeds gave one result,
    as a deterministic strategy does on recorded data), not certainty.

    >>> interval(0.8, 0.8, 3)
    'one run (seeds agree)'
    >>> interval(0.7339, 0.8647, 3)
    '[73.39%, 86.47%]'
    """
    if seeds <= 1:
        return "one run"
    if lo == hi:
        return "one run (seeds agree)"
    return f"[{percent(lo, 2)}, {percent(hi, 2)}]"


def print_evaluation(
    report: dict[str, Any], learner: LearnerSettings, seeds: int, delay: int
) -> None:
    """The strategy's accuracy beside random sampling and full labels, with intervals."""
    lo, hi = report["accuracy_ci95"]
    blo, bhi = report["baseline"]["accuracy_ci95"]
    print(
        f"{report['stream']}: {report['n_events']:,} events, {learner.model}, "
        f"budget {learner.budget:g}, {seeds} seed(s), label delay {delay} events"
    )
    rows = [
        [
            learner.strategy,
            percent(report["accuracy"], 2),
            interval(lo, hi, seeds),
            percent(report["label_fraction"], 2),
        ],
        [
            "random",
            percent(report["baseline"]["accuracy"], 2),
            interval(blo, bhi, seeds),
            percent(report["baseline"]["label_fraction"], 2),
        ],
        ["full labels", percent(report["full_labels"]["accuracy"], 2), "", "100.00%"],
    ]
    print(table(["", "accuracy", "95% interval", "label fraction"], rows))
    drifts, cost = report["drifts"], report["us_per_event"]
    print(f"drifts detected: {drifts:.3g} per run; {cost:.1f} µs per event")


def print_warm_start(report: dict[str, Any], strategy: str, seeds: int) -> None:
    """Cold start against warm start, for the strategy, random sampling and full labels."""
    w = report["warm_start"]
    print(f"{w['summary']}; the live stream is the {report['n_events']:,} events above")
    rows = []
    for name, cold, hot in (
        (strategy, report, w),
        ("random", report["baseline"], w["baseline"]),
        ("full labels", report["full_labels"], w["full_labels"]),
    ):
        lo, hi = hot["accuracy_ci95"]
        rows.append(
            [
                name,
                percent(cold["accuracy"], 2),
                percent(hot["accuracy"], 2),
                interval(lo, hi, seeds),
                f"{(hot['accuracy'] - cold['accuracy']) * 100:+.2f} pts",
                percent(hot.get("label_fraction", 1.0), 2),
            ]
        )
    header = ["", "cold start", "warm start", "95% interval", "gain", "label fraction"]
    print(table(header, rows))


def print_engine(result: dict[str, Any]) -> None:
    """The engine benchmark: the active learner against a bare River loop."""
    print(
        f"engine: {result['engine_events_per_s']:,.0f} events/s "
        f"({result['engine_us_per_event']:.1f} µs/event); bare River loop: "
        f"{result['baseline_events_per_s']:,.0f} events/s "
        f"({result['baseline_us_per_event']:.1f} µs/event); ratio {result['ratio']:.3f}"
    )


def print_throughput(result: dict[str, Any]) -> None:
    """The throughput benchmark: serve against a raw consume-decode-produce loop."""
    print(
        f"serve ({result['backend']}): {result['serve_events_per_s']:,.0f} events/s; raw loop: "
        f"{result['raw_consume_events_per_s']:,.0f} events/s; ratio {result['ratio']:.3f}; "
        f"decision latency p50 {result['decision_latency_p50_ms']:.1f} ms, p99 "
        f"{result['decision_latency_p99_ms']:.1f} ms; label to learned p99 "
        f"{result['label_to_learned_p99_ms']:.1f} ms"
    )


def print_deployed(result: dict[str, Any]) -> None:
    """The throughput benchmark as deployed: serve and worker against the bare loop."""
    for backend, r in result["backends"].items():
        served, bare = r["serve"], r["bare"]
        print(
            f"serve as deployed ({backend}): {r['serve_events_per_s']:,.0f} events/s; bare "
            f"loop: {r['bare_events_per_s']:,.0f} events/s; ratio {r['ratio']:.3f}; CPU per "
            f"event: serve {served['serve_cpu_us_per_event']:.1f} us, worker "
            f"{served['worker_cpu_us_per_event']:.1f} us, bare loop "
            f"{bare['cpu_us_per_event']:.1f} us"
        )
    scale = result.get("scale_out")
    if scale:
        print(
            f"scale-out ({scale['backend']}, {scale['partitions']} partitions, "
            f"{scale['cores']} cores): one replica {scale['one_replica_events_per_s']:,.0f} "
            f"events/s, two {scale['two_replicas_events_per_s']:,.0f} (x{scale['ratio']:.2f})"
        )


def print_selection(report: dict[str, Any], k: int, dry_run: bool) -> None:
    """What ``select`` picked from the pool, and how uncertain and diverse it is."""
    verb = "picked (dry run)" if dry_run else "queued"
    passed_over = report["already_queued_or_labeled"]
    print(
        f"{verb} {len(report['ids'])} of {report['scanned']:,} pool rows in "
        f"{report['seconds']:.1f} s; mean uncertainty {report['mean_score']:.3f} "
        f"(top-{k}: {report['top_uncertainty_mean_score']:.3f}); mean pairwise "
        f"distance {report['mean_pairwise_distance']:.2f} (top-{k}: "
        f"{report['top_uncertainty_mean_pairwise_distance']:.2f})"
        + (f"; {passed_over} passed over (asked already)" if passed_over else "")
    )


def print_export(checkpoint: Checkpoint, where: str, path: str) -> None:
    """Which checkpoint ``model export`` wrote."""
    print(
        f"exported the checkpoint of replica {checkpoint.replica} (train log "
        f"{checkpoint.train_log_id or 'empty'}) from {where} to {path}"
    )


def print_import(done: ImportResult, path: str, where: str) -> None:
    """What ``model import`` wrote and replaced."""
    replaced = f"; replaced {', '.join(done.replaced)}" if done.replaced else ""
    skipped = (
        f"; the {done.skipped_log_entries:,} train-log entries before it are not learned by it"
        if done.skipped_log_entries
        else ""
    )
    print(
        f"imported {path} into {where} as the checkpoint of replica "
        f"{done.replica}{replaced}{skipped}; serve starts from it"
    )


def print_status(status: Status, stamp: bool = False) -> None:
    """One line: events/s, the fraction asked, the queue, labels learned, accuracy."""
    if status.accuracy_random is not None:
        accuracy = f"accuracy {percent(status.accuracy_random)} on randomly asked items"
        if status.accuracy_labeled is not None:
            accuracy += f" ({percent(status.accuracy_labeled)} on all labeled)"
    elif status.accuracy_labeled is not None:
        accuracy = f"accuracy {percent(status.accuracy_labeled)} on labeled items"
    else:
        accuracy = "accuracy: no label learned yet"
    budget = "" if status.budget is None else f" (budget {percent(status.budget, 0)})"
    # Only a worker of the expert tier takes those: said, so that one nobody runs shows.
    expert = f" ({status.queue_expert:,} for an expert)" if status.queue_expert else ""
    parts = [
        f"events {status.events:,} ({status.events_per_s:,.1f}/s)",
        f"asked {percent(status.asked)}{budget}",
        f"queue {status.queue_depth:,}{expert}, pending {status.pending:,}",
        f"learned {status.learned:,}",
        accuracy,
    ]
    line = " · ".join(parts)
    print(f"{time.strftime('%H:%M:%S')} {line}" if stamp else line, flush=True)


def print_replicas(seen: Sequence[ReplicaSeen] | str, where: str) -> None:
    """One indented line per serve replica, as its state in Redis says (see
    :func:`replica_line`); ``seen`` is why Redis could not be read when it is text, and
    ``where`` the Redis (and prefix) read."""
    if isinstance(seen, str):
        lines = [f"replicas: unknown, {where} could not be read ({seen})"]
    elif not seen:
        lines = [f"replicas: none said its state in {where} within a day"]
    else:
        lines = [replica_line(s) for s in seen]
    print("\n".join(f"  {line}" for line in lines), flush=True)


def replica_line(seen: ReplicaSeen) -> str:
    """What ``stream-al status`` says of a serve replica.

    >>> from stream_al.io.base import ReplicaSeen, ReplicaState
    >>> print(replica_line(ReplicaSeen("r1", ReplicaState(True, "", 0.0, 5.0), 1.2)))
    replica r1: ready
    >>> unready = ReplicaState(False, "kafka: no connection to any broker", 100.0, 147.0)
    >>> print(replica_line(ReplicaSeen("r2", unready, 1.0)))
    replica r2: NOT READY for 48 s: kafka: no connection to any broker
    >>> print(replica_line(ReplicaSeen("r3", None, 312.0)))
    replica r3: SILENT for 5 min: no word from it (killed, hung, or cut off from redis)
    >>> print(replica_line(ReplicaSeen("r4", ReplicaState(False, "stopped", 9.0, 9.0, True), 7200)))
    replica r4: stopped 2 h ago

    """
    state, name = seen.state, f"replica {seen.replica}"
    if seen.unreadable:
        return f"{name}: its state in redis cannot be read ({seen.unreadable})"
    if state is None:
        return (
            f"{name}: SILENT for {duration(seen.silent_for)}: no word from it (killed, hung, "
            "or cut off from redis)"
        )
    if state.stopped:
        return f"{name}: stopped {duration(seen.silent_for)} ago"
    if state.ready:
        return f"{name}: ready; {state.reason}" if state.reason else f"{name}: ready"
    # Its own clock for how long, Redis's for since when it said so: no clock skew.
    unready = state.at - state.since + seen.silent_for
    return f"{name}: NOT READY for {duration(unready)}: {state.reason}"


def duration(seconds: float) -> str:
    """A rounded duration, in the largest unit that fits.

    >>> duration(47.4), duration(95), duration(7_300)
    ('47 s', '2 min', '2 h')
    """
    if seconds < 90:
        return f"{max(0.0, seconds):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
