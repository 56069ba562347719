"""``stream-al serve`` and ``stream-al worker``: settings wired to Kafka, Redis, metrics and
signals.

Start-up waits for Redis and Kafka with backoff (readiness stays false meanwhile),
restores the learner (this replica's checkpoint, else the newest any replica wrote, else a
fresh model, warm-started from ``STREAM_AL_SERVICE__WARM_START`` if set and checkpointed at
once), replays the train log after it, and only then consumes events. The first
SIGTERM or SIGINT finishes the current batch, commits, checkpoints and exits 0; a second
one exits at once (code 1).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from kafka.errors import KafkaError

from stream_al.config import KafkaSettings, Settings
from stream_al.core.learner import ActiveLearner
from stream_al.data.histories import WarmStart, parse_warm_start, warm_up
from stream_al.io.checkpoints import CheckpointError, make_checkpoint
from stream_al.io.kafka import EventSource, Publisher
from stream_al.io.model_file import ModelFileError
from stream_al.io.redis import RedisStore, connect
from stream_al.labeling.worker import Oracle, Worker, make_oracle
from stream_al.runtime.health import Health, HealthServer
from stream_al.runtime.metrics import Metrics
from stream_al.service.loop import RECOVERABLE, Routing, Service, tune_gc
from stream_al.service.loop import EventSource as Source
from stream_al.service.loop import Publisher as Sink

__all__ = [
    "ConfigurationError",
    "KafkaBackend",
    "kafka_backend",
    "redacted_url",
    "rerun_until_done",
    "run_serve",
    "run_worker",
    "startup_summary",
    "store_for",
]

log = logging.getLogger("stream_al.service.serve")

T = TypeVar("T")


class ConfigurationError(Exception):
    """A setting that makes the command impossible (exit code 2)."""


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class KafkaBackend:
    """The Kafka client library serve runs on: how to make its event source and its
    publisher, and the errors after which serve cannot go on (it exits with code 1)."""

    name: str
    source: Callable[[KafkaSettings], Source]
    publisher: Callable[[KafkaSettings], Sink]
    fatal: tuple[type[Exception], ...]


def kafka_backend(settings: KafkaSettings) -> KafkaBackend:
    """The backend ``STREAM_AL_KAFKA__BACKEND`` names (confluent-kafka is imported only when
    chosen; missing, it is a configuration error)."""
    if settings.backend == "confluent":
        try:
            from stream_al.io import kafka_confluent
        except ModuleNotFoundError as exc:
            if exc.name != "confluent_kafka":
                raise
            raise ConfigurationError(
                "STREAM_AL_KAFKA__BACKEND=confluent needs confluent-kafka: "
                "pip install 'stream-al[fast]'"
            ) from None
        return KafkaBackend(
            "confluent",
            kafka_confluent.ConfluentEventSource,
            kafka_confluent.ConfluentPublisher,
            (KafkaError, kafka_confluent.ConfluentFatalError),
        )
    return KafkaBackend("kafka-python", EventSource, Publisher, (KafkaError,))


def _made(factory: Callable[[KafkaSettings], T], settings: KafkaSettings) -> T:
    try:
        return factory(settings)
    except ValueError as exc:  # settings the client library refuses
        raise ConfigurationError(f"kafka: {exc}") from None


def startup_summary(settings: Settings) -> str:
    """What serve logs at start: where it connects and how it learns, without secrets."""
    kafka, redis = settings.kafka, settings.redis
    return (
        f"serve {settings.service.replica_id}: kafka {kafka.bootstrap_servers} "
        f"({kafka.security_protocol}, {kafka.backend}) topic {kafka.events_topic} group "
        f"{kafka.group_id}; redis {redacted_url(redis.url)} prefix {redis.prefix}; "
        f"{settings.learner.model_dump(exclude={'drift'})}"
    )


def _retrying(
    what: str,
    fn: Callable[[], T],
    health: Health,
    stopping: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """``fn()``, retried with backoff while it fails recoverably; None if stopped first."""
    backoff = 0.2
    while not stopping():
        try:
            return fn()
        except RECOVERABLE as exc:
            health.set_ready(False, f"waiting for {what}: {exc}")
            health.beat()
            log.warning(
                "waiting for %s (%s: %s); retrying in %.1f s",
                what,
                type(exc).__name__,
                exc,
                backoff,
            )
            sleep(backoff)
            backoff = min(backoff * 2, 10.0)
    return None


def _install_signals(stop: Callable[[], None]) -> None:
    # SIGUSR1 prints every thread's stack to stderr: how to see where a live process is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    received = {"n": 0}

    def handler(signum: int, frame: FrameType | None) -> None:
        received["n"] += 1
        if received["n"] > 1:
            log.error("second signal: exiting at once")
            os._exit(1)
        log.info("signal %d: finishing the current batch, then exiting", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def rerun_until_done(run: Callable[[], T]) -> T:
    """``run()``, run again after each recoverable failure (Redis or Kafka away) with a
    backoff of up to 10 s: a worker's loop outlives a server restart."""
    backoff = 0.2
    while True:
        try:
            return run()
        except RECOVERABLE as exc:
            log.warning("redis: %s; retrying in %.1f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


def store_for(settings: Settings, consumer: str) -> RedisStore:
    """The deployment's Redis store as ``consumer`` (commands other than serve)."""
    return _store(settings, consumer, settings.service.label_claim_idle_seconds)


def _store(settings: Settings, consumer: str, claim_idle: float) -> RedisStore:
    r = settings.redis
    client = connect(
        r.url,
        password=r.password.get_secret_value() if r.password else None,
        socket_timeout=r.socket_timeout,
        ssl_ca_certs=r.ssl_ca_certs,
    )
    return RedisStore(
        client,
        prefix=r.prefix,
        consumer=consumer,
        label_ttl_seconds=r.label_ttl_seconds,
        claim_idle_seconds=claim_idle,
        audit_maxlen=settings.service.audit_maxlen,
        min_agreement=settings.service.min_agreement,
    )


def _warm_start(settings: Settings) -> WarmStart | None:
    spec = settings.service.warm_start
    if not spec:
        return None
    try:
        return parse_warm_start(spec, settings.service.warm_start_target, ("csv", "topic", "model"))
    except ValueError as exc:
        raise ConfigurationError(f"STREAM_AL_SERVICE__WARM_START: {exc}") from None


def run_serve(settings: Settings, publish_predictions: bool = True) -> int:
    """Run the service until a signal; returns the exit code."""
    if settings.checkpoint.key is None:
        raise ConfigurationError(
            "STREAM_AL_CHECKPOINT__KEY is not set: serve signs its checkpoints with it "
            "(any long random string, the same for every replica)"
        )
    key = settings.checkpoint.key.get_secret_value().encode()
    replica = settings.service.replica_id
    warm = _warm_start(settings)
    backend = kafka_backend(settings.kafka)
    log.info("%s", startup_summary(settings))
    metrics = Metrics.create()
    health = Health()
    server = None
    if settings.metrics.port:
        server = HealthServer(
            metrics.registry, health, settings.metrics.host, settings.metrics.port
        ).start()
        log.info("metrics and health on http://%s:%d", settings.metrics.host, server.port)
    stopping = {"flag": False}
    service: Service | None = None

    def stop() -> None:
        stopping["flag"] = True
        if service is not None:
            service.stop()

    _install_signals(stop)
    is_stopping = lambda: stopping["flag"]  # noqa: E731
    try:
        store = _store(settings, replica, settings.service.label_claim_idle_seconds)
        if _retrying("redis", store.ensure_groups_ok, health, is_stopping) is None:
            return 0
        spec = settings.learner.spec()
        warmed: list[str] = []

        def fresh() -> ActiveLearner:
            # Called only when no replica has checkpointed: a restart does not learn the
            # history twice (its checkpoint holds it).
            learner = spec.build(settings.learner.seed)
            if warm is not None:
                try:
                    warmed.append(warm_up(learner, warm, kafka=settings.kafka, key=key))
                except ValueError as exc:
                    raise ConfigurationError(f"warm start: {exc}") from None
            return learner

        def save_warm(learner: ActiveLearner) -> bool:
            store.save(make_checkpoint(learner, replica, None, key, time.time()))
            return True

        restored = _retrying(
            "redis",
            lambda: Service.restore_learner(store, replica, key, fresh),
            health,
            is_stopping,
        )
        if restored is None:
            return 0
        learner, after, origin = restored
        # Checkpoint a warm model at once, so restarts and new replicas start from it.
        if warmed and _retrying("redis", lambda: save_warm(learner), health, is_stopping) is None:
            return 0
        origin = warmed[-1] if warmed else origin
        metrics.model_info.labels(
            model=learner.model_name,
            strategy=learner.strategy_name,
            uncertainty=learner.uncertainty,
        ).set(1)
        source = _retrying(
            "kafka", lambda: _made(backend.source, settings.kafka), health, is_stopping
        )
        publisher = _retrying(
            "kafka", lambda: _made(backend.publisher, settings.kafka), health, is_stopping
        )
        if source is None or publisher is None:
            return 0
        tune_gc()
        service = Service(
            learner,
            replica=replica,
            source=source,
            publisher=publisher,
            store=store,
            metrics=metrics,
            health=health,
            checkpoint_key=key,
            every_labels=settings.checkpoint.every_labels,
            every_seconds=settings.checkpoint.every_seconds,
            trim_train_log=settings.checkpoint.trim_train_log,
            labels_per_loop=settings.service.labels_per_loop,
            max_queue_depth=settings.service.max_queue_depth,
            label_ttl=settings.redis.label_ttl_seconds,
            max_event_bytes=settings.service.max_event_bytes,
            publish_predictions=publish_predictions and bool(settings.kafka.predictions_topic),
            routing=Routing(
                expert_threshold=settings.service.expert_threshold,
                priority_threshold=settings.service.priority_threshold,
                crowd_votes=settings.service.crowd_votes,
                expert_votes=settings.service.expert_votes,
            ),
        )
        if stopping["flag"]:
            service.stop()
        replayed = _retrying("redis", lambda: service.replay(after), health, is_stopping)
        log.info("model from %s, %s train-log entries replayed", origin, replayed)
        health.set_ready(True)
        service.run()
        source.close()
        publisher.close()
        log.info("stopped cleanly: offsets committed, checkpoint written")
        return 0
    except (CheckpointError, ModelFileError) as exc:
        raise ConfigurationError(str(exc)) from None
    except backend.fatal as exc:
        log.error("kafka: %s", exc)
        return 1
    finally:
        if server is not None:
            server.stop()


def run_worker(
    settings: Settings, oracle_spec: str, max_items: int | None, idle_exit: float | None
) -> int:
    """Run a labeling worker until it quits, is stopped or runs out of work."""
    w = settings.worker
    store = _store(settings, w.name, w.claim_idle_seconds)
    oracle: Oracle
    try:
        if oracle_spec == "web":
            from stream_al.labeling.web import WebOracle

            if w.web_token is None:
                raise ValueError(
                    "the web oracle needs an access token: set STREAM_AL_WORKER__WEB_TOKEN"
                )
            oracle = WebOracle(
                w.web_token.get_secret_value(),
                host=w.web_host,
                port=w.web_port,
                undo_seconds=w.undo_seconds,
                depth=store.depth,
            )
            log.info("labeling page on http://%s:%d/?token=...", w.web_host, oracle.port)
        else:
            oracle = make_oracle(oracle_spec)
    except (ValueError, OSError) as exc:
        raise ConfigurationError(str(exc)) from None
    health = Health()
    worker = Worker(
        store,
        oracle,
        w.name,
        annotator=w.annotator or None,
        batch=1 if oracle.name in ("terminal", "web") else 50,
        tier=w.tier,
        stale_seconds=w.stale_seconds,
    )
    _install_signals(worker.stop)
    if _retrying("redis", store.ensure_groups_ok, health, worker.stopped) is None:
        return 0
    stats = rerun_until_done(lambda: worker.run(max_items=max_items, idle_exit=idle_exit))
    getattr(oracle, "close", lambda: None)()
    log.info("worker %s: %d labeled, %d skipped", w.name, stats.labeled, stats.skipped)
    return 0
