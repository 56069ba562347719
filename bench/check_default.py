"""Issue 16's acceptance for stream-al's default on the reporting half, from result lines.

Usage (stream-al's ``.venv``)::

    mkdir /tmp/ours && cp bench/results/stream-al-*.jsonl /tmp/ours/
    .venv/bin/python bench/check_default.py --results /tmp/ours --peers bench/results > report.md

``--results`` holds the default's and random sampling's runs (``bench/run_peers.py
--systems stream-al --half reporting``) and, optionally, every-label runs of named models
(jobs with strategy ``full`` and model ``hoeffding-tree`` / ``hoeffding-tree-default``, as
``bench/results/stream-al-trees.jsonl``); ``--peers`` the peers' runs (their
``stream-al-*`` lines are left out: another default's). The tables are bench/report.py's
for the reporting half, plus the every-label check against both trees.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analysis import aggregate, every_label_gap
from protocol import FULL, FULL_DRIFT, REPORTING, STREAMS, split_halves
from report import WITHIN, render_half


def _lines(folder: Path, skip_stream_al: bool = False) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        if path.name.startswith("jobs-") or (skip_stream_al and path.name.startswith("stream-al")):
            continue
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in found if "error" not in r]


def every_label(lines: list[dict[str, Any]], streams: list[str]) -> list[str]:
    """The default model with every label against the better of the two trees."""
    acc: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in lines:
        acc.setdefault((r["stream"], r["model"], r["strategy"]), {})[r["seed"]] = r["accuracy"]
    head = ("stream", "auto, drift reaction", "auto, plain", "today's tree", "River's default tree")
    out = ["| " + " | ".join(head) + " | gap |", "|---|---|---|---|---|---|"]
    short = counted = 0
    seeds: set[int] = set()
    for s in streams:
        keys = [
            (s, "auto", FULL_DRIFT),
            (s, "auto", FULL),
            (s, "hoeffding-tree", FULL),
            (s, "hoeffding-tree-default", FULL),
        ]
        measured = every_label_gap([acc.get(k, {}) for k in keys], (2, 3))
        if measured is None:
            continue
        m, gap, common = measured
        seeds |= set(common)
        counted += 1
        short += gap < -100 * WITHIN  # gap in points
        out.append(f"| {s} | " + " | ".join(f"{v:.2f}" for v in m) + f" | {gap:+.2f} |")
    out += ["", f"Within 0.5 points of the better tree: {counted - short} of {counted} streams "
            f"(seeds {', '.join(map(str, sorted(seeds)))})."]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--peers", type=Path)
    parser.add_argument("--default", default="variable-uncertainty")
    args = parser.parse_args(argv)
    halves = split_halves(STREAMS)
    streams = [s.name for s in STREAMS if halves[s.name] == REPORTING]
    ours = _lines(args.results)
    refs = [r for r in ours if r["strategy"] in (FULL, FULL_DRIFT)]
    active = [r for r in ours if r["strategy"] not in (FULL, FULL_DRIFT)]
    peers = _lines(args.peers, skip_stream_al=True) if args.peers else []
    cells = aggregate(active + [p for p in peers if p.get("stream") in streams])
    out = render_half(
        cells,
        title=f"Reporting half: stream-al's default ({args.default})",
        streams=streams,
        default=args.default,
        budgets=(0.02, 0.05, 0.1, 0.2),
        delays=(0, 500),
        peer_budgets=(0.02, 0.1),
    )
    out += ["## Every label", "", *every_label(refs, streams)]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
