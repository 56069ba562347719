"""``stream-al serve``: settings wired to Kafka, Redis, metrics and signals.

Start-up waits for Redis and Kafka with backoff (readiness stays false meanwhile),
restores the learner (this replica's checkpoint, else the newest any replica wrote, else a
fresh model, warm-started from ``STREAM_AL_SERVICE__WARM_START`` if set and checkpointed at
once), waits until its Kafka topics exist or the broker will create them
(:mod:`stream_al.service.topics`), replays the train log after it, and only then consumes
events. The first SIGTERM, SIGINT or SIGHUP finishes the current batch, commits, checkpoints and
exits 0; when Kafka or Redis keeps it from that for ``STREAM_AL_SERVICE__SHUTDOWN_SECONDS``
(or a topic it needs is missing), it says what is left, commits nothing of it and exits 1,
and whatever it waits on, the process ends :data:`~stream_al.config.SHUTDOWN_CLOSE_S`
later at most. A second signal exits at once (code 1). Before anything is written under
its replica id it takes the id's lease in Redis (:mod:`stream_al.service.replica_lease`:
a start waits for a crashed holder's lease to lapse and is refused, exit 2, while another
live process holds it); from then to its exit it writes what its ``/readyz`` answers to
Redis every few seconds, for ``stream-al status`` (:mod:`stream_al.service.replica_state`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from stream_al.config import MIN_CHECKPOINT_KEY_BYTES, SHUTDOWN_CLOSE_S, Settings
from stream_al.core.learner import ActiveLearner
from stream_al.data.histories import WarmStart, parse_warm_start, warm_up
from stream_al.errors import CheckpointError, ConfigurationError, ModelFileError
from stream_al.io.backends import KafkaBackend, kafka_backend
from stream_al.io.base import EventSource, Publisher
from stream_al.io.checkpoints import CheckpointDirectory, make_checkpoint
from stream_al.io.redis import RedisStore, store_for
from stream_al.runtime.backoff import RECOVERABLE, retrying
from stream_al.runtime.health import Health, HealthServer
from stream_al.runtime.logging import redacted_url
from stream_al.runtime.metrics import Metrics
from stream_al.runtime.signals import handling_signals
from stream_al.service.replica_lease import ReplicaLease
from stream_al.service.replica_state import SOCKET_TIMEOUT_S, ReplicaStateWriter
from stream_al.service.runner import Restored, Service, tune_gc
from stream_al.service.topics import TopicCheck, TopicWatch, serve_topics

__all__ = ["run_serve", "startup_summary"]

log = logging.getLogger("stream_al.serve")

T = TypeVar("T")


def startup_summary(settings: Settings) -> str:
    """What serve logs at start: where it connects and how it learns, without secrets."""
    kafka, redis = settings.kafka, settings.redis
    return (
        f"serve {settings.service.replica_id}: kafka {kafka.bootstrap_servers} "
        f"({kafka.security_protocol}, {kafka.backend}) topic {kafka.events_topic} group "
        f"{kafka.group_id}; redis {redacted_url(redis.url)} prefix {redis.prefix}; "
        f"{settings.learner.model_dump(exclude={'drift'})}"
    )


def _checkpoint_key(settings: Settings) -> bytes:
    if settings.checkpoint.key is None:
        raise ConfigurationError(
            "STREAM_AL_CHECKPOINT__KEY is not set: serve signs its checkpoints with it "
            "(any long random string, the same for every replica)"
        )
    return settings.checkpoint.key.get_secret_value().encode()


def _long_enough(key: bytes) -> None:
    if len(key) < MIN_CHECKPOINT_KEY_BYTES:
        raise ConfigurationError(
            f"STREAM_AL_CHECKPOINT__KEY is {len(key)} bytes long: serve needs at least "
            f"{MIN_CHECKPOINT_KEY_BYTES} (e.g. head -c 32 /dev/urandom | base64)"
        )


def _checkpoint_directory(settings: Settings) -> CheckpointDirectory | None:
    """The checkpoint directory, if one is set; a path with a file in it is refused (no
    remount mends it)."""
    path = settings.checkpoint.dir
    if path is None:
        return None
    # mkdir's own word for a file there, "File exists", named nothing to fix.
    not_a_directory = next(
        (p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None
    )
    if not_a_directory is not None:
        raise ConfigurationError(
            f"STREAM_AL_CHECKPOINT__DIR={path}: {not_a_directory} is a file, not a directory; "
            "name a directory (a mounted volume), or move the file away"
        )
    return CheckpointDirectory(path)


def _directory_writable(durable: CheckpointDirectory, replica: str) -> bool:
    """Make the checkpoint directory if missing, remove the temporary files a crash left,
    and say whether serve can write there now. Called once this process holds its replica
    id (its own replica's temporary files may be a live writer's otherwise).

    A directory serve cannot write (a read-only or full volume, one not its own) is served
    through as while serve runs: logged as an error, counted, and tried again at each
    checkpoint. Refused at start, it had a replica restart again and again, serving
    nothing, where a running one served on: Redis keeps the checkpoints meanwhile.
    """
    try:
        durable.path.mkdir(parents=True, exist_ok=True)
        # First: a crash's leftovers may be what fills the volume.
        durable.remove_stale_temporaries(replica)
        durable.check_writable()
    except OSError as exc:
        log.error(
            "STREAM_AL_CHECKPOINT__DIR=%s: serve cannot write there (%s); serving goes on "
            "with its checkpoints in Redis only, tried there again at each checkpoint and "
            "counted in stream_al_checkpoint_dir_failures_total until one is written: make "
            "the volume writable (or free space on it)",
            durable.path,
            exc.strerror or exc,
        )
        return False
    return True


def _health_server(settings: Settings, metrics: Metrics, health: Health) -> HealthServer | None:
    host, port = settings.metrics.host, settings.metrics.port
    if not port:
        return None
    try:
        server = HealthServer(metrics.registry, health, host, port).start()
    except OSError as exc:  # the port is taken, or the address is not this host's
        raise ConfigurationError(
            f"STREAM_AL_METRICS__PORT={port}: cannot listen on {host}:{port} "
            f"({exc.strerror or exc}; another process may hold the port, or set "
            "STREAM_AL_METRICS__HOST / __PORT)"
        ) from None
    log.info("metrics and health on http://%s:%d", host, server.port)
    return server


def _warm_start(settings: Settings) -> WarmStart | None:
    spec = settings.service.warm_start
    if not spec:
        return None
    try:
        return parse_warm_start(spec, settings.service.warm_start_target, ("csv", "topic", "model"))
    except ValueError as exc:
        raise ConfigurationError(f"STREAM_AL_SERVICE__WARM_START: {exc}") from None


class _Start:
    """serve's start-up: each step waits out Redis or Kafka (not ready meanwhile) and gives
    up only when a signal asks it to stop (None)."""

    def __init__(
        self,
        settings: Settings,
        key: bytes,
        health: Health,
        metrics: Metrics,
        durable: CheckpointDirectory | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.health = health
        self.metrics = metrics
        self.durable = durable
        # Set by stop(): the waits between attempts end with it, not after up to 10 s.
        self._stopped = threading.Event()
        self.service: Service | None = None
        self.check: TopicCheck | None = None  # the topic check, once it has passed

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()
        if self.service is not None:
            self.service.stop()

    def unfinished(self) -> str:
        """What stopping now leaves undone (for the signal's time limit)."""
        if self.service is None:
            return "serve was starting: nothing consumed yet"
        return self.service.unfinished()

    def waiting(self, reason: str) -> None:
        """Say why serve is not ready yet (``/readyz``, the replica's state); alive meanwhile."""
        self.health.set_ready(False, reason)
        self.health.beat()

    def wait(self, what: str, fn: Callable[[], T]) -> T | None:
        return retrying(
            what, fn, stopping=lambda: self.stopping, on_failure=self.waiting, sleep=self.pause
        )

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, less if a signal asks to stop meanwhile."""
        self._stopped.wait(seconds)

    def topics(self, backend: KafkaBackend, publish_predictions: bool) -> bool:
        """Wait until every topic serve needs exists or the broker will create it (see
        :mod:`stream_al.service.topics`); False if a signal asked to stop first."""
        kafka = self.settings.kafka
        catalog = self.wait("kafka", lambda: backend.make_topics(kafka))
        if catalog is None:
            return False
        needed = serve_topics(kafka, publish_predictions)
        check = TopicCheck(needed, kafka.bootstrap_servers, self.health, self.metrics)
        try:
            passed = check.wait(
                lambda: self.wait("kafka", catalog.describe), lambda: self.stopping, self.pause
            )
        finally:
            catalog.close()
        self.check = check if passed else None
        return passed

    def learner(self, store: RedisStore) -> Restored | None:
        """The restored (or fresh, maybe warm-started and checkpointed) learner, the
        train-log id it contains and where it came from."""
        settings, replica = self.settings, self.settings.service.replica_id
        warm = _warm_start(settings)
        warmed: list[str] = []

        def fresh() -> ActiveLearner:
            # Called only when no replica has checkpointed: a restart does not learn the
            # history twice (its checkpoint holds it).
            learner = settings.learner.spec().build(settings.learner.seed)
            if warm is not None:
                try:
                    warmed.append(warm_up(learner, warm, kafka=settings.kafka, key=self.key))
                except ValueError as exc:
                    raise ConfigurationError(f"warm start: {exc}") from None
            return learner

        def save_warm(learner: ActiveLearner) -> bool:
            checkpoint = make_checkpoint(learner, replica, None, self.key, time.time())
            store.save(checkpoint)
            if self.durable is not None:
                self.durable.save(checkpoint)
            return True

        restored = self.wait(
            "redis",
            lambda: Service.restore_learner(store, replica, self.key, fresh, self.durable),
        )
        if restored is None:
            return None
        if warm is not None and not warmed:  # given, yet passed over: said, not in silence
            log.info(
                "warm start %s not learned: the model comes from %s (a warm start is "
                "learned only before any replica has checkpointed; to start from it, give "
                "serve a STREAM_AL_REDIS__PREFIX of its own)",
                settings.service.warm_start,
                restored.origin,
            )
        # Checkpoint a warm model at once, so restarts and new replicas start from it.
        if warmed and self.wait("redis", lambda: save_warm(restored.learner)) is None:
            return None
        return restored._replace(origin=warmed[-1]) if warmed else restored


def _report_state_reset(origin: str, metrics: Metrics, health: Health) -> None:
    """Redis had no checkpoint, the checkpoint directory had: Redis lost its data (or is a
    new one); said once in the log, in /readyz and in the metric."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    health.note = (
        f"redis had no checkpoint at start ({when} UTC: it lost its data, or is new); "
        f"serve started from {origin}"
    )
    log.error("%s", health.note)
    metrics.state_resets.inc()


# Learner settings a restart applies to the restored learner: the budget follows each
# replica's own events, so replicas stay equal; the cap on feature names is what its log
# line tells one to raise, which must work on a model that has hit it. Any other (the
# model, the strategy, the drift reaction) is part of the learner a checkpoint holds.
_APPLIED_AT_RESTART = ("budget", "window", "unit")
_CAP = "max_model_features"


def _apply_changed_settings(learner: ActiveLearner, settings: Settings, origin: str) -> None:
    """A restored learner takes this start's budget settings and cap on feature names; any
    other learner setting that differs is named in a warning (the restored learner goes on
    with its own)."""
    if learner.spec is None:  # a fresh learner, or a checkpoint from before specs were kept
        return
    wanted = settings.learner.spec()
    try:
        changed = learner.spec.differences(wanted)
    except Exception as exc:  # a spec pickled by another version: lacks a field, say
        log.warning("the restored learner's settings cannot be compared with these: %s", exc)
        return
    budget = [c for c in changed if c.split(":", 1)[0] in _APPLIED_AT_RESTART]
    if budget:
        learner.rebudget(wanted.budget, wanted.window, wanted.unit)
        log.info("budget settings of this start applied (%s)", "; ".join(budget))
    cap = [c for c in changed if c.split(":", 1)[0] == _CAP]
    if cap:
        learner.cap_features(wanted.max_model_features)
        log.info(
            "%s of this start applied: the model learns at most %d feature names (it knows %d)",
            cap[0],
            learner.max_model_features,
            learner.n_features,
        )
    changed = [c for c in changed if c not in budget and c not in cap]
    if learner.seed != settings.learner.seed:
        changed.append(f"seed: {learner.seed} -> {settings.learner.seed}")
    if changed:
        log.warning(
            "the learner settings differ from those of the model restored from %s (%s): serve "
            "goes on with the restored learner and these settings of its own, as a checkpoint "
            'holds the learner whole; README, Troubleshooting: "Changed STREAM_AL_LEARNER__ '
            'settings"',
            origin,
            "; ".join(changed),
        )


def _close(source: EventSource, publisher: Publisher, finished: bool) -> None:
    """Close the Kafka clients, within :data:`~stream_al.config.SHUTDOWN_CLOSE_S`: after an
    unfinished shutdown the producer drops what it holds (its batch was not committed)."""
    for close in (source.close, lambda: publisher.close(timeout=2.0 if finished else 0.0)):
        try:
            close()
        except RECOVERABLE as exc:  # the broker away: nothing to say goodbye to
            log.warning("closing the kafka clients: %s", exc)


def run_serve(settings: Settings, publish_predictions: bool = True) -> int:
    """Run the service until a signal; returns the exit code."""
    key = _checkpoint_key(settings)
    _warm_start(settings)  # a bad spec is refused before anything connects
    _long_enough(key)
    durable = _checkpoint_directory(settings)
    backend = kafka_backend(settings.kafka)
    log.info("%s", startup_summary(settings))
    metrics, health = Metrics.create(), Health()
    replica = settings.service.replica_id
    start = _Start(settings, key, health, metrics, durable)
    limit = settings.service.shutdown_seconds + SHUTDOWN_CLOSE_S
    with handling_signals(start.stop, limit, start.unfinished), contextlib.ExitStack() as stack:
        server = _health_server(settings, metrics, health)
        if server is not None:
            stack.callback(server.stop)
        # On a connection of its own with a short timeout, never the loop's.
        states = store_for(settings, replica, socket_timeout=SOCKET_TIMEOUT_S)
        # Before anything is written under the replica id, even its state: another live
        # process with this id refuses this start (see service.replica_lease).
        lease = ReplicaLease(states, replica)
        held = start.wait(
            "redis",
            lambda: lease.acquire(start.pause, lambda: start.stopping, start.waiting),
        )
        if not held:
            return 0
        health.set_ready(False, "starting")  # no longer waiting for the lease
        stack.callback(lease.release)  # after the state's last word (the stack unwinds)
        writer = ReplicaStateWriter(states, replica, health, metrics, keep_lease=lease.keep)
        stack.callback(writer.start().stop)  # so a replica waiting for Kafka says so too
        if durable is not None and not _directory_writable(durable, replica):
            metrics.checkpoint_dir_failures.inc()  # as a checkpoint that failed there would be
        try:
            return _serve(start, backend, publish_predictions, lease.holder)
        except (CheckpointError, ModelFileError) as exc:
            raise ConfigurationError(str(exc)) from None
        except backend.fatal as exc:
            log.error("kafka: %s", exc)
            return 1


def _serve(start: _Start, backend: KafkaBackend, publish_predictions: bool, holder: str) -> int:
    """serve from its start-up to its exit code (see :func:`run_serve`), holding its replica
    id's lease as ``holder``."""
    settings, key, durable = start.settings, start.key, start.durable
    metrics, health = start.metrics, start.health
    store = store_for(settings, settings.service.replica_id)
    store.lease_holder = holder  # its checkpoints only while no other process holds the id
    if start.wait("redis", store.ensure_groups_ok) is None:
        return 0
    restored = start.learner(store)
    # Before the consumer subscribes: nothing is polled while a topic is missing.
    if restored is None or not start.topics(backend, publish_predictions):
        return 0
    assert start.check is not None
    topics = TopicWatch(start.check, lambda: backend.make_topics(settings.kafka))
    source = start.wait("kafka", lambda: backend.make_source(settings.kafka))
    publisher = start.wait("kafka", lambda: backend.make_publisher(settings.kafka))
    if source is None or publisher is None:
        return 0
    learner, after, origin, from_directory = restored
    if from_directory:
        _report_state_reset(origin, metrics, health)
    _apply_changed_settings(learner, settings, origin)
    metrics.model_info.labels(
        model=learner.model_name,
        strategy=learner.strategy_name,
        uncertainty=learner.uncertainty,
    ).set(1)
    metrics.model_features.set(learner.n_features)
    tune_gc()
    service = start.service = Service.from_settings(
        settings,
        learner,
        checkpoint_key=key,
        publish_predictions=publish_predictions,
        source=source,
        publisher=publisher,
        store=store,
        metrics=metrics,
        health=health,
        probe=source.unavailable,
        durable=durable,
        topics=topics,
    )
    # The loop's place in the train log is the restored learner's from now on: a signal
    # during start-up skips the replay, and the checkpoint the shutdown then writes must
    # still say which entries the learner holds (None made the next start learn the
    # whole log again).
    service.loop.last_applied = after
    if start.stopping:
        service.stop()
    # Each attempt goes on from the last entry learned: one that failed midway (Redis
    # away) and began again at ``after`` learned the entries before the failure twice.
    start.wait("redis", lambda: service.replay(service.loop.last_applied))
    log.info("model from %s, %s train-log entries replayed", origin, service.loop.applied)
    health.set_ready(True)
    finished = service.run()
    topics.close()
    _close(source, publisher, finished)
    if not finished:  # what was left is said in the log already
        log.error("stopped with work unfinished: exit code 1")
        return 1
    log.info("stopped cleanly: offsets committed, checkpoint written")
    return 0
