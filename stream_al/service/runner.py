"""``stream-al serve``'s runner: the label loop on Kafka and Redis, with checkpoints, metrics,
health, reconnects with backoff and a clean shutdown (docs/design.md, "The serve loop")."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from stream_al.config import Settings
from stream_al.core.learner import ActiveLearner
from stream_al.core.routing import Routing
from stream_al.errors import BrokerUnavailable, StoreReset, StoreRolledBack
from stream_al.io.base import (
    DurableCheckpoints,
    EventSource,
    Publisher,
    ServiceStore,
    Unreadable,
    newest_of,
)
from stream_al.io.checkpoints import make_checkpoint, restore_checkpoint
from stream_al.runtime.backoff import RECOVERABLE, Backoff
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.loop import Action, LabelLoop
from stream_al.service.topics import Recreated, TopicWatch

__all__ = ["GC_THRESHOLDS", "Restored", "Service", "checkpoint_due", "tune_gc"]

log = logging.getLogger("stream_al.service")


# Young-generation collections every 20,000 allocations instead of 700: each one walks
# the objects a batch allocates (JSON, Kafka messages), and a Hoeffding tree's prediction
# runs ~20% faster without them (measured in the serve benchmark); garbage in cycles is
# still collected, a little later.
GC_THRESHOLDS = (20_000, 10, 10)

REWIND_WAIT_S = 30.0
"""Seconds a rewind for a recreated events topic waits for this replica to hold some of its
partitions (a rebalance in progress leaves it none for a moment) before it is dropped: a
replica that holds none has nothing to rewind."""


def tune_gc() -> None:
    """Set the collector's thresholds for the serve loop (:data:`GC_THRESHOLDS`)."""
    gc.set_threshold(*GC_THRESHOLDS)


def checkpoint_due(
    applied_since: int, seconds_since: float, every_labels: int, every_seconds: float
) -> bool:
    """A checkpoint is due after ``every_labels`` new labels, or after ``every_seconds``
    when at least one label was learned since the last one."""
    return applied_since >= every_labels or (applied_since > 0 and seconds_since >= every_seconds)


class Restored(NamedTuple):
    """The learner serve starts with, the train-log id it contains, where it came from, and
    whether it came from the checkpoint directory because Redis had no checkpoint (Redis
    lost its data, or is new)."""

    learner: ActiveLearner
    train_log_id: str | None
    origin: str
    from_directory: bool = False


class Service:
    """``stream-al serve``: the loop of docs/design.md ("The serve loop") on Kafka and Redis.

    One turn: join the waiting labels and learn the new train-log entries; then poll a
    batch -> decide -> Redis writes, predictions, dead letters -> flush the producer ->
    commit the offsets; then checkpoint when due. A failure (Redis or Kafka away, a send
    the broker did not acknowledge) is retried with backoff from where the turn stopped: a
    polled batch is decided and completed before the next poll, never dropped and never
    decided twice, and offsets are committed only after its side effects are durable.

    Readiness is false while a failure is being retried, and while ``probe()`` (the
    event source's view of its broker connections) names a reason. A Redis that comes
    back without its data (:class:`~stream_al.errors.StoreReset`) is survived: the groups
    are recreated by the store, and the learner restarts from the newest checkpoint in
    Redis or in ``durable`` (the checkpoint directory), else keeps the model it holds.

    A Kafka failure, or a flush that waits, looks at the topics (``topics``, only while
    the broker answers): while one serve needs is missing for good (deleted, on a broker
    that does not create topics), serve is unready naming it, holds the batch in hand and
    looks again every few seconds, going on once it exists. Between turns it looks every
    half minute: an events topic found under a new id (deleted and created again) is
    consumed from its beginning on the partitions held (:meth:`_rewind`).

    :meth:`stop` (the first SIGTERM, SIGINT or SIGHUP) lets the current turn finish, then commits,
    checkpoints and returns, trying for ``shutdown_seconds`` from the signal at most (no
    longer than that once a topic is missing): what is left then is logged, and its
    offsets are not committed, so it is consumed again.
    """

    def __init__(
        self,
        learner: ActiveLearner,
        *,
        replica: str,
        source: EventSource,
        publisher: Publisher,
        store: ServiceStore,
        metrics: Metrics,
        health: Health,
        checkpoint_key: bytes,
        every_labels: int = 1000,
        every_seconds: float = 60.0,
        trim_train_log: bool = True,
        labels_kept_seconds: float = 24 * 3600.0,
        labels_per_loop: int = 500,
        label_claim_idle_seconds: float = 60.0,
        max_queue_depth: int = 10_000,
        label_ttl: float = 7 * 24 * 3600.0,
        max_event_bytes: int = 65_536,
        max_features: int = 1_000,
        publish_predictions: bool = True,
        clock: Callable[[], float] = time.time,
        routing: Routing | None = None,
        probe: Callable[[], str | None] | None = None,
        durable: DurableCheckpoints | None = None,
        topics: TopicWatch | None = None,
        shutdown_seconds: float = 10.0,
    ):
        self.replica = replica
        self.source = source
        self.publisher = publisher
        self.store = store
        self.metrics = metrics
        self.health = health
        self.checkpoint_key = checkpoint_key
        self.every_labels = every_labels
        self.every_seconds = every_seconds
        self.trim_train_log = trim_train_log
        self.labels_kept_seconds = labels_kept_seconds
        self.labels_per_loop = labels_per_loop
        self.clock = clock
        self.probe = probe
        self.durable = durable
        self.topics = topics
        self.shutdown_seconds = shutdown_seconds
        self.loop = LabelLoop(
            learner,
            store=store,
            dead_letters=publisher,
            predictions=publisher.prediction if publish_predictions else None,
            metrics=metrics,
            max_queue_depth=max_queue_depth,
            label_ttl=label_ttl,
            max_event_bytes=max_event_bytes,
            max_features=max_features,
            clock=clock,
            routing=routing,
            # Retried while no other replica can take them over, and the store keeps the
            # answers of their joins (LabelStore.join).
            hold_labels_seconds=label_claim_idle_seconds / 2,
        )
        self._polled: list[tuple[str, bytes | Unreadable]] | None = None  # not decided yet
        self._batch: list[Action] | None = None  # decided, not completed yet
        self._reset: StoreReset | None = None  # Redis lost its data: restart the learner
        # Set by stop(): a backoff or a wait for topics ends with it, not after its time.
        self._stopped = threading.Event()
        self._stop_by: float | None = None  # monotonic time the shutdown gives up at
        self._checkpointed = False  # the shutdown's checkpoint is written
        self._applied_at_checkpoint = 0
        self._checkpoint_time = time.monotonic()
        self._gauges_time = 0.0
        self._lag_partitions: set[str] = set()
        self._rewind_since: float | None = None  # when a rewind first found nothing assigned

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        learner: ActiveLearner,
        *,
        checkpoint_key: bytes,
        publish_predictions: bool = True,
        **parts: Any,
    ) -> Service:
        """The service ``settings`` describe, on ``parts`` (``source``, ``publisher``,
        ``store``, ``metrics``, ``health``); the replica id is the setting's."""
        service, checkpoint = settings.service, settings.checkpoint
        return cls(
            learner,
            replica=service.replica_id,
            checkpoint_key=checkpoint_key,
            every_labels=checkpoint.every_labels,
            every_seconds=checkpoint.every_seconds,
            trim_train_log=checkpoint.trim_train_log,
            labels_kept_seconds=settings.redis.labels_kept_seconds,
            labels_per_loop=service.labels_per_loop,
            label_claim_idle_seconds=service.label_claim_idle_seconds,
            max_queue_depth=service.max_queue_depth,
            label_ttl=settings.redis.label_ttl_seconds,
            max_event_bytes=service.max_event_bytes,
            max_features=service.max_features,
            publish_predictions=publish_predictions and bool(settings.kafka.predictions_topic),
            routing=service.routing(),
            shutdown_seconds=service.shutdown_seconds,
            **parts,
        )

    # -- start -------------------------------------------------------------------------

    @classmethod
    def restore_learner(
        cls,
        store: ServiceStore,
        replica: str,
        key: bytes,
        fresh: Callable[[], ActiveLearner],
        durable: DurableCheckpoints | None = None,
    ) -> Restored:
        """This replica's checkpoint, else the newest of any replica, else (Redis has none)
        the newest in ``durable``, else a fresh learner.

        A checkpoint with a bad signature raises :class:`CheckpointError`.
        """
        own = store.load(replica)
        if own is not None:
            return Restored(
                restore_checkpoint(own, key), own.train_log_id, f"checkpoint of {replica}"
            )
        newest = store.newest()
        if newest is not None:
            learner = restore_checkpoint(newest, key)
            return Restored(learner, newest.train_log_id, f"newest checkpoint ({newest.replica})")
        kept = durable.newest() if durable is not None else None
        if kept is not None:
            learner = restore_checkpoint(kept, key)
            where = f"the newest checkpoint in the checkpoint directory ({kept.replica})"
            return Restored(learner, kept.train_log_id, where, from_directory=True)
        return Restored(fresh(), None, "a fresh model")

    def replay(self, after: str | None) -> int:
        """Learn the whole train log after ``after``; returns how many entries."""
        return self.loop.replay(after, progress=self.health.beat)  # progress, not a stall

    # -- the loop ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the work in hand; it is given up ``shutdown_seconds`` from the first
        call (:meth:`shutdown`)."""
        if self._stop_by is None:
            self._stop_by = time.monotonic() + self.shutdown_seconds
        self._stopped.set()

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def turn(self) -> None:
        """One turn of the loop (see the class docstring); raises on I/O failure."""
        started = time.perf_counter()
        if self._reset is not None:
            self._restart_learner()
        if self._batch:  # a batch a failure interrupted: complete it before anything else
            self._complete()
        if self._polled is not None:  # polled, then a failure before its decisions
            self._decide()
            self._complete()
        if self.topics is not None and self.topics.recreated is not None:
            self._rewind(self.topics.recreated)  # every event polled is committed by now
        # Labels before events: a label waits at most for the turn in progress, not for
        # that turn and a whole batch of events after it.
        step = self.health.step
        step("on Redis: reading labels")
        self.loop.process_labels(self.labels_per_loop)
        step("on Redis: reading the train log")
        self.loop.apply_train_log(self.labels_per_loop * 2)
        step("on Kafka: polling events")
        self._polled = self.source.poll()
        step("on Redis: deciding the batch")
        self._decide()
        self._complete()
        step("on Redis: checkpointing")
        self.maybe_checkpoint()
        now = time.monotonic()
        if now - self._gauges_time >= 1.0:
            self._gauges_time = now
            step("on Redis and Kafka: reading the queue depth and the lag")
            self.loop.update_gauges()
            self._update_lag()
        self.metrics.batch_duration.observe(time.perf_counter() - started)
        self.health.beat()

    def _rewind(self, recreated: Recreated) -> None:
        """The events topic was deleted and created again: the positions the consumer holds
        are the old topic's, valid offsets in the new one, so the events before them would
        be skipped. The partitions held are consumed from the new topic's beginning
        instead (what of it was consumed already is predicted again: at-least-once)."""
        assert self.topics is not None
        partitions = self.source.rewind()
        now = time.monotonic()
        if not partitions:
            self._rewind_since = self._rewind_since or now
            if now - self._rewind_since < REWIND_WAIT_S:
                return  # a rebalance in progress, say: the next turn tries again
        self.topics.recreated, self._rewind_since = None, None
        what = (
            f"serve consumes its partitions {', '.join(partitions)} again from the new "
            "topic's beginning (events of it consumed already are predicted again)"
            if partitions
            else "this replica holds none of its partitions: nothing to consume again"
        )
        log.warning(
            "kafka topic %s was recreated (topic id %s, now %s): %s",
            recreated.topic,
            recreated.old_id,
            recreated.new_id,
            what,
        )

    def _decide(self) -> None:
        # Kept until decided: a failure here (the store's queue depth) leaves the polled
        # batch for the next turn, which decides it before it polls again.
        if self._polled is not None:
            self._batch = self.loop.decide_batch(self._polled)
            self._polled = None

    def _complete(self) -> None:
        if self._batch:
            self.health.step("on Redis and Kafka: queueing questions, sending predictions")
            self.loop.complete_batch(self._batch)
            self.health.step("on Kafka: flushing predictions")
            self.publisher.flush(give_up=self._give_up_waiting)
            self.health.step("on Kafka: committing offsets")
            self.source.commit()
        self._batch = None

    def _give_up_waiting(self) -> bool:
        """Asked while a flush waits on the broker: stop waiting once the shutdown's time
        is out, or a topic the sends need is missing (the loop then waits for it)."""
        return self._out_of_time() or self._topic_missing() is not None

    def _out_of_time(self) -> bool:
        return self._stop_by is not None and time.monotonic() >= self._stop_by

    def _topic_missing(self) -> str | None:
        """Why serve cannot go on, when a topic it needs is missing for good (the watch
        has told /readyz and the log); None otherwise. Looked at only while the broker
        answers: with Kafka away, that is the reason."""
        if self.topics is None or (self.probe is not None and self.probe() is not None):
            return None
        return self.topics.missing()

    def _update_lag(self) -> None:
        lags = {str(p): lag for p, lag in self.source.lag().items()}
        gauge = self.metrics.consumer_lag
        for partition in self._lag_partitions - lags.keys():
            gauge.remove(partition)  # revoked in a rebalance: no longer ours to report
        for partition, lag in lags.items():
            gauge.labels(partition=partition).set(lag)
        self._lag_partitions = set(lags)
        self.metrics.partitions_stalled.set(self.source.stalled())

    def maybe_checkpoint(self, force: bool = False) -> bool:
        applied_since = self.loop.applied - self._applied_at_checkpoint
        seconds_since = time.monotonic() - self._checkpoint_time
        if not force and not checkpoint_due(
            applied_since, seconds_since, self.every_labels, self.every_seconds
        ):
            return False
        now = self.clock()
        checkpoint = make_checkpoint(
            self.loop.learner, self.replica, self.loop.last_applied, self.checkpoint_key, now
        )
        self.store.save(checkpoint)
        if self.durable is not None:
            try:
                self.durable.save(checkpoint)
            except OSError as exc:  # Redis has it: serving goes on, the operator is told
                log.error("checkpoint not written to the checkpoint directory: %s", exc)
                self.metrics.checkpoint_dir_failures.inc()
        if self.trim_train_log:
            self.store.trim_train_log()
        self.store.trim_labels(self.labels_kept_seconds)
        self._applied_at_checkpoint = self.loop.applied
        self._checkpoint_time = time.monotonic()
        self.metrics.last_checkpoint.set(now)
        return True

    def run(self, sleep: Callable[[float], None] | None = None) -> bool:
        """Turn until :meth:`stop`, retrying failures with backoff (waiting while a topic is
        missing); then shut down. True when the shutdown finished everything."""
        pause = sleep or self._pause
        backoff = Backoff(initial=0.1)
        while not self.stopping:
            try:
                self.turn()
            except StoreReset as exc:
                self._state_lost(exc)
            except RECOVERABLE as exc:
                if self.stopping:  # the shutdown retries, within its time limit
                    break
                if isinstance(exc, BrokerUnavailable) and self._topic_missing() is not None:
                    self._wait_for_topics(pause)
                    continue
                delay = backoff.next()
                self.health.set_ready(False, f"{type(exc).__name__}: {exc}")
                self.health.beat()
                log.warning("%s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                pause(delay)
            else:
                problem = self.probe() if self.probe is not None else None
                # The loop looks at its topics now and then, idle or busy: a deleted events
                # topic fails no call, and one created again is consumed from the old
                # positions unless a look sees its new id (TopicWatch.recreated).
                topics = self.topics
                if problem is None and topics:
                    problem = topics.missing(between_turns=True)
                if problem is not None:
                    self.health.set_ready(False, problem)
                elif not self.health.ready:
                    self.health.set_ready(True)
                backoff.reset()
        return self.shutdown(sleep or time.sleep)

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until :meth:`stop`: a signal does not wait out a backoff."""
        self._stopped.wait(seconds)

    def _wait_for_topics(self, pause: Callable[[float], None]) -> None:
        """A topic serve needs is missing: the batch in hand waits (nothing more is polled)
        while the watch looks again every few seconds, until the topic exists, the broker
        stops answering (the next turn's failure says so) or :meth:`stop`."""
        assert self.topics is not None
        while not self.stopping:
            pause(self.topics.recheck_s)
            if self._topic_missing() is None:
                return

    def _state_lost(self, exc: StoreReset) -> None:
        """Redis lost its data: not ready, counted; the next turn restarts the learner."""
        self.metrics.state_resets.inc()
        self.health.set_ready(False, f"redis lost its data, restarting the learner: {exc}")
        self._reset = exc

    def _restart_learner(self) -> None:
        """The newest checkpoint in Redis or the checkpoint directory (else the model held),
        said in one error line, in /readyz's note, and checkpointed at once."""
        in_redis = self.store.newest()
        # Redis gone back to older data: its checkpoint matches its train log, and one in
        # the directory that is newer holds labels the log lost (replicas would differ).
        rolled_back = isinstance(self._reset, StoreRolledBack) and in_redis is not None
        found = newest_of(
            in_redis,
            self.durable.newest() if self.durable is not None and not rolled_back else None,
        )
        if found is not None:
            self.loop.learner = restore_checkpoint(found, self.checkpoint_key)
            self.loop.last_applied = found.train_log_id
            origin = f"the checkpoint of {found.replica} (train log {found.train_log_id})"
        else:
            origin = "the model it held (no checkpoint in Redis or a checkpoint directory)"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock()))
        self.health.note = f"redis lost its data at {when} UTC; serve restarted from {origin}"
        log.error(  # the reset's own words say what Redis lost (all, or a recent part)
            "%s; the items queued or pending, the labels not joined yet and the train "
            "log entries it lost are gone; serve restarted from %s",
            self._reset,
            origin,
        )
        self._reset = None
        self.loop.forget_labels()  # read from the stream Redis lost
        self.maybe_checkpoint(force=True)  # so a replica starting now starts from it

    def shutdown(self, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Finish the batch in hand, commit, checkpoint, retrying until ``shutdown_seconds``
        after :meth:`stop` (or now); True when done. Else (out of time, or a topic it
        needs is missing: nothing to wait for) say what is left and return False: the
        offsets of the events in hand are not committed, so they are consumed again, and
        no checkpoint is written. A checkpoint follows a commit: the learner it holds has
        decided no event that is consumed again (one written with the batch in hand
        held its events and charges, and deciding them again at the next start counted
        each event twice and charged each of its questions twice)."""
        if self._stop_by is None:
            self._stop_by = time.monotonic() + self.shutdown_seconds
        backoff = Backoff(initial=0.2, factor=1.0, maximum=0.2)  # a steady pace to the deadline
        while True:
            try:
                self._decide()
                self._complete()
                self.maybe_checkpoint(force=True)
                self._checkpointed = True
                return True
            except RECOVERABLE as exc:
                if self._give_up_waiting():
                    # No checkpoint either, though Redis may answer: the learner decided the
                    # batch in hand, which the next start decides again (counted twice).
                    missing = None if self._out_of_time() else self._topic_missing()
                    log.error(
                        "stopping with work unfinished %.0f s after the signal (%s): %s",
                        self.shutdown_seconds - (self._stop_by - time.monotonic()),
                        missing or f"{type(exc).__name__}: {exc}",
                        self.unfinished(),
                    )
                    return False
                sleep(backoff.next())

    def unfinished(self) -> str:
        """What stopping now leaves undone, for the log (the signal's time limit reads it
        from another thread: a few attributes, no lock needed)."""
        held = len(self._polled or ()) + len(self._batch or ())
        left = []
        if held:
            left.append(
                f"{held} events polled are not committed: serve (this replica or another) "
                "consumes them again at its next start, and predicts again those already "
                "predicted"
            )
        if not self._checkpointed:
            left.append(
                "the checkpoint is not written: the next start learns the train log after "
                "the last one"
            )
        return "; ".join(left) or "nothing"
