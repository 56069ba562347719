from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jobs import job_key
from protocol import write_csv

ROOT = Path(__file__).resolve().parents[3]


def test_a_job_is_known_by_its_file_name_and_its_delay() -> None:
    job = {"stream": "s", "csv": "/cache/a/s-1234-s0.csv", "model": "m", "budget": 0.1}
    assert job_key(job) == job_key({**job, "csv": "/elsewhere/s-1234-s0.csv"})
    assert job_key(job) == job_key({**job, "delay": 0})
    assert job_key(job) != job_key({**job, "delay": 500})
    assert job_key(job) == job_key({**job, "accuracy": 0.9})  # results do not count


def _run(jobs: list[dict], tmp_path: Path, out: Path) -> None:
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(j) + "\n" for j in jobs))
    cmd = [
        sys.executable,
        str(ROOT / "bench/peers/stream_al_peer.py"),
        "--jobs",
        str(tmp_path / "jobs.jsonl"),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bench/peers")}
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, env=env)


def test_stream_al_runner_runs_delays_and_references_records_failures_and_resumes(
    tmp_path: Path,
) -> None:
    from river.datasets import synth

    data = tmp_path / "sea.csv"
    write_csv(synth.SEA(seed=1).take(800), data)
    job = {"stream": "sea", "csv": str(data), "target": "target", "model": "hoeffding-tree"}
    job |= {"seed": 0, "max_events": 600}
    jobs = [
        {**job, "strategy": "split", "budget": 0.1, "delay": 0},
        {**job, "strategy": "split", "budget": 0.1, "delay": 100},
        {**job, "strategy": "random", "budget": 0.1, "delay": 10_000},  # never arrives
        {**job, "strategy": "full", "budget": 1.0, "delay": 0},
        {**job, "strategy": "full-drift", "budget": 1.0, "delay": 0},
        {**job, "strategy": "no-such-strategy", "budget": 0.1, "delay": 0},
    ]
    out = tmp_path / "out.jsonl"
    for _ in range(2):  # the second run finds every job done, the failed one too
        _run(jobs, tmp_path, out)
    now, late, never, full, full_drift, failed = map(json.loads, out.read_text().splitlines())
    assert now["n_events"] == 600 and now["system"] == "stream-al" and now["delay"] == 0
    assert 0.5 < now["accuracy"] <= 1 and 0.05 < now["label_fraction"] < 0.3
    assert late["delay"] == 100 and late["accuracy"] < now["accuracy"]  # 100 events blind
    assert never["accuracy"] == 0 and never["labels"] > 0  # asked, never learned
    assert full["label_fraction"] == full_drift["label_fraction"] == 1.0
    assert "drifts" in full_drift
    assert "no-such-strategy" in failed["error"]


def test_a_full_drift_reference_runs_at_the_drift_delta_it_is_pinned_to() -> None:
    from stream_al_peer import build_learner

    from stream_al.core.drift import DriftReaction

    job = {"model": "hoeffding-tree", "strategy": "full-drift", "budget": 1.0, "seed": 0}
    assert build_learner({**job, "drift_delta": 0.002}).drift.delta == 0.002
    assert build_learner(job).drift.delta == DriftReaction().delta
    assert DriftReaction().delta != 0.002  # otherwise the pin above would prove nothing


def test_the_peers_refuse_a_label_delay_and_know_the_default_tree() -> None:
    pytest.importorskip("river")
    from _common import _run_one, make_model
    from moa_peer import learner_cli

    job = {"csv": "x.csv", "model": "hoeffding-tree", "strategy": "s", "budget": 0.1}
    with pytest.raises(ValueError, match="delay 0 only"):
        _run_one({**job, "seed": 0, "delay": 500}, lambda job, stream: None)  # type: ignore[arg-type, return-value]
    default = make_model("hoeffding-tree-default")
    assert (default.grace_period, default.delta) == (200, 1e-7)  # type: ignore[attr-defined]
    assert learner_cli("hoeffding-tree-default", "ALRandom", 0.1) == (
        "active.ALRandom -l (trees.HoeffdingTree) -b (FixedBM -b 0.1)"
    )
