"""Issue 16's criteria for settings run by bench/tune.py, on the tuning half, in one table.

Usage (stream-al's ``.venv``)::

    .venv/bin/python bench/tune_summary.py --out bench/results/issue16/tuning/FILE.jsonl \\
        --settings default,bandit,opal-qf,pending --budgets 0.02,0.1 --delays 0,500

Per setting, budget and label delay, over the streams where the setting and random
sampling ran the same seeds: how many streams the setting is significantly better and
worse than random on (paired Wilcoxon signed-rank over seeds, p < 0.05), the mean
difference in points, the median label-savings ratio (the setting's curve over the given
budgets against random at the budget) and the range of true label fraction over budget
(``--random`` names random sampling's setting when the learner is not the default's); then
each setting against the first one (the default), pooled over streams and seeds, and
pooled again with a stream both settings ran once (the same result for every seed: a
deterministic setting on a recorded stream) counted as one pair, not one per seed.
With ``--cells``, each stream's cells: every setting's mean difference from random
sampling, the significant ones starred, the single runs marked.
With ``--every-label``, the settings' runs with every label instead: the first's accuracy
against the best of the others per stream (issue 16's every-label criterion, the
references run as settings: ``full-ht``, ``full-ht-drift-d002``, ``full-htd``).
With ``--peers`` (the peers' result files of ``bench/run_peers.py`` on the tuning half),
per setting and peer budget (delay 0): on how many streams it matches or beats the best
peer at its true label fraction within 0.5 points (``report.best_peer``, the reporting
half's rule).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from analysis import aggregate, every_label_gap, savings_ratio, wilcoxon
from report import WITHIN, Index, best_peer, held_out_peer

Key = tuple[str, str, float, int]  # setting, stream, budget, delay


def load_runs(
    path: Path, jitter: int = 0, seeds: range | None = None
) -> dict[Key, dict[int, tuple[float, float]]]:
    runs: dict[Key, dict[int, tuple[float, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if int(r.get("jitter", 0)) != min(jitter, int(r["delay"])):
                continue
            if seeds is not None and r["seed"] not in seeds:
                continue
            key = (r["setting"], r["stream"], float(r["budget"]), int(r["delay"]))
            runs[key][r["seed"]] = (r["accuracy"], r["label_fraction"])
    return runs


def _mean(runs: dict[int, tuple[float, float]], seeds: list[int]) -> tuple[float, float]:
    return (
        statistics.fmean(runs[k][1] for k in seeds),
        statistics.fmean(runs[k][0] for k in seeds),
    )


def row(
    runs: dict[Key, Any],
    name: str,
    budget: float,
    delay: int,
    budgets: list[float],
    random: str = "random",
) -> str:
    streams = sorted({k[1] for k in runs if k[0] == name})
    better = worse = 0
    diffs, ratios, fractions, n_seeds = [], [], [], set()
    for stream in streams:
        mine, ref = (
            runs.get((name, stream, budget, delay)),
            runs.get((random, stream, budget, delay)),
        )
        if not mine or not ref:
            continue
        seeds = sorted(set(mine) & set(ref))
        n_seeds.add(len(seeds))
        d = [100 * (mine[k][0] - ref[k][0]) for k in seeds]
        p = wilcoxon(d).p
        better += p < 0.05 and statistics.fmean(d) > 0
        worse += p < 0.05 and statistics.fmean(d) < 0
        diffs.append(statistics.fmean(d))
        fractions.append(statistics.fmean(mine[k][1] for k in seeds) / budget)
        ratios.append(_savings(runs, name, stream, delay, budgets, ref, seeds))
    if not diffs:
        return f"| {name} | {budget} | {delay} | – | | | | | |"
    return (
        f"| {name} | {budget} | {delay} | {len(diffs)} | {'/'.join(map(str, sorted(n_seeds)))} | "
        f"{better} | {worse} | {statistics.fmean(diffs):+.2f} | {statistics.median(ratios):.2f} | "
        f"{min(fractions):.3f}-{max(fractions):.3f} |"
    )


def _savings(
    runs: dict[Key, Any],
    name: str,
    stream: str,
    delay: int,
    budgets: list[float],
    ref: dict[int, tuple[float, float]],
    seeds: list[int],
) -> float:
    """The labels ``name`` needs on ``stream`` to match ``ref`` (random sampling at one
    budget), over random's labels: its curve over ``budgets``, on ``seeds``."""
    curve = []
    for b in budgets:
        r = runs.get((name, stream, b, delay))
        if r and set(seeds) <= set(r):
            curve.append(_mean(r, seeds))
    return savings_ratio(curve, _mean(ref, seeds)).value


def savings_against(
    runs: dict[Key, Any],
    name: str,
    base: str,
    randoms: dict[str, str],
    budget: float,
    delay: int,
    budgets: list[float],
) -> str:
    """Per stream, ``name``'s savings ratio at ``budget`` (against its own random sampling)
    minus ``base``'s (against its own), with a Wilcoxon test over the streams: a gate
    that a median compared with a median is not (it moves with the draw of the seeds)."""
    d: list[float] = []
    for stream in sorted({k[1] for k in runs if k[0] == name}):
        pairs = []
        for setting in (name, base):
            ref = runs.get((randoms[setting], stream, budget, delay))
            mine = runs.get((setting, stream, budget, delay))
            if not ref or not mine:
                break
            seeds = sorted(set(mine) & set(ref))
            pairs.append(_savings(runs, setting, stream, delay, budgets, ref, seeds))
        if len(pairs) == 2:
            d.append(pairs[0] - pairs[1])
    if not d:
        return f"| {name} | {budget} | {delay} | – |"
    t = wilcoxon(d)
    return (
        f"| {name} | {budget} | {delay} | {t.mean:+.3f} (p={t.p:.2g}; lower on {t.losses}, "
        f"higher on {t.wins} of {len(d)} streams) |"
    )


def _one_run(runs: dict[int, tuple[float, float]], seeds: list[int]) -> bool:
    """Whether every seed gave the same result: a deterministic setting on a recorded
    stream makes one run, however many seeds it is given."""
    return len(seeds) > 1 and len({runs[k] for k in seeds}) == 1


def paired(
    runs: dict[Key, Any], name: str, base: str, budget: float, delay: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per stream, ``name``'s accuracy minus ``base``'s in points, seed by seed, and the
    same with a stream both settings ran once counted once."""
    out = {}
    for stream in sorted({k[1] for k in runs if k[0] == name}):
        mine, ref = runs.get((name, stream, budget, delay)), runs.get((base, stream, budget, delay))
        if not mine or not ref:
            continue
        seeds = sorted(set(mine) & set(ref))
        ds = [100 * (mine[k][0] - ref[k][0]) for k in seeds]
        out[stream] = (ds, ds[:1] if _one_run(mine, seeds) and _one_run(ref, seeds) else ds)
    return out


def against(runs: dict[Key, Any], name: str, base: str, budget: float, delay: int) -> str:
    d: list[float] = []
    once: list[float] = []  # the same, with a stream both settings ran once counted once
    better = worse = 0
    for ds, ds_once in paired(runs, name, base, budget, delay).values():
        d += ds
        once += ds_once
        p = wilcoxon(ds).p
        better += p < 0.05 and statistics.fmean(ds) > 0
        worse += p < 0.05 and statistics.fmean(ds) < 0
    if not d:
        return f"| {name} | {budget} | {delay} | – | | |"
    t, u = wilcoxon(d), wilcoxon(once)
    return (
        f"| {name} | {budget} | {delay} | {t.mean:+.2f} (p={t.p:.2g}, {t.wins}W/{t.losses}L) | "
        f"{u.mean:+.2f} (p={u.p:.2g}, {len(once)} pairs) | {better}/{worse} |"
    )


def cells(
    runs: dict[Key, Any],
    names: list[str],
    budgets: list[float],
    delays: list[int],
    randoms: dict[str, str],
) -> list[str]:
    """Each stream, budget and delay: every setting's mean difference from random sampling
    (``randoms[setting]``) in points, ``*`` where the paired Wilcoxon test over seeds gives
    p < 0.05, ``(1 run)`` where the setting made the same run for every seed."""
    lines = [
        "| stream | budget | delay | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for stream in sorted({k[1] for k in runs if k[0] in names}):
        for budget in budgets:
            for delay in delays:
                out = []
                for name in names:
                    ref = runs.get((randoms[name], stream, budget, delay)) or {}
                    mine = runs.get((name, stream, budget, delay))
                    seeds = sorted(set(mine or ()) & set(ref))
                    if not mine or not seeds:
                        out.append("–")
                        continue
                    ds = [100 * (mine[k][0] - ref[k][0]) for k in seeds]
                    star = "*" if wilcoxon(ds).p < 0.05 else ""
                    one = " (1 run)" if _one_run(mine, seeds) else ""
                    out.append(f"{statistics.fmean(ds):+.2f}{star}{one}")
                if any(o != "–" for o in out):
                    lines.append(f"| {stream} | {budget} | {delay} | " + " | ".join(out) + " |")
    return lines


def peers(
    path: Path,
    peer_files: list[Path],
    names: list[str],
    budgets: list[float],
    seeds: range | None = None,
) -> list[str]:
    """Per setting and peer budget: streams where it is within 0.5 points of the best peer."""
    lines: list[dict[str, Any]] = []
    for f in peer_files:
        lines += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    for x in path.read_text().splitlines():
        if x.strip():
            r = json.loads(x)  # a setting is a system's strategy, for the report's index
            if seeds is not None and r["seed"] not in seeds:
                continue
            lines.append(
                r | {"system": "stream-al", "model": r["setting"], "strategy": r["setting"]}
            )
    index = Index(aggregate(lines))
    peer_budgets = sorted({c.budget for c in index.cells if c.system != "stream-al"} - {1.0})
    out = ["| setting | budget | streams within 0.5 of the best peer | mean difference "
           "| the same, the best peer chosen on its other seeds |",
           "|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        for budget in [b for b in budgets if b in peer_budgets]:
            matched, diffs, held = 0, [], 0
            streams = sorted({c.stream for c in index.cells if c.model == name})
            for stream in streams:
                ours = index.get(stream, "stream-al", name, budget, 0, name)
                found = ours and best_peer(index, stream, ours, peer_budgets)
                if ours and found:
                    matched += found.ours - found.theirs >= -WITHIN
                    diffs.append(found.ours - found.theirs)
                    out_of = held_out_peer(index, stream, ours, peer_budgets)
                    held += out_of is not None and out_of.ours - out_of.theirs >= -WITHIN
            if diffs:
                mean = 100 * statistics.fmean(diffs)
                out.append(f"| {name} | {budget} | {matched} of {len(diffs)} | {mean:+.2f} "
                           f"| {held} of {len(diffs)} |")  # fmt: skip
    return out


def every_label(runs: dict[Key, Any], names: list[str]) -> list[str]:
    """Issue 16's every-label criterion: the first setting's accuracy (budget 1.0) against
    the best of the others, per stream, over the seeds all of them ran."""
    ours = names[0]
    streams = sorted({k[1] for k in runs if k[0] == ours and k[2] == 1.0})
    out = ["| stream | " + " | ".join(names) + " | gap to the best other |"]
    out.append("|---|" + "---|" * (len(names) + 1))
    short = counted = 0
    for stream in streams:
        found = [runs.get((name, stream, 1.0, 0), {}) for name in names]
        accuracy = [{seed: acc for seed, (acc, _) in f.items()} for f in found]
        measured = every_label_gap(accuracy, range(1, len(names)))
        if measured is None:
            continue
        means, gap, _ = measured
        counted += 1
        short += gap < -100 * WITHIN
        cols = " | ".join(f"{m:.2f}" for m in means)
        out.append(f"| {stream} | {cols} | {gap:+.2f} |")
    out += ["", f"{ours} within {100 * WITHIN:g} points of the best of the others: "
            f"{counted - short} of {counted} streams."]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--budgets", default="0.02,0.1")
    parser.add_argument("--delays", default="0,500")
    parser.add_argument(
        "--random",
        default="random",
        help="the setting of random sampling on the same learner (e.g. nb-first-random); "
        "comma-separated, one per setting, when each has its own",
    )
    parser.add_argument("--peers", default="", help="comma-separated peer result files")
    parser.add_argument(
        "--cells", action="store_true", help="also each stream's cells against random sampling"
    )
    parser.add_argument(
        "--jitter", type=int, default=0, help="the runs made with this delay jitter (tune.py)"
    )
    parser.add_argument(
        "--seeds",
        default="",
        help="FIRST-LAST: only the runs of these seeds (e.g. a confirmation on fresh seeds)",
    )
    parser.add_argument(
        "--every-label",
        action="store_true",
        help="the settings' every-label runs (budget 1.0): the first against the best of the "
        "others, per stream (issue 16's criterion with the references as settings)",
    )
    args = parser.parse_args(argv)
    seeds = None
    if args.seeds:
        first, _, last = args.seeds.partition("-")
        seeds = range(int(first), int(last or first) + 1)
    runs = load_runs(args.out, args.jitter, seeds)
    names = args.settings.split(",")
    if args.every_label:
        print("\n".join(every_label(runs, names)))
        return 0
    budgets = [float(b) for b in args.budgets.split(",")]
    delays = [int(d) for d in args.delays.split(",")]
    print("| setting | budget | delay | streams | seeds | sig. better | sig. worse | "
          "mean vs random (pts) | median savings | fraction / budget |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    given = args.random.split(",")
    if len(given) not in (1, len(names)):
        parser.error("--random: one setting, or one per setting of --settings")
    randoms = dict(zip(names, given if len(given) > 1 else given * len(names), strict=True))
    for name in names:
        for delay in delays:
            for budget in budgets:
                print(row(runs, name, budget, delay, budgets, randoms[name]))
    head = (
        f"against {names[0]} (pts, pooled) | the same, a stream both ran once counted once "
        "| streams sig. better/worse"
    )
    print(f"\n| setting | budget | delay | {head} |")
    print("|---|---|---|---|---|---|")
    for name in names[1:]:
        for delay in delays:
            for budget in budgets:
                print(against(runs, name, names[0], budget, delay))
    if len(names) > 1 and len(budgets) > 1:
        print(f"\n| setting | budget | delay | savings ratio minus {names[0]}'s, per stream |")
        print("|---|---|---|---|")
        for name in names[1:]:
            for delay in delays:
                for budget in budgets:
                    print(savings_against(runs, name, names[0], randoms, budget, delay, budgets))
    if args.cells:
        print()
        print("\n".join(cells(runs, names, budgets, delays, randoms)))
    if args.peers:
        print()
        files = [Path(f) for f in args.peers.split(",")]
        print("\n".join(peers(args.out, files, names, budgets, seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
