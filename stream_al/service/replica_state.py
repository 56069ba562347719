"""serve's word about itself in Redis, for ``stream-al status`` (docs/design.md, "Replica
states").

``/readyz`` answers for one replica, to whoever reaches its port; ``stream-al status`` read
only ``/metrics``, so during an outage it printed a healthy-looking line. Each replica now
writes what its ``/readyz`` would answer (ready or not, the reason, since when) to Redis
every :data:`EVERY_S` seconds, with a TTL of :data:`TTL_S`: ``status`` lists every replica,
and one whose state expired is silent (killed, hung, or cut off from Redis). A replica that
stops says so last, kept for :data:`FORGET_S`.

The writes come from a thread of their own, on a Redis connection of their own: the loop
never waits on them, and a write that fails is logged (once, until one succeeds again) and
counted (``stream_al_replica_state_failures_total``), never raised.

Examples
--------
>>> from stream_al.io.memory import MemoryStore
>>> from stream_al.runtime.health import Health
>>> from stream_al.runtime.metrics import Metrics
>>> store, health = MemoryStore(), Health()
>>> writer = ReplicaStateWriter(store, "r1", health, Metrics.create())
>>> writer.write()
True
>>> [seen] = store.replica_states()
>>> seen.replica, seen.state.ready, seen.state.reason
('r1', False, 'starting')

"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from stream_al.io.base import ReplicaState, ReplicaStates
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics

__all__ = ["EVERY_S", "FORGET_S", "SOCKET_TIMEOUT_S", "STOP_WAIT_S", "TTL_S", "ReplicaStateWriter"]

log = logging.getLogger("stream_al.serve")

EVERY_S = 2.0
"""Seconds between two writes of a replica's state."""

TTL_S = 10.0
"""Seconds a replica's state lives: five writes missed, and the replica is silent."""

FORGET_S = 24 * 3600.0
"""A replica silent this long leaves the list (a name a rollout left behind), and a stopped
replica's last word lives as long."""

SOCKET_TIMEOUT_S = 2.0
"""Seconds a write waits on Redis at most (the loop's own calls wait longer)."""

STOP_WAIT_S = 1.0
"""Seconds a stopping serve waits for its last word to be written (Redis away: not at all)."""


class ReplicaStateWriter:
    """Writes this replica's readiness to ``store`` every ``every`` seconds, from a daemon
    thread, until :meth:`stop` (see the module docstring).

    Parameters
    ----------
    store
        Where the states are kept (a Redis store of its own: its calls may wait on Redis).
    replica
        This replica's id.
    health
        The flags ``/readyz`` reads; the state is what it would answer now.
    metrics
        Counts the writes that failed.
    every, ttl
        Seconds between writes, and how long each lives.
    clock
        Wall-clock time (the state's ``since`` and ``at``).
    keep_lease
        Called before each write: keeps this process's lease on the replica id alive
        (:meth:`~stream_al.service.replica_lease.ReplicaLease.keep`); False, another
        process holds the id, and this one writes no more.

    """

    def __init__(
        self,
        store: ReplicaStates,
        replica: str,
        health: Health,
        metrics: Metrics,
        every: float = EVERY_S,
        ttl: float = TTL_S,
        clock: Callable[[], float] = time.time,
        keep_lease: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.replica = replica
        self.health = health
        self.metrics = metrics
        self.every = every
        self.ttl = ttl
        self.clock = clock
        self.keep_lease = keep_lease
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-state", daemon=True)
        self._said: tuple[bool, bool] | None = None  # (ready, stopped) last said
        self._since = 0.0
        self._failing = False

    def start(self) -> ReplicaStateWriter:
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Write that this replica stopped, waiting ``timeout`` seconds at most."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def write(self, stopped: bool = False) -> bool:
        """Write the state ``/readyz`` would answer now (or that the replica stopped); False
        when the store did not take it (logged once per run of failures, and counted)."""
        now = self.clock()
        ready, reason = (False, "stopped") if stopped else self.health.readiness()
        if self._said != (ready, stopped):
            self._said, self._since = (ready, stopped), now
        state = ReplicaState(ready, reason, self._since, now, stopped)
        try:
            self.store.put_replica_state(
                self.replica, state, FORGET_S if stopped else self.ttl, FORGET_S
            )
        except Exception as exc:  # anything: this thread must never end, nor reach the loop
            self.metrics.replica_state_failures.inc()
            if not self._failing:
                log.warning(
                    "this replica's state is not written to redis (stream-al status shows it "
                    "silent until it is): %s: %s",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
            return False
        if self._failing:
            log.info("this replica's state is written to redis again")
        self._failing = False
        return True

    def _run(self) -> None:
        # The lease first: a process whose id another holds now must not write its state.
        if not self.keep_lease():
            return
        self.write()
        while not self._stopped.wait(self.every):
            if not self.keep_lease():
                return
            self.write()
        if self.keep_lease():
            self.write(stopped=True)
