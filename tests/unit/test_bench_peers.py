from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stream_al.benchmarks.peers import (
    BUDGETS,
    STRATEGIES,
    accuracy_at,
    aggregate,
    best,
    best_peer_at,
    jobs_for,
    render_report,
    write_csv,
)

ROOT = Path(__file__).resolve().parents[2]


def _line(
    system: str, strategy: str, budget: float, acc: float, lf: float, seed: int = 0
) -> dict[str, Any]:
    return {
        "stream": "s",
        "model": "hoeffding-tree",
        "system": system,
        "strategy": strategy,
        "budget": budget,
        "seed": seed,
        "accuracy": acc,
        "label_fraction": lf,
        "us_per_event": 10.0,
    }


def test_aggregate_averages_seeds_and_leaves_failed_runs_out() -> None:
    lines = [_line("a", "x", 0.1, acc, 0.1, seed) for seed, acc in enumerate([0.6, 0.7, 0.8])]
    lines.append({**_line("a", "x", 0.1, 0.0, 0.0, 3), "error": "boom"})
    (row,) = aggregate(lines)
    assert row.seeds == 3
    assert row.accuracy == pytest.approx(0.7)
    assert row.ci95[0] < 0.7 < row.ci95[1]


def test_accuracy_is_interpolated_at_a_label_fraction_and_never_far_extrapolated() -> None:
    rows = aggregate(
        [
            _line("p", "q", 0.05, 0.70, 0.05),
            _line("p", "q", 0.1, 0.74, 0.1),
            _line("p", "q", 0.2, 0.80, 0.2),
        ]
    )
    assert accuracy_at(rows, 0.1) == pytest.approx(0.74)
    assert 0.74 < accuracy_at(rows, 0.13) < 0.80  # type: ignore[operator]
    assert accuracy_at(rows, 0.21) == pytest.approx(0.80)  # within 10% of the last point
    assert accuracy_at(rows, 0.3) is None
    assert accuracy_at(rows, 0.01) is None


def test_the_comparison_is_at_stream_als_true_label_fraction() -> None:
    lines = [
        _line("stream-al", "split", 0.1, 0.75, 0.12),
        _line("stream-al", "random", 0.1, 0.90, 0.1),  # the baseline never counts as "best"
        _line("stream-al", "full", 1.0, 0.95, 1.0),
        _line("peer", "a", 0.1, 0.72, 0.1),
        _line("peer", "a", 0.2, 0.82, 0.2),
        _line("peer", "b", 0.1, 0.73, 0.1),  # only one point: not carried to 12%
    ]
    rows = aggregate(lines)
    ours = best(rows, 0.1)
    assert ours is not None and ours.strategy == "split"
    found = best_peer_at(rows, ours.label_fraction)
    assert found is not None
    acc, name = found
    assert name == "peer a"
    assert 0.72 < acc < 0.75  # a at 12% labels, between its 10% and 20% runs


def _rows_for(stream: str, ours: float, peer: float) -> list[dict[str, Any]]:
    lines = [
        _line("stream-al", "split", 0.1, ours, 0.1),
        _line("stream-al", "random", 0.1, 0.5, 0.1),
        _line("stream-al", "full", 1.0, 0.99, 1.0),
        _line("moa", "VarUncertainty", 0.1, peer, 0.1),
    ]
    return [{**line, "stream": stream} for line in lines]


def test_report_counts_the_streams_where_stream_al_matches_the_best_peer() -> None:
    rows = aggregate([*_rows_for("won", 0.8, 0.7), *_rows_for("lost", 0.6, 0.7)])
    report = render_report(rows, streams=["won", "lost"], budgets=[0.1], preamble="# B")
    assert "matches or beats the best peer on **1 of 2** streams" in report
    assert "| won | 99.00 | 80.00" in report
    assert "+10.00" in report and "-10.00" in report
    assert "| stream-al | full labels |" in report


def test_jobs_cover_every_strategy_budget_and_seed_plus_the_ceiling(tmp_path: Path) -> None:
    csvs = {("elec2", 0): tmp_path / "e.csv", ("sea-drift", 0): tmp_path / "s.csv"}
    ours = jobs_for("stream-al", csvs)
    # elec2 runs two models, sea one; each (stream, model, seed) has the full-label ceiling
    assert len(ours) == 3 * (1 + len(BUDGETS) * len(STRATEGIES["stream-al"]))
    assert {j["model"] for j in ours if j["stream"] == "elec2"} == {
        "hoeffding-tree",
        "logistic-regression",
    }
    moa = jobs_for("moa", csvs, budgets=[0.1], max_events=500)
    assert all(j["strategy"] != "full" and j["max_events"] == 500 for j in moa)


def test_write_csv_refuses_a_sparse_stream(tmp_path: Path) -> None:
    assert (
        write_csv([({"a": 1, "b": 2.5}, True), ({"a": 3, "b": 4}, False)], tmp_path / "ok.csv") == 2
    )
    assert (tmp_path / "ok.csv").read_text().splitlines() == [
        "a,b,target",
        "1.0,2.5,True",
        "3.0,4.0,False",
    ]
    with pytest.raises(ValueError, match="lacks feature 'b'"):
        write_csv([({"a": 1, "b": 2}, 1), ({"a": 3}, 0)], tmp_path / "bad.csv")


def test_stream_al_runner_runs_jobs_records_failures_and_resumes(tmp_path: Path) -> None:
    from river.datasets import synth

    data = tmp_path / "sea.csv"
    write_csv(synth.SEA(seed=1).take(600), data)
    job = {"stream": "sea", "csv": str(data), "target": "target", "model": "hoeffding-tree"}
    jobs = [
        {**job, "strategy": "split", "budget": 0.1, "seed": 0, "max_events": 500},
        {**job, "strategy": "no-such-strategy", "budget": 0.1, "seed": 0, "max_events": 500},
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(j) + "\n" for j in jobs))
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        str(ROOT / "bench/peers/stream_al_peer.py"),
        "--jobs",
        str(tmp_path / "jobs.jsonl"),
    ]
    for _ in range(2):  # the second run finds both jobs done
        subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True, timeout=120)
    ok, failed = (json.loads(line) for line in out.read_text().splitlines())
    assert ok["n_events"] == 500 and ok["system"] == "stream-al"
    assert 0.5 < ok["accuracy"] <= 1 and 0.05 < ok["label_fraction"] < 0.3
    assert "no-such-strategy" in failed["error"]


def test_the_short_stream_runs_on_more_seeds_sharing_its_one_recorded_file(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from run_peers import export
    finally:
        sys.path.remove(str(ROOT / "bench"))
    csvs = export(["image-segments", "sea-drift"], None, 2, tmp_path, short_seeds=4)
    assert sorted(csvs) == [
        *(("image-segments", s) for s in range(4)),
        *(("sea-drift", s) for s in range(2)),
    ]
    assert len({csvs["image-segments", s] for s in range(4)}) == 1  # recorded: one file
    assert csvs["sea-drift", 0] != csvs["sea-drift", 1]  # synthetic: a stream per seed
    assert len(export(["sea-drift"], None, 2, tmp_path, short_seeds=4)) == 2
