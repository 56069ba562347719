"""`stream-al bench throughput` on the real servers: the interface outside checks use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Services
from tests.integration.deployment import BACKENDS

KEYS = {
    "serve_events_per_s",
    "raw_consume_events_per_s",
    "ratio",
    "backend",
    "decision_latency_p99_ms",
    "label_to_learned_p99_ms",
}


def _run(services: Services, args: list[str]) -> None:
    """Run a benchmark with the project's Python, given only the servers (Redis db 14)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "REDIS_URL": services.redis_url.rsplit("/", 1)[0] + "/14",
    }
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_throughput_writes_its_report(
    services: Services, tmp_path: Path, backend: str
) -> None:
    out = tmp_path / "throughput.json"
    bench = ["-m", "stream_al.cli", "bench", "throughput", "--backend", backend]
    _run(services, [*bench, "--events", "3000", "--json", str(out), "--quiet"])
    report = json.loads(out.read_text())
    assert set(report) >= KEYS
    assert report["backend"] == backend and report["n_events"] == 3000
    assert report["ratio"] == pytest.approx(
        report["serve_events_per_s"] / report["raw_consume_events_per_s"]
    )
    assert report["decision_latency_p99_ms"] > 0 and report["label_to_learned_p99_ms"] > 0
    assert report["labels"] > 0  # the simulated labeler closed the loop
    # Memory is sampled along the run, the model's own beside the process's.
    assert len(report["model_mb"]) == len(report["rss_mb"]) > 3
    assert 0 < report["model_mb"][-1][1] < report["rss_mb"][-1][1]
    assert report["model_mb"][-1][1] > report["model_mb"][0][1]  # the tree grew


def test_bench_phases_times_each_phase_of_serve(services: Services, tmp_path: Path) -> None:
    out = tmp_path / "phases.json"
    _run(services, ["bench/phases.py", "--events", "3000", "--out", str(out)])
    report = json.loads(out.read_text())
    phases = report["us_per_event"]
    assert report["n_events"] == 3000 and report["calls"]["  learner.decide"] == 3000
    assert report["calls"]["  learner.learn"] > 0  # labels came back and were learned
    parts = ["join labels", "learn the train log", "decide the batch", "complete the batch"]
    assert all(phases[p] > 0 for p in parts)
    # The phases happen inside the turns, and the CPU time is part of the turns' wall time.
    assert sum(phases[p] for p in parts) < phases["turn"]
    assert 0 < report["turn_cpu_us_per_event"] <= phases["turn"]


def test_bench_throughput_deployed_runs_serve_and_worker_as_processes(
    services: Services, tmp_path: Path
) -> None:
    """serve and the worker as processes of their own against the bare loop, and the
    scale-out figure, on the last backend the tests know."""
    backend = BACKENDS[-1]
    out = tmp_path / "deployed.json"
    bench = ["-m", "stream_al.cli", "bench", "throughput", "--deployed", "--scale-out"]
    bench += ["--repeats", "1"]
    _run(
        services, [*bench, "--backend", backend, "--events", "2000", "--json", str(out), "--quiet"]
    )
    report = json.loads(out.read_text())
    result = report["backends"][backend]
    assert report["n_events"] == 2000 and report["cores"] >= 1
    assert result["ratio"] == pytest.approx(
        result["serve_events_per_s"] / result["bare_events_per_s"]
    )
    served, bare = result["serve"], result["bare"]
    assert served["events"] == bare["events"] == 2000  # one message per event, each
    assert served["labels"] > 0 and served["worker_cpu_us_per_label"] > 0  # the loop closed
    assert served["serve_cpu_us_per_event"] > 0 and bare["cpu_us_per_event"] > 0
    scale = report["scale_out"]
    assert scale["two_replicas"]["events"] == scale["one_replica"]["events"] == 2000
    assert all(n > 0 for n in scale["two_replicas"]["events_per_replica"])  # both consumed
