"""One live serve process per replica id (docs/design.md, "One process per replica id").

A replica id names a checkpoint (in Redis and in the checkpoint directory), a consumer in
the label stream's group and the state ``stream-al status`` shows. Two processes started
with one id ran side by side without a word: each start deleted the other's checkpoint
being written, ``status`` showed one replica flipping between their two states, and each
overwrote the other's checkpoint. So serve holds a lease on its id in Redis: a random
token set only where none is (:meth:`~stream_al.io.base.ReplicaLeases.take_lease`), with
a TTL of :data:`TTL_S`, kept alive every few seconds by the thread that writes the
replica's state, and deleted at a clean stop.

A start that finds the id held waits for the lease to lapse: a holder killed without a
word (``kill -9``, a node lost) leaves a lease that lapses within :data:`TTL_S`, so a
restart waits that long at most. A lease kept alive meanwhile has a live holder: the
start is refused (:class:`~stream_al.errors.ConfigurationError`, exit 2). A running
process that finds its lease held by another (it was paused, or cut off from Redis, for
longer than the TTL, and a process with its id started meanwhile) exits at once, code 2,
writing nothing more: the other process holds the id now. Its checkpoint in Redis is
written only while the lease is its own or nobody's
(:attr:`~stream_al.io.redis.RedisStore.lease_holder`), so a checkpoint due the moment it
resumes does not overwrite the new holder's before the state thread looks.

Examples
--------
>>> from stream_al.io.memory import MemoryStore
>>> store = MemoryStore()
>>> first = ReplicaLease(store, "r1")
>>> first.acquire(pause=lambda s: None, stopping=lambda: False)
True
>>> first.keep()
True
>>> store.take_lease("r1", "someone else", 10.0).holder == first.holder
True
>>> first.release()
>>> store.take_lease("r1", "someone else", 10.0)
'taken'

"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from stream_al.errors import ConfigurationError
from stream_al.io.base import LeaseHolder, ReplicaLeases, lease_holder_name, lease_token
from stream_al.runtime.signals import exit_at_once

__all__ = ["CHECK_EVERY_S", "TTL_S", "ReplicaLease", "lease_lost"]

log = logging.getLogger("stream_al.serve")

TTL_S = 10.0
"""Seconds a lease lives unless kept alive: the replica's state thread keeps it every 2 s,
so five writes missed in a row (Redis away, the process paused) let it lapse. A restart
after ``kill -9`` waits this long at most."""

CHECK_EVERY_S = 1.0
"""How often a start that waits for a lease looks at it again."""

KEPT_ALIVE_SLACK_S = 1.0
"""A lease found to lapse later than it did at the first look, by more than this (the time
of a round trip to Redis), was kept alive by its holder meanwhile. The first look, not the
last: a holder that kept its lease as often as the start looks would move its lapse by
that much between two looks, and never be seen."""


def lease_lost(message: str) -> None:
    """What a running serve does when another process holds its id: says so and exits at
    once, code 2, so that nothing more is written under the id (no commit, no checkpoint:
    its uncommitted events are consumed again by the group, its labels are the id's)."""
    log.error("%s", message)
    exit_at_once(2)


class ReplicaLease:
    """This process's lease on its replica id (see the module docstring).

    Parameters
    ----------
    store
        Where the leases are kept (a Redis store with a short socket timeout).
    replica
        The replica id (``STREAM_AL_SERVICE__REPLICA_ID``).
    ttl
        Seconds the lease lives unless kept alive (:data:`TTL_S`).
    on_lost
        Called with the error when another process holds the lease (:func:`lease_lost`).
    clock
        Monotonic seconds (how long a start waited, when a lease lapses).

    """

    def __init__(
        self,
        store: ReplicaLeases,
        replica: str,
        ttl: float = TTL_S,
        on_lost: Callable[[str], None] = lease_lost,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.replica = replica
        self.ttl = ttl
        self.on_lost = on_lost
        self.clock = clock
        self.holder = lease_token()
        self._waiting: tuple[str, float] | None = None  # (holder, when it lapses)
        self._started = 0.0
        self._released = False

    def acquire(
        self,
        pause: Callable[[float], None],
        stopping: Callable[[], bool],
        on_wait: Callable[[str], None] = lambda reason: None,
    ) -> bool:
        """Take the lease, waiting (``pause``) while a holder that keeps it alive no longer
        lets it lapse; False if ``stopping()`` said so first. A
        :class:`~stream_al.errors.ConfigurationError` when the holder keeps it alive.
        Called again after a Redis error (the caller retries), it goes on waiting for the
        same lapse."""
        while not stopping():
            found = self.store.take_lease(self.replica, self.holder, self.ttl)
            if not isinstance(found, LeaseHolder):
                if self._waiting is not None:
                    log.info(
                        "the lease on replica id %r lapsed after %.1f s: this process holds it",
                        self.replica,
                        self.clock() - self._started,
                    )
                return True
            reason = self._still_lapsing(found)
            on_wait(reason)
            pause(min(CHECK_EVERY_S, max(found.seconds_left, 0.05)))
        return False

    def _still_lapsing(self, found: LeaseHolder) -> str:
        """What the start waits for; raises when ``found`` was kept alive since the first look
        (another holder, or a later lapse): a live process holds the id."""
        now, who = self.clock(), lease_holder_name(found.holder)
        lapses = now + found.seconds_left
        if self._waiting is None:
            self._waiting, self._started = (found.holder, lapses), now
            log.warning(
                "replica id %r is held by %s for %.1f s more: waiting for its lease to "
                "lapse (a process killed without a word leaves one; a live process keeps it "
                "alive, and this start is then refused)",
                self.replica,
                who,
                found.seconds_left,
            )
        holder, first_lapse = self._waiting
        if found.holder != holder or lapses > first_lapse + KEPT_ALIVE_SLACK_S:
            raise ConfigurationError(
                f"STREAM_AL_SERVICE__REPLICA_ID={self.replica}: another live serve process "
                f"holds this replica id ({who} keeps its lease in redis alive); two "
                "processes with one id overwrite each other's checkpoint and state and share "
                "one consumer of the labels: give each process its own "
                "STREAM_AL_SERVICE__REPLICA_ID (on Kubernetes a StatefulSet's pod name), or "
                "stop the other"
            )
        return (
            f"waiting for the lease on replica id {self.replica!r} to lapse (held by "
            f"{who}, {found.seconds_left:.1f} s more)"
        )

    def keep(self) -> bool:
        """Keep the lease alive (the state thread calls it before each write): True while
        this process holds it, also when Redis does not answer (the write says so, and the
        lease is taken again if it lapsed meanwhile and is free); False once another
        process holds it, after :attr:`on_lost`; False, and nothing asked, once released
        (a state thread's last write that outlived its stop's wait must not take again the
        lease the exit deleted)."""
        if self._released:
            return False
        try:
            found = self.store.take_lease(self.replica, self.holder, self.ttl)
        except Exception:  # Redis away: the state's write that follows logs and counts it
            return True
        if found == "taken":
            log.warning(
                "the lease on replica id %r had lapsed (redis away or this process paused "
                "for %g s or more) and no other process took it: held again",
                self.replica,
                self.ttl,
            )
        if not isinstance(found, LeaseHolder):
            return True
        self.on_lost(
            f"STREAM_AL_SERVICE__REPLICA_ID={self.replica}: another serve process holds this "
            f"replica id now ({lease_holder_name(found.holder)}: this one's lease lapsed, "
            "redis away or this process paused for longer than its TTL, and the other started "
            "meanwhile); exiting at once, code 2, writing nothing more under the id: give each "
            "process its own STREAM_AL_SERVICE__REPLICA_ID"
        )
        return False

    def release(self) -> None:
        """Delete the lease if this process still holds it (a clean stop: a restart need
        not wait); a failure is logged, the lease then lapses by itself."""
        self._released = True
        try:
            self.store.drop_lease(self.replica, self.holder)
        except Exception as exc:  # leaving anyway
            log.warning(
                "the lease on replica id %r was not deleted (%s: %s): it lapses within %g s",
                self.replica,
                type(exc).__name__,
                exc,
                self.ttl,
            )
