"""Pool selection benchmark: ``stream-al select --k 100`` on pools of 10,000 and 100,000 rows.

Writes ``bench/results/pool.json`` and ``pool.md`` (run_peers.py appends it to
BENCHMARKS.md). For each pool size, ``stream-al select --dry-run`` runs in its own
process (so its peak resident memory is its own) and is compared, in the same run, with
a baseline: a bare loop that reads the same CSV and calls the model's
``predict_proba_one`` on every row, the least any ranking must do. Diversity is the mean
pairwise distance of the batch against that of the 100 most uncertain rows.

    .venv/bin/python bench/pool.py [--sizes 10000,100000] [--k 100]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stream_al.core.learner import ActiveLearner
from stream_al.data.pools import iter_csv_pool
from stream_al.data.streams import parse_stream
from stream_al.io.model_file import export_model, import_model

BENCH = Path(__file__).resolve().parent
KEY = b"bench-pool"
HISTORY = 5_000


def _make_pool(directory: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """A pool CSV of ``rows`` Agrawal-drift rows, and a model trained on what came before."""
    events = parse_stream("synth:agrawal-drift", n_events=HISTORY + rows).events(seed)
    learner = ActiveLearner("hoeffding-tree", "split", budget=0.1, seed=seed)
    pool = directory / f"pool-{rows}.csv"
    with pool.open("w", newline="") as f:
        writer = csv.writer(f)
        columns: list[str] = []
        for n, (x, y) in enumerate(events):
            if n < HISTORY:
                learner.learn(x, y, learner.predict(x))
                continue
            if not columns:
                columns = list(x)
                writer.writerow(["id", *columns, "label"])
            writer.writerow([f"p{n}", *[x.get(c, "") for c in columns], y])
    model = directory / "model.salm"
    export_model(learner, model, KEY)
    return pool, model


def _bare_loop(pool: Path, model: Path) -> float:
    """Seconds for the least work: read every row, predict it."""
    river_model = import_model(model, KEY).model
    start = time.perf_counter()
    for _, x in iter_csv_pool(pool, "id", ["label"]):
        river_model.predict_proba_one(x)
    return time.perf_counter() - start


def _select(pool: Path, model: Path, k: int, out: Path) -> dict[str, object]:
    command = [
        str(Path(sys.executable).with_name("stream-al")),
        "select",
        "--pool",
        f"csv:{pool}",
        "--target",
        "label",
        "--k",
        str(k),
        "--model",
        str(model),
        "--dry-run",
        "--quiet",
        "--json",
        str(out),
    ]
    env = {**os.environ, "STREAM_AL_CHECKPOINT__KEY": KEY.decode()}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    report: dict[str, object] = json.loads(out.read_text())
    report.pop("ids", None)
    return report


def _markdown(results: list[dict[str, object]], k: int) -> str:
    lines = [
        "## Pool selection (`stream-al select`)",
        "",
        f"`stream-al select --k {k} --dry-run` on Agrawal-drift pools with a Hoeffding tree "
        f"trained on the {HISTORY:,} rows before them; one process per run (its own peak "
        "memory). Baseline, same run: a bare loop reading the CSV and predicting each row. "
        "Diversity: mean pairwise distance (standardized features) of the batch against "
        f"the {k} most uncertain rows.",
        "",
        "| pool rows | select (s) | bare loop (s) | select / bare | peak RSS (MiB) "
        "| diversity (batch) | diversity (top by uncertainty) | mean uncertainty (batch / top) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['scanned']:,} | {r['seconds']:.1f} | {r['bare_loop_seconds']:.1f} "
            f"| {r['ratio_to_bare_loop']:.2f} | {r['peak_rss_mb']:.0f} "
            f"| {r['mean_pairwise_distance']:.2f} "
            f"| {r['top_uncertainty_mean_pairwise_distance']:.2f} "
            f"| {r['mean_score']:.3f} / {r['top_uncertainty_mean_score']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="pool sizes, comma separated")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "pool.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results" / "pool.md")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="stream-al-pool-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            directory = Path(tmp) / str(size)
            directory.mkdir()
            pool, model = _make_pool(directory, size, args.seed)
            report = _select(pool, model, args.k, directory / "select.json")
            bare = _bare_loop(pool, model)
            report["bare_loop_seconds"] = bare
            report["ratio_to_bare_loop"] = float(report["seconds"]) / bare  # type: ignore[arg-type]
            results.append(report)
            print(
                f"bench pool: {size:,} rows: select {report['seconds']:.1f} s "
                f"(bare loop {bare:.1f} s), peak RSS {report['peak_rss_mb']:.0f} MiB",
                file=sys.stderr,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": args.k, "runs": results}, indent=2) + "\n")
    args.markdown.write_text(_markdown(results, args.k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
