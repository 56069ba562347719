"""BENCHMARKS.md's throughput part, from bench/results: the engine, serve as deployed and in
process, the scale-out figure, start-up, and the hot path step by step.

:func:`throughput_section` renders the part (between its markers) from the JSON reports
``bench/throughput`` writes; run as a script, it replaces that part of BENCHMARKS.md in
place (or the "## Throughput, latency and memory" section where the markers are not yet)
and leaves everything else of the file as it is:

    .venv/bin/python bench/throughput_report.py [--results bench/results] [--report BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- throughput: begin (bench/throughput_report.py writes this part) -->"
END = "<!-- throughput: end -->"
HEADING = "## Throughput, latency and memory"


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _engine(engine: Mapping[str, Any]) -> list[str]:
    return [
        f"**Engine** (`stream-al bench engine`, {engine['stream']}, {engine['n_events']:,} "
        f"events, {engine['model']}, {engine['strategy']} at {engine['budget']}): "
        f"{engine['engine_events_per_s']:,.0f} events/s against "
        f"{engine['baseline_events_per_s']:,.0f} for a bare River loop making the same model "
        f"calls: **ratio {engine['ratio']:.2f}**.",
        "",
    ]


def _load_text(load: Any) -> str:
    return f"{load[0]:.1f}" if load else "?"


def _deployed(d: Mapping[str, Any]) -> list[str]:
    learner = d["learner"]
    out = [
        f"**serve as deployed** (`stream-al bench throughput --deployed`: `stream-al serve` "
        f"and `stream-al worker --oracle file:TRUTH` as processes of their own on real Kafka "
        f"and Redis, the worker answering every queued item; against the bare loop of the "
        f"same backend as a process of its own, on the same topic: consume, JSON-decode, "
        f"produce one message per event, flush and commit per batch. Events per second from "
        f"the broker's timestamps of the messages each wrote, first to last; CPU from the "
        f"kernel's count for each process. {d['n_events']:,} events of {d['stream']}, "
        f"{learner['model']}, {learner['strategy']} at {learner['budget']}, "
        f"{d['cores']} cores; medians of {d.get('repeats', 1)} alternating rounds, the "
        f"round of the median ratio in the CPU columns; the load is the machine's 1-minute "
        f"load average when each side of that round started):",
        "",
        "| backend | serve events/s | bare loop events/s | ratio | serve CPU µs/event "
        "| worker CPU µs/event (per label) | bare loop CPU µs/event | load (serve, bare) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, r in d["backends"].items():
        s, b = r["serve"], r["bare"]
        out.append(
            f"| {backend} | {r['serve_events_per_s']:,.0f} | {r['bare_events_per_s']:,.0f} "
            f"| **{r['ratio']:.2f}** | {s['serve_cpu_us_per_event']:.0f} "
            f"| {s['worker_cpu_us_per_event']:.0f} ({s['worker_cpu_us_per_label']:.0f}) "
            f"| {b['cpu_us_per_event']:.0f} "
            f"| {_load_text(s['load'][0])}, {_load_text(b['load'][0])} |"
        )
    out.append("")
    scale = d.get("scale_out")
    if scale:
        one, two = scale["one_replica"], scale["two_replicas"]
        out += [
            f"**Scale-out** ({scale['backend']}, a topic of {scale['partitions']} partitions, "
            f"one worker, this machine's {scale['cores']} cores shared by the replicas, the "
            f"worker, Kafka and Redis): one replica {scale['one_replica_events_per_s']:,.0f} "
            f"events/s, two replicas {scale['two_replicas_events_per_s']:,.0f} "
            f"(**x{scale['ratio']:.2f}**; serve CPU {one['serve_cpu_us_per_event']:.0f} and "
            f"{two['serve_cpu_us_per_event']:.0f} µs per event, load "
            f"{_load_text(one['load'][0])} and {_load_text(two['load'][0])}).",
            "",
        ]
    return out


def _in_process(throughput: list[Mapping[str, Any]]) -> list[str]:
    out = [
        "**serve in process** (`stream-al bench throughput`: the serve loop in the "
        "benchmark's process against a raw loop of the same backend doing the same Kafka I/O "
        "on the same topic, each timed from its first event; a simulated labeler answers "
        "every queued item between serve's turns, untimed; the resident memory includes the "
        "benchmark's own copy of the truth, made before the run, so its growth is what to "
        "read):",
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
    return [*out, ""]


def _why(d: Mapping[str, Any] | None, throughput: list[Mapping[str, Any]]) -> list[str]:
    if not d or "confluent" not in d["backends"]:
        return []
    r = d["backends"]["confluent"]
    s = r["serve"]
    same = [t for t in throughput if t["backend"] == "confluent"]
    inproc = next((t for t in same if t["n_events"] == d["n_events"]), same[0] if same else None)
    inproc_text = f" ({inproc['serve_events_per_s']:,.0f} events/s in process)" if inproc else ""
    return [
        "**Why as deployed is slower than in process**"
        f"{inproc_text}: in process the labeler answers between serve's turns and is not "
        "timed, and nothing else runs beside the loop. As deployed, every process shares "
        f"the machine's {d['cores']} cores: serve ({s['serve_cpu_us_per_event']:.0f} µs of "
        f"CPU per event), the worker ({s['worker_cpu_us_per_label']:.0f} µs per label, "
        f"{s['worker_cpu_us_per_event']:.0f} per event at a tenth of the events labeled), "
        "the Kafka broker and Redis, and whatever else the machine runs; and serve's time "
        "includes every wait of its turn: Redis round trips (the batch's pipelined queue "
        "and join scripts, the queue depth), the broker's acknowledgements at the flush and "
        "the synchronous commit. The bare loop costs its process "
        f"{r['bare']['cpu_us_per_event']:.0f} µs per event and waits only for the flush "
        "and the commit.",
        "",
    ]


def _startup(s: Mapping[str, Any]) -> list[str]:
    return [
        f"**Start-up** (`bench/startup.py`, medians of {len(s['readyz_runs'])}, load "
        f"{s['load'][0]:.1f} on {s['cores']} cores): `stream-al --help` "
        f"{s['help_wall_s']:.2f} s ({s['help_cpu_s']:.2f} s of CPU; it imports no River, "
        f"scipy or numpy); `stream-al serve` answers `/readyz` 200 "
        f"{s['readyz_s']:.2f} s after it starts on the checkpoint of a learner that has seen "
        f"{s['events_learned_before_checkpoint']:,} events ({s['checkpoint_bytes']:,} bytes): "
        + (
            f"its imports take {s['imports_s']:.2f} s of that in a fresh interpreter (River's "
            f"trees and the scipy.stats they import {s['imports_river_tree_s']:.2f} s)."
            if "imports_s" in s
            else "most of that is its imports."
        ),
        "",
    ]


def _hotpath(h: Mapping[str, Any]) -> list[str]:
    medians = h["medians_us_per_event"]
    names = list(medians)
    phases = [k for k in medians[names[-1]] if k != "cpu"]
    out = [
        f"**The hot path, step by step** (`bench/hotpath.py`: serve's loop on the in-memory "
        f"store, {h['events']:,} events of {h['stream']}, the model "
        f"{h.get('model', 'hoeffding-tree')}, CPU µs per event, medians of "
        f"{len(h['rounds'][names[0]])} alternating rounds of each checkout in one run, load "
        f"{h['load'][0]:.1f}; × is the speed-up over the column before; "
        + _equal_decisions(h)
        + "):",
        "",
        "| phase | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key in [*phases, "cpu"]:
        cells = []
        for i, name in enumerate(names):
            value = f"{medians[name][key]:.1f}"
            if i:
                value += f" (×{medians[names[i - 1]][key] / medians[name][key]:.2f})"
            cells.append(value)
        label = "process CPU" if key == "cpu" else key
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if not h.get("labeler_untimed"):
        out += [
            "",
            'Measured by an earlier `bench/hotpath.py`: its "complete the batch" includes '
            "hashing the decisions (to compare the checkouts) and its process CPU counts the "
            "simulated labeler twice. Compare its columns with each other, not those two "
            "rows with another table.",
        ]
    return [*out, ""]


def _equal_decisions(h: Mapping[str, Any]) -> str:
    """Which checkouts decided every event alike and learned the same model."""
    decisions = h["decisions"]
    names = list(decisions)
    if all(decisions[name] == decisions[names[0]] for name in names):
        return "every decision and the learned model are equal across the checkouts"
    pairs = [
        f"{a} and {b} {'decide alike' if decisions[a] == decisions[b] else 'differ'}"
        for a, b in itertools.pairwise(names)
    ]
    return "decisions and the learned model: " + "; ".join(pairs)


def _before_after(b: Mapping[str, Any]) -> list[str]:
    before, after = b["medians"]["before"], b["medians"]["after"]
    loads = [
        r[side]["load_at_start"][0] for r in b["rounds"] for side in r if "load_at_start" in r[side]
    ]
    out = [
        f"**serve before and after {b.get('what', 'the change')}** (`bench/before_after.py`: "
        f"serve and the worker from the commit before, then from this one, as deployed and in "
        f"process, alternating; {b['events']:,} events, medians of {len(b['rounds'])} rounds, "
        f"load {min(loads):.1f}-{max(loads):.1f} on {b['cores']} cores):",
        "",
        "| | before | after | × |",
        "|---|---|---|---|",
    ]
    rows = [
        (backend, key, label)
        for backend in before
        if backend != "in_process_confluent"
        for key, label in (
            ("serve_events_per_s", "events/s"),
            ("ratio", "ratio to the bare loop"),
            ("serve_cpu_us_per_event", "serve CPU µs/event"),
        )
    ]
    rows += [
        ("in_process_confluent", "serve_events_per_s", "events/s"),
        ("in_process_confluent", "label_to_learned_p99_ms", "label to learned p99 ms"),
    ]
    for backend, key, label in rows:
        old, new = before[backend][key], after[backend][key]
        where = "in process, confluent" if backend == "in_process_confluent" else backend
        speedup = new / old if key in ("serve_events_per_s", "ratio") else old / new
        fmt = ",.0f" if key == "serve_events_per_s" else (".2f" if key == "ratio" else ".0f")
        out.append(f"| {where}: {label} | {old:{fmt}} | {new:{fmt}} | {speedup:.2f} |")
    return [*out, ""]


def throughput_section(results: Path) -> str:
    """The throughput part of BENCHMARKS.md, between its markers, from ``results``."""
    out = [HEADING, "", BEGIN, ""]
    engine = _load(results / "engine.json")
    deployed = _load(results / "deployed.json")
    throughput = [json.loads(p.read_text()) for p in sorted(results.glob("throughput-*.json"))]
    if engine:
        out += _engine(engine)
    if deployed:
        out += _deployed(deployed)
    if throughput:
        out += _in_process(throughput)
    out += _why(deployed, throughput)
    before_after = _load(results / "before-after.json")
    if before_after:
        out += _before_after(before_after)
    startup = _load(results / "startup.json")
    if startup:
        out += _startup(startup)
    for path in sorted(results.glob("hotpath*.json")):
        out += _hotpath(json.loads(path.read_text()))
    return "\n".join([*out, END, ""])


def replace_section(text: str, section: str) -> str:
    """``text`` with its throughput part (between the markers, or else the section under
    the throughput heading, up to the next ``## ``) replaced by ``section``."""
    marked = re.compile(
        re.escape(HEADING) + r"\n\n" + re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n", re.S
    )
    if marked.search(text):
        return marked.sub(lambda _: section, text, count=1)
    plain = re.compile(re.escape(HEADING) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if plain.search(text):
        return plain.sub(lambda _: section + "\n", text, count=1)
    return text.rstrip() + "\n\n" + section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    text = args.report.read_text() if args.report.exists() else "# Benchmarks\n"
    args.report.write_text(replace_section(text, throughput_section(args.results)))
    print(f"{args.report}: the throughput part written from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
