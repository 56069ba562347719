"""A stream-al deployment on the real servers for one test: its topics, its Redis keys,
and `serve`/`worker` processes started the way a user starts them (the CLI)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from stream_al.config import Settings, load_settings
from stream_al.data.produce import event_records
from stream_al.data.streams import parse_stream
from stream_al.io.backends import kafka_backend
from stream_al.io.redis import RedisStore, store_for
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.runner import Service

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
KEY = "integration-test-checkpoint-key"
# The Kafka client libraries serve runs on: `@pytest.mark.parametrize("backend", BACKENDS)`
# runs a test on each (the `deployment` fixture reads the `backend` fixture).
BACKENDS = ["kafka-python", "confluent"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], T], timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what or condition} ({last!r})"
    )


@dataclass
class Proc:
    """A running stream-al process and where its output goes."""

    popen: subprocess.Popen[bytes]
    log: Path
    metrics_port: int | None = None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        assert self.metrics_port is not None
        with urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        try:
            return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)
        except OSError:
            return -1.0

    def readyz(self) -> tuple[int | None, str]:
        """``/readyz``'s status and what it says (its reason when 503); None: no answer."""
        assert self.metrics_port is not None
        try:
            with urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=2) as r:
                return r.status, r.read().decode().strip()
        except HTTPError as exc:
            return exc.code, exc.read().decode().strip()
        except OSError as exc:
            return None, f"no answer: {exc}"

    def ready(self) -> bool:
        return self.readyz()[0] == 200

    def alive(self) -> bool:
        return self.popen.poll() is None

    def dump_stacks(self, timeout: float = 5.0) -> None:
        """Have a live process print every thread's stack into its log (SIGUSR1, see
        ``stream_al.runtime.signals``): where a stuck process is, for a failed test."""
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGUSR1)
        with contextlib.suppress(AssertionError):  # a report, not a check: print what there is
            wait_for(lambda: "most recent call first" in self.output(), timeout, what="stacks")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self, timeout: float = 10.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)


@dataclass
class Deployment:
    """Topics, Redis prefix and settings of one stream-al deployment."""

    bootstrap: str
    redis_url: str
    events_topic: str
    predictions_topic: str
    dead_letter_topic: str
    workdir: Path
    backend: str = "kafka-python"
    prefix: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:8]}")
    group: str = field(default_factory=lambda: f"g{uuid.uuid4().hex[:8]}")
    settings: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AL_")}
        env.update(
            {
                "STREAM_AL_KAFKA__BACKEND": self.backend,
                "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "STREAM_AL_KAFKA__EVENTS_TOPIC": self.events_topic,
                "STREAM_AL_KAFKA__PREDICTIONS_TOPIC": self.predictions_topic,
                "STREAM_AL_KAFKA__DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "STREAM_AL_KAFKA__GROUP_ID": self.group,
                "STREAM_AL_KAFKA__SESSION_TIMEOUT_MS": "6000",
                "STREAM_AL_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
                "STREAM_AL_KAFKA__POLL_TIMEOUT_MS": "100",
                "STREAM_AL_REDIS__URL": self.redis_url,
                "STREAM_AL_REDIS__PREFIX": self.prefix,
                "STREAM_AL_CHECKPOINT__KEY": KEY,
                "STREAM_AL_SERVICE__LABEL_CLAIM_IDLE_SECONDS": "5",
                "STREAM_AL_WORKER__CLAIM_IDLE_SECONDS": "5",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.settings)
        env.update(overrides)
        return env

    def _start(self, args: list[str], name: str, env: dict[str, str], port: int | None) -> Proc:
        log = self.workdir / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "stream_al.cli", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(popen, log, port)
        self.procs.append(proc)
        return proc

    def serve(self, replica: str = "r1", wait_ready: bool = True, **settings: str) -> Proc:
        port = free_port()
        env = self.env(
            STREAM_AL_METRICS__PORT=str(port), STREAM_AL_SERVICE__REPLICA_ID=replica, **settings
        )
        proc = self._start(["serve"], f"serve-{replica}", env, port)
        if wait_ready:
            wait_for(lambda: proc.ready() or not proc.alive(), 60, what="serve to be ready")
            assert proc.alive(), proc.output()
        return proc

    def loaded(self, **overrides: str) -> Settings:
        """The settings a process started by this deployment reads from its environment."""
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env(**overrides))
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def service(self, replica: str = "r1", **overrides: str) -> Service:
        """serve's loop in this process, on the real servers, for a test that steps through
        its turns (``service.turn()``) and interferes between them; close it with
        :func:`close_service`."""
        settings = self.loaded(STREAM_AL_SERVICE__REPLICA_ID=replica, **overrides)
        backend = kafka_backend(settings.kafka)
        store = store_for(settings, replica)
        store.ensure_groups()
        assert settings.checkpoint.key is not None
        return Service.from_settings(
            settings,
            settings.learner.spec().build(settings.learner.seed),
            checkpoint_key=settings.checkpoint.key.get_secret_value().encode(),
            source=backend.make_source(settings.kafka),
            publisher=backend.make_publisher(settings.kafka),
            store=store,
            metrics=Metrics.create(),
            health=Health(),
        )

    def worker(self, truth: Path, name: str = "w1", *args: str, **settings: str) -> Proc:
        env = self.env(STREAM_AL_WORKER__NAME=name, **settings)
        return self._start(
            ["worker", "--oracle", f"file:{truth}", *args], f"worker-{name}", env, None
        )

    def produce_stream(
        self, spec: str, limit: int, truth: Path | None = None, seed: int = 0
    ) -> list[str]:
        """Send ``limit`` events of ``spec``; returns their ids (and writes the truth)."""
        records = stream_records(spec, limit, truth, seed)
        self.produce_raw(records)
        return [i for i, _ in records]

    def produce_raw(
        self, messages: Iterable[tuple[str | None, str | bytes]], rate: float | None = None
    ) -> int:
        """Send ``(key, value)`` messages to the events topic, at most ``rate`` per second."""
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap, linger_ms=5, max_request_size=8_000_000
        )
        n, started = 0, time.monotonic()
        for key, value in messages:
            raw = value.encode() if isinstance(value, str) else value
            producer.send(self.events_topic, key=key.encode() if key else None, value=raw)
            n += 1
            if rate is not None and n % 50 == 0:
                time.sleep(max(0.0, started + n / rate - time.monotonic()))
        producer.flush()
        producer.close()
        return n

    def read_topic(self, topic: str) -> list[tuple[str | None, bytes]]:
        """Every message in ``topic`` so far, as ``(key, value)``."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            receive_message_max_bytes=64 * 1024 * 1024,
            # Its version check gave up after 2 s on a loaded CI machine (NoBrokersAvailable).
            api_version_auto_timeout_ms=20_000,
        )
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            out: list[tuple[str | None, bytes]] = []
            deadline = time.monotonic() + 30
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                for records in consumer.poll(timeout_ms=500).values():
                    out.extend((r.key.decode() if r.key else None, r.value) for r in records)
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not read {topic} to its end")
            return out
        finally:
            consumer.close()

    def predictions(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.read_topic(self.predictions_topic)]

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.read_topic(self.dead_letter_topic)]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def store(self) -> RedisStore:
        return RedisStore(self.redis(), prefix=self.prefix, consumer="inspector")

    def wait_until_settled(self, ids: list[str], timeout: float = 180.0) -> None:
        """Every event in ``ids`` predicted, every queued item labeled and joined."""
        wanted = set(ids)
        wait_for(
            lambda: wanted <= {p["id"] for p in self.predictions()},
            timeout,
            interval=1.0,
            what="a prediction for every event",
        )
        store = self.store()
        wait_for(
            lambda: store.queue_depth() == 0 and store.pending_count() == 0,
            timeout,
            what="every queued item labeled",
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.kill()


def close_service(service: Service) -> None:
    """Stop an in-process service's Kafka clients (nothing is committed or checkpointed)."""
    service.source.close()
    service.publisher.close()


def stream_records(
    spec: str, limit: int, truth: Path | None = None, seed: int = 0
) -> list[tuple[str, str]]:
    """``(id, event JSON)`` of ``limit`` events of ``spec`` (the truth written if asked),
    for a test that sends them in parts with :meth:`Deployment.produce_raw`."""
    records = list(event_records(parse_stream(spec, n_events=limit).events(seed)))
    if truth is not None:
        lines = ["id,label"] + [f"{i},{label}" for i, _, label in records]
        truth.write_text("\n".join(lines) + "\n")
    return [(i, value) for i, value, _ in records]


def spare_db_url(url: str, db: int = 15) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))
