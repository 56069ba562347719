"""``stream-al bench throughput --deployed``: ``serve`` as it is deployed, against the bare
loops, on the real servers.

One run, the same topic of events produced beforehand, for each Kafka backend:

1. **bare**: the bare loop of :mod:`stream_al.benchmarks.bare` as a process of its own
   (poll, ``json.loads``, one message produced per event, flush and commit per batch);
2. **serve**: ``stream-al serve`` and ``stream-al worker --oracle file:TRUTH`` as two
   processes on Kafka and Redis, the worker answering every queued item from the
   stream's ground truth, in a fresh consumer group and a fresh Redis prefix.

Both write one message per event to a topic of their own whose timestamps the broker
sets (``message.timestamp.type=LogAppendTime``): events per second are the messages over
the span from the first to the last timestamp, the same clock for both. CPU is the
kernel's count for each process (``/proc/PID/stat``, every thread, user and system), from
``/readyz`` answering 200 (serve), from the end of its start-up (the worker, once idle)
or from its first event (the bare loop) to the moment every event is decided and every
label learned; per event of the stream, and per label for the worker.

``scale_out`` runs serve again on a topic of two partitions, once with one replica and
once with two (one worker each time), and gives the events per second of each with the
machine's core count: two replicas share the machine with the worker, Kafka and Redis.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from kafka.admin import KafkaAdminClient, NewTopic

from stream_al.benchmarks.throughput import _produce, _stream_records
from stream_al.config import Settings
from stream_al.io.redis import RedisStore, connect

__all__ = ["bench_deployed", "broker_span", "proc_cpu_seconds"]

LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) of process ``pid`` so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_span(bootstrap: str, topic: str) -> tuple[int, float]:
    """``(messages, seconds)`` of ``topic``: its count and the span of its broker
    timestamps, first to last (every partition, read from the beginning)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        count, first, last = 0, float("inf"), 0.0
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for messages in consumer.poll(timeout_ms=500, max_records=50_000).values():
                count += len(messages)
                first = min(first, min(m.timestamp for m in messages))
                last = max(last, max(m.timestamp for m in messages))
        return count, (last - first) / 1000
    finally:
        consumer.close(autocommit=False)


class _Child:
    """A process of the benchmark: started with an environment, its stderr in a file,
    stopped with SIGTERM (then SIGKILL after a deadline)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self._err: IO[bytes] = self.log.open("wb")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL
        )
        self.cpu_start = 0.0

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {tail}")

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the process stops using the CPU (its start-up is over)."""
        end, last = time.monotonic() + timeout, -1.0
        while time.monotonic() < end:
            self.check()
            now = self.cpu()
            if now == last:
                return
            last = now
            time.sleep(0.3)

    def stop(self, deadline: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _command(*args: str) -> list[str]:
    """``stream-al ARGS`` as deployed: the console script beside this Python."""
    script = Path(sys.executable).with_name("stream-al")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "stream_al.cli", *args]


def _base_env() -> dict[str, str]:
    """This environment without its learner settings (the benchmark's are set instead).
    ``STREAM_AL_BENCH_SERVE_PATH=TREE`` runs serve and the worker from another checkout's
    ``stream_al`` (its ``PYTHONPATH``): a before/after comparison of serve itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AL_LEARNER")}
    tree = env.pop("STREAM_AL_BENCH_SERVE_PATH", "")
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    return env


def _serve_env(settings: Settings, run: dict[str, str], replica: str, port: int) -> dict[str, str]:
    kafka = settings.kafka
    return {
        **_base_env(),
        "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STREAM_AL_KAFKA__BACKEND": run["backend"],
        "STREAM_AL_KAFKA__EVENTS_TOPIC": run["events"],
        "STREAM_AL_KAFKA__PREDICTIONS_TOPIC": run["predictions"],
        "STREAM_AL_KAFKA__DEAD_LETTER_TOPIC": run["dead_letters"],
        "STREAM_AL_KAFKA__GROUP_ID": f"serve-{run['prefix']}",
        "STREAM_AL_KAFKA__MAX_POLL_RECORDS": run["batch"],
        "STREAM_AL_KAFKA__AUTO_OFFSET_RESET": "earliest",
        "STREAM_AL_REDIS__URL": settings.redis.url,
        "STREAM_AL_REDIS__PREFIX": run["prefix"],
        "STREAM_AL_CHECKPOINT__KEY": "bench-deployed-checkpoint-key",
        "STREAM_AL_METRICS__HOST": "127.0.0.1",
        "STREAM_AL_METRICS__PORT": str(port),
        "STREAM_AL_SERVICE__REPLICA_ID": replica,
        "STREAM_AL_LEARNER": settings.learner.model_dump_json(),
    }


def _worker_env(settings: Settings, prefix: str) -> dict[str, str]:
    return {
        **_base_env(),
        "STREAM_AL_REDIS__URL": settings.redis.url,
        "STREAM_AL_REDIS__PREFIX": prefix,
        "STREAM_AL_WORKER__NAME": "bench-worker",
    }


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except OSError as exc:  # not listening yet, or 503 (an HTTPError is an OSError)
        return int(getattr(exc, "code", 0) or 0), ""


def _scrape(port: int) -> dict[str, float]:
    """serve's counters: events, learned labels, train-log entries applied."""
    _, text = _get(f"http://127.0.0.1:{port}/metrics")
    out = {"events": 0.0, "learned": 0.0, "applied": 0.0}
    for line in text.splitlines():
        if line.startswith("stream_al_events_total{"):
            out["events"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith('stream_al_labels_total{outcome="learned"}'):
            out["learned"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("stream_al_train_log_applied_total "):
            out["applied"] = float(line.rsplit(" ", 1)[1])
    return out


def _wait_ready(serves: Sequence[tuple[_Child, int]], timeout: float = 180.0) -> None:
    """Until each serve's ``/readyz`` answers 200; its CPU is counted from then."""
    end = time.monotonic() + timeout
    for child, port in serves:
        while _get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
            child.check()
            if time.monotonic() > end:
                raise TimeoutError(f"{child.name} not ready within {timeout:g} s")
            time.sleep(0.05)
        child.cpu_start = child.cpu()


def _written(bootstrap: str, topic: str) -> Callable[[], int]:
    """How many messages ``topic`` holds (its end offsets), asked of the broker."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    def count() -> int:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values()) if tps else 0

    return count


def _wait_done(
    serves: Sequence[tuple[_Child, int]],
    store: RedisStore,
    events: int,
    predictions: Callable[[], int],
    timeout: float,
) -> dict[str, Any]:
    """Until every event is decided and every label learned by every replica. serve's
    metrics are read only once every prediction is out (a scrape costs serve some CPU)."""
    end = time.monotonic() + timeout
    while predictions() < events:
        for child, _ in serves:
            child.check()
        if time.monotonic() > end:
            raise TimeoutError(f"serve did not predict {events} events within {timeout:g} s")
        time.sleep(0.25)
    while True:
        for child, _ in serves:
            child.check()
        counts = [_scrape(port) for _, port in serves]
        learned = sum(c["learned"] for c in counts)
        if (
            sum(c["events"] for c in counts) >= events
            and learned > 0
            and all(c["applied"] >= learned for c in counts)
            and store.queue_depth() == 0
            and store.pending_count() == 0
        ):
            return {"events": [c["events"] for c in counts], "labels": learned}
        if time.monotonic() > end:
            raise TimeoutError(f"serve did not finish within {timeout:g} s: {counts}")
        time.sleep(0.25)


def _profile(stack: ExitStack, serve: _Child, logs: Path) -> None:
    """With ``STREAM_AL_BENCH_PROFILE=DIR`` (and py-spy on the PATH), a sampling profile of
    the first serve from ready to done, into DIR (collapsed stacks; idle frames too with
    ``STREAM_AL_BENCH_PROFILE_IDLE=1``)."""
    out = os.environ.get("STREAM_AL_BENCH_PROFILE")
    if not out:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    target = Path(out) / f"{serve.name}.txt"
    argv = ["py-spy", "record", "--pid", str(serve.proc.pid), "--rate", "250"]
    if os.environ.get("STREAM_AL_BENCH_PROFILE_IDLE"):
        argv.append("--idle")  # waiting too, not only the CPU
    argv += ["--format", "raw", "--output", str(target)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(logs / "py-spy.log").open("wb"))

    def stop() -> None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)

    stack.callback(stop)


class _Run:
    """The topics, Redis prefix and files of one benchmark run; removed at the end."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.bootstrap = settings.kafka.bootstrap_servers
        self.id = uuid.uuid4().hex[:8]
        self.logs = logs
        self.topics: list[str] = []
        self.prefixes: list[str] = []
        self.one = ""  # the events topic, one partition
        self.records: list[tuple[str, str, Any]] = []
        self.client = connect(settings.redis.url, socket_timeout=settings.redis.socket_timeout)

    def topic(self, name: str, partitions: int = 1, broker_time: bool = False) -> str:
        topic = f"bench-{self.id}-{len(self.topics)}-{name}"
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            configs = LOG_APPEND_TIME if broker_time else {}
            admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
        finally:
            admin.close()
        self.topics.append(topic)
        return topic

    def prefix(self, name: str) -> str:
        prefix = f"bench_{self.id}_{len(self.prefixes)}_{name}"
        self.prefixes.append(prefix)
        return prefix

    def cleanup(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.delete_topics(self.topics)
        except Exception:
            pass  # best effort: a benchmark's topics are disposable
        finally:
            admin.close()
        for prefix in self.prefixes:
            for key in self.client.scan_iter(match=f"{prefix}:*", count=1000):
                self.client.delete(key)


def _bare(run: _Run, backend: str, events_topic: str, n: int, batch: int) -> dict[str, Any]:
    """The bare loop of ``backend`` as a process of its own."""
    out = run.topic(f"bare-{backend}", broker_time=True)
    argv = [sys.executable, "-m", "stream_al.benchmarks.bare", "--backend", backend]
    argv += ["--bootstrap", run.bootstrap, "--topic", events_topic, "--out-topic", out]
    argv += ["--events", str(n), "--batch", str(batch)]
    load = _load()
    child = _Child(f"bare-{backend}", argv, dict(os.environ), run.logs)
    try:
        assert child.proc.stdout is not None
        lines = [line.decode() for line in child.proc.stdout]
        child.proc.wait(60)
        if child.proc.returncode != 0 or len(lines) < 2:
            raise RuntimeError(f"bare loop failed: {child.log.read_text()[-2000:]}")
        report = json.loads(lines[-1])
    finally:
        child.stop()
    count, seconds = broker_span(run.bootstrap, out)
    return {
        "events_per_s": count / seconds,
        "events": count,
        "seconds": seconds,
        "own_clock_events_per_s": report["events"] / report["seconds"],
        "cpu_us_per_event": 1e6 * report["cpu_seconds"] / report["events"],
        "load": [load, _load()],
    }


def _served(
    run: _Run,
    backend: str,
    events_topic: str,
    n: int,
    batch: int,
    truth: Path,
    replicas: int = 1,
    produce_when_joined: bool = False,
) -> dict[str, Any]:
    """``replicas`` serve processes and one worker on ``events_topic``; with
    ``produce_when_joined``, the topic is empty until every replica is in the group (else
    the first ready replica takes every event before the others join)."""
    prefix = run.prefix(f"{backend}-{replicas}")
    names = {
        "backend": backend,
        "events": events_topic,
        "predictions": run.topic(f"predictions-{backend}-{replicas}", broker_time=True),
        "dead_letters": run.topic(f"dlq-{backend}-{replicas}"),
        "prefix": prefix,
        "batch": str(batch),
    }
    settings = run.settings
    load = _load()
    with ExitStack() as stack:
        worker = _Child(
            f"worker-{backend}-{replicas}",
            _command("worker", "--oracle", f"file:{truth}", "--quiet"),
            _worker_env(settings, prefix),
            run.logs,
        )
        stack.callback(worker.stop)
        worker.settle()
        worker.cpu_start = worker.cpu()
        serves: list[tuple[_Child, int]] = []
        for i in range(replicas):
            port = _free_port()
            env = _serve_env(settings, names, f"bench-{i}", port)
            if replicas > 1:
                # A replica that has not checkpointed yet is not counted when another
                # trims the train log: it could miss entries it has not learned yet.
                env["STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG"] = "false"
            child = _Child(
                f"serve-{backend}-{replicas}-{i}", _command("serve", "--quiet"), env, run.logs
            )
            stack.callback(child.stop)
            serves.append((child, port))
        _wait_ready(serves)
        if produce_when_joined:
            _wait_members(run.bootstrap, f"serve-{prefix}", replicas)
            _produce_fast(run.bootstrap, events_topic, run.records)
        _profile(stack, serves[0][0], run.logs)
        store = RedisStore(run.client, prefix=prefix, consumer="bench-deployed")
        written = _written(run.bootstrap, names["predictions"])
        done = _wait_done(serves, store, n, written, timeout=120.0 + n / 200)
        serve_cpu = sum(child.cpu() - child.cpu_start for child, _ in serves)
        worker_cpu = worker.cpu() - worker.cpu_start
    count, seconds = broker_span(run.bootstrap, names["predictions"])
    labels = done["labels"]
    return {
        "events_per_s": count / seconds,
        "events": count,
        "seconds": seconds,
        "labels": labels,
        "events_per_replica": done["events"],
        "serve_cpu_us_per_event": 1e6 * serve_cpu / count,
        "worker_cpu_us_per_event": 1e6 * worker_cpu / count,
        "worker_cpu_us_per_label": 1e6 * worker_cpu / labels if labels else 0.0,
        "load": [load, _load()],
    }


def _workload(run: _Run, stream: str, events: int, seed: int) -> Path:
    """The truth file of the stream's first ``events`` events (JSON lines: the labels keep
    their type), the records kept, and a one-partition topic of them (``run.one``)."""
    run.records = list(_stream_records(stream, events, seed))
    truth = run.logs / "truth.jsonl"
    with truth.open("w") as f:
        for item_id, _, label in run.records:
            f.write(json.dumps({"id": item_id, "label": label}) + "\n")
    run.one = run.topic("events")
    _produce(run.bootstrap, run.one, run.records)
    return truth


def _produce_fast(bootstrap: str, topic: str, records: list[tuple[str, str, Any]]) -> None:
    """The records to ``topic`` at once (librdkafka: a burst, short beside the run)."""
    try:
        from confluent_kafka import Producer
    except ImportError:  # the fast extra is not installed
        _produce(bootstrap, topic, records)
        return
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for item_id, value, _ in records:
        while True:
            try:
                producer.produce(topic, key=item_id.encode(), value=value.encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def _wait_members(bootstrap: str, group: str, members: int, timeout: float = 120.0) -> None:
    """Until ``group`` is stable with ``members`` members (partitions assigned)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            [info] = admin.describe_consumer_groups([group])
            if info.state == "Stable" and len(info.members) == members:
                return
            time.sleep(0.2)
        raise TimeoutError(f"group {group} not stable with {members} members in {timeout:g} s")
    finally:
        admin.close()


def _against_bare(
    run: _Run, backend: str, batch: int, truth: Path, repeats: int = 1
) -> dict[str, Any]:
    """The bare loop of ``backend``, then serve and the worker, on the same topic,
    ``repeats`` times: the medians, and the round of the median ratio in full."""
    n = len(run.records)
    rounds = []
    for _ in range(repeats):
        bare = _bare(run, backend, run.one, n, batch)
        served = _served(run, backend, run.one, n, batch, truth)
        ratio = served["events_per_s"] / bare["events_per_s"]
        rounds.append({"ratio": ratio, "serve": served, "bare": bare})
    middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {
        "serve_events_per_s": statistics.median(r["serve"]["events_per_s"] for r in rounds),
        "bare_events_per_s": statistics.median(r["bare"]["events_per_s"] for r in rounds),
        "ratio": statistics.median(r["ratio"] for r in rounds),
        "serve": middle["serve"],
        "bare": middle["bare"],
        "rounds": rounds,
    }


def _scale_out(run: _Run, backend: str, batch: int, truth: Path) -> dict[str, Any]:
    """One serve replica, then two, each on a topic of two partitions of its own that is
    filled once the group is complete."""
    n = len(run.records)
    runs = [
        _served(
            run,
            backend,
            run.topic(f"events-2-{replicas}", partitions=2),
            n,
            batch,
            truth,
            replicas=replicas,
            produce_when_joined=True,
        )
        for replicas in (1, 2)
    ]
    return {
        "backend": backend,
        "partitions": 2,
        "cores": os.cpu_count(),
        "one_replica_events_per_s": runs[0]["events_per_s"],
        "two_replicas_events_per_s": runs[1]["events_per_s"],
        "ratio": runs[1]["events_per_s"] / runs[0]["events_per_s"],
        "one_replica": runs[0],
        "two_replicas": runs[1],
    }


def bench_deployed(
    settings: Settings,
    *,
    events: int = 100_000,
    stream: str = "synth:agrawal-drift",
    batch: int = 500,
    backends: Sequence[str] = ("kafka-python", "confluent"),
    scale_out: bool = False,
    repeats: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every side on ``events`` events; see the module docstring for what is measured.
    Each backend's bare loop and serve alternate ``repeats`` times (medians reported); the
    scale-out figure is measured once, on the last of ``backends``."""
    say = progress or (lambda message: None)
    report: dict[str, Any] = {
        "benchmark": "throughput-deployed",
        "stream": stream,
        "n_events": events,
        "batch": batch,
        "learner": settings.learner.model_dump(),
        "cores": os.cpu_count(),
        "repeats": repeats,
        "load_before": _load(),
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="stream-al-deployed-") as tmp:
        run = _Run(settings, Path(tmp))
        try:
            say(f"bench throughput --deployed: producing {events:,} events of {stream}")
            truth = _workload(run, stream, events, settings.learner.seed)
            for backend in backends:
                say(f"bench throughput --deployed: bare loop, then serve and worker, {backend}")
                report["backends"][backend] = _against_bare(run, backend, batch, truth, repeats)
            if scale_out:
                say(f"bench throughput --deployed: one replica, then two ({backends[-1]})")
                report["scale_out"] = _scale_out(run, backends[-1], batch, truth)
        except Exception as exc:
            kept = Path(tempfile.gettempdir()) / f"stream-al-deployed-{run.id}"
            shutil.copytree(tmp, kept, dirs_exist_ok=True)
            raise RuntimeError(f"{exc} (the processes' logs are kept in {kept})") from exc
        finally:
            run.cleanup()
    report["load_after"] = _load()
    return report
