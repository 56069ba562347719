"""serve before and after a change, in one run: as deployed and in process, on real servers.

``--base TREE`` is a checkout of the commit before (``git worktree add /tmp/base COMMIT``).
Each round runs, in turn: ``stream-al bench throughput --deployed`` with serve and the
worker from TREE (``STREAM_AL_BENCH_SERVE_PATH``), the same with this checkout's, then the
in-process ``stream-al bench throughput --backend confluent`` from TREE (``PYTHONPATH``)
and from this checkout. Writes ``bench/results/before-after.json`` (every report, the
machine's load before each) and prints the medians.

    set -a; eval "$(scripts/services up)"; set +a
    .venv/bin/python bench/before_after.py --base /tmp/base [--rounds 2] [--events 100000] \
        [--what "session 36's changes (c344309 to ba5cec6)"]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "stream_al.cli", "bench", "throughput", *args]
        # Not from ROOT: ``python -m`` puts its working directory first on sys.path, ahead of
        # PYTHONPATH, so the in-process "before" ran this checkout's stream_al too (every
        # in-process comparison until session 36 compared this checkout with itself).
        subprocess.run([*argv, "--quiet", "--json", str(out)], env=env, check=True, cwd=tmp)
        report: dict[str, Any] = json.loads(out.read_text())
    report["load_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return report


def _round(base: Path, events: int) -> dict[str, dict[str, Any]]:
    here = {k: v for k, v in os.environ.items() if k != "STREAM_AL_BENCH_SERVE_PATH"}
    deployed = ["--deployed", "--repeats", "1", "--events", str(events)]
    inproc = ["--backend", "confluent", "--events", str(events)]
    return {
        "deployed_before": _run(deployed, {**here, "STREAM_AL_BENCH_SERVE_PATH": str(base)}),
        "deployed_after": _run(deployed, here),
        "in_process_before": _run(inproc, {**here, "PYTHONPATH": str(base)}),
        "in_process_after": _run(inproc, here),
    }


def _medians(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("before", "after"):
        deployed = [r[f"deployed_{side}"]["backends"] for r in rounds]
        inproc = [r[f"in_process_{side}"] for r in rounds]
        out[side] = {
            backend: {
                key: statistics.median(
                    d[backend]["serve"][key] if key.endswith("per_event") else d[backend][key]
                    for d in deployed
                )
                for key in ("serve_events_per_s", "ratio", "serve_cpu_us_per_event")
            }
            for backend in deployed[0]
        }
        out[side]["in_process_confluent"] = {
            key: statistics.median(r[key] for r in inproc)
            for key in ("serve_events_per_s", "ratio", "label_to_learned_p99_ms")
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout of the commit before")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/before-after.json")
    parser.add_argument(
        "--what", default="the change", help="what is compared, for the report's title"
    )
    args = parser.parse_args()
    rounds = [_round(args.base.resolve(), args.events) for _ in range(args.rounds)]
    report = {
        "base": str(args.base),
        "what": args.what,
        "events": args.events,
        "cores": os.cpu_count(),
        "medians": _medians(rounds),
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["medians"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
