"""How soon ``stream-al serve`` is ready, and ``stream-al --help`` done, on this machine.

1. ``--help``: the wall and CPU seconds of ``stream-al --help`` (median of ``--repeats``);
2. ``readyz``: a learner that has seen ``--events`` events of agrawal-drift (the label
   budget's queries learned) is checkpointed to Redis; then ``stream-al serve`` starts
   ``--repeats`` times on it (real Kafka and Redis: the settings of ``scripts/services up``
   in the environment), each time timed from the process's start to ``/readyz`` answering
   200, and stopped (SIGTERM). Start-up is imports, mostly: River's trees import scipy.stats
   (about 0.75 s of CPU of serve's 1.3 s); restoring the checkpoint and connecting to Kafka
   and Redis take tens of milliseconds.

Writes ``bench/results/startup.json`` (or ``--out``) with the machine's load beside.

    set -a; eval "$(scripts/services up)"; set +a
    .venv/bin/python bench/startup.py [--events 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from stream_al.benchmarks.deployed import _command, _free_port
from stream_al.benchmarks.throughput import with_services
from stream_al.config import Settings
from stream_al.data.streams import parse_stream
from stream_al.io.checkpoints import make_checkpoint
from stream_al.io.redis import RedisStore, connect

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-startup-checkpoint-key"


def _help_seconds() -> tuple[float, float]:
    """Wall and CPU seconds of one ``stream-al --help``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(_command("--help"), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _trained(settings: Settings, events: int) -> Any:
    """The benchmark's learner after ``events`` events, its queries learned."""
    learner = settings.learner.spec().build(settings.learner.seed)
    for x, y in parse_stream("synth:agrawal-drift", n_events=events).events(0):
        decision = learner.decide(x)
        if decision.queried:
            learner.learn(x, y, decision.prediction)
    return learner


def _ready_seconds(settings: Settings, prefix: str, topic: str) -> float:
    """Seconds from starting ``stream-al serve`` to ``/readyz`` answering 200."""
    port = _free_port()
    env = {
        **os.environ,
        "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAM_AL_KAFKA__EVENTS_TOPIC": topic,
        "STREAM_AL_KAFKA__GROUP_ID": prefix,
        "STREAM_AL_REDIS__URL": settings.redis.url,
        "STREAM_AL_REDIS__PREFIX": prefix,
        "STREAM_AL_CHECKPOINT__KEY": KEY,
        "STREAM_AL_METRICS__PORT": str(port),
        "STREAM_AL_SERVICE__REPLICA_ID": "startup",
        "STREAM_AL_LEARNER": settings.learner.model_dump_json(),
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        _command("serve", "--quiet"), env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}")
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/startup.json")
    args = parser.parse_args()
    settings = with_services(Settings())
    settings = settings.model_copy(
        update={"learner": settings.learner.model_copy(update={"strategy": "variable-uncertainty"})}
    )
    helps = [_help_seconds() for _ in range(args.repeats)]
    learner = _trained(settings, args.events)
    prefix = f"bench_startup_{uuid.uuid4().hex[:8]}"
    client = connect(settings.redis.url)
    store = RedisStore(client, prefix=prefix, consumer="bench-startup")
    checkpoint = make_checkpoint(learner, "startup", None, KEY.encode(), time.time())
    store.save(checkpoint)
    topic = f"{prefix}-events"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    admin.create_topics([NewTopic(topic, 1, 1)])
    try:
        ready = [_ready_seconds(settings, prefix, topic) for _ in range(args.repeats)]
    finally:
        admin.delete_topics([topic])
        admin.close()
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    report = {
        "help_wall_s": statistics.median(w for w, _ in helps),
        "help_cpu_s": statistics.median(c for _, c in helps),
        "help_runs": helps,
        "events_learned_before_checkpoint": args.events,
        "checkpoint_bytes": len(checkpoint.data),
        "labels_learned": learner.n_learned,
        "readyz_s": statistics.median(ready),
        "readyz_runs": ready,
        "load": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"stream-al --help: {report['help_wall_s']:.2f} s wall, {report['help_cpu_s']:.2f} s CPU;"
        f" serve ready on a {args.events:,}-event checkpoint ({len(checkpoint.data):,} bytes) "
        f"in {report['readyz_s']:.2f} s (median of {args.repeats}); load {report['load']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
