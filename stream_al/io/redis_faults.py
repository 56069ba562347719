"""What the Redis store does when Redis is not what it expects (docs/design.md, "Delivery
and state"): a server that lost its data or refuses writes for a while, credentials it
refuses, entries it cannot read.

- A reply that names a missing consumer group (``NOGROUP``) means Redis lost its data
  (restarted without persistence, or flushed): :func:`server_states` makes the store
  recreate its groups and raise :class:`~stream_al.errors.StoreReset`, which serve
  survives (it restarts its learner from the newest checkpoint it finds) and a worker
  waits out like an outage.
- A server that refuses writes for a while (out of memory, a read-only replica after a
  failover, a snapshot it cannot write to disk, a script running long) is an outage, not a
  bug: :func:`server_states` raises :class:`~stream_al.errors.StoreUnavailable` saying what
  to fix (:func:`refusal`), which every loop waits out with backoff. A refused write
  changed nothing: a Lua script is refused before its first write, a transaction whole.
- A blocking read Redis ends with ``UNBLOCKED`` (it became a replica, or a flush deleted
  the stream a worker waited on) is waited out the same way (:func:`unblocked`): before,
  the reply escaped and the worker exited.
- A key of the deployment that holds another type (another program writes under the
  prefix) is a :class:`~stream_al.errors.ConfigurationError` naming it, where any method
  meets ``WRONGTYPE`` (:func:`server_states`), as at start.
- A Redis older than :data:`MIN_REDIS_VERSION` or in cluster mode is not supported:
  :func:`server_problem` names it from ``INFO`` at start (exit 2), and
  :func:`in_cluster_mode` a cluster's reply (``MOVED``, ``CROSSSLOT``, ...) wherever one
  is met.
- Refused credentials are not an outage: :func:`credentials_refused` turns them into a
  :class:`~stream_al.errors.ConfigurationError` naming the setting (exit 2); so is a
  database number the server does not have (:func:`server_states`).
- A label-stream entry that is not a UTF-8 ``label`` field is read as
  :class:`~stream_al.io.base.Unreadable` (:func:`label_entry`), for a dead letter.

Examples
--------
>>> label_entry({b"label": b'{"id": "a"}'})
'{"id": "a"}'
>>> label_entry({b"label": b"\\xff"}).reason.startswith("label is not UTF-8 text")
True
>>> print(label_entry({b"answer": b"cat"}).reason)
label-stream entry has no 'label' field (fields: 'answer')
>>> print(refusal(redis.ResponseError("BUSY")))
redis refuses writes (BUSY): a script runs past its time limit; wait, or SCRIPT KILL it
>>> refusal(redis.ResponseError("WRONGTYPE Operation against a key")) is None
True
>>> str(_translated(redis.exceptions.MovedError("9596 127.0.0.1:7002")))[:64]
'redis at STREAM_AL_REDIS__URL runs in cluster mode (MovedError: '
>>> unblocked(redis.ResponseError("UNBLOCKED the stream key no longer exists"))[:60]
'redis ended a blocking read (UNBLOCKED the stream key no lon'

"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import redis

from stream_al.errors import ConfigurationError, StoreReset, StoreUnavailable
from stream_al.io.base import Unreadable

__all__ = [
    "MIN_REDIS_VERSION",
    "credentials_refused",
    "in_cluster_mode",
    "label_entry",
    "lenient",
    "refusal",
    "server_problem",
    "server_states",
    "unblocked",
]

C = TypeVar("C", bound=type)


class _Groups(Protocol):
    def ensure_groups(self) -> None: ...

    def check_keys(self) -> None: ...


def lenient(value: bytes) -> str:
    """Bytes as text, whatever they hold (undecodable bytes as ``\\xNN``)."""
    return value.decode("utf-8", errors="backslashreplace")


def label_entry(fields: dict[bytes, bytes] | None) -> str | Unreadable:
    """A label-stream entry's ``label`` field as text, or why it cannot be read."""
    if fields is None:
        return Unreadable("label-stream entry deleted before serve read it", "")
    raw = fields.get(b"label")
    if raw is None:
        names = ", ".join(repr(lenient(k)) for k in fields) or "none"
        shown = {lenient(k): lenient(v) for k, v in fields.items()}
        return Unreadable(f"label-stream entry has no 'label' field (fields: {names})", str(shown))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable(f"label is not UTF-8 text: {exc}", lenient(raw))


def credentials_refused(message: str) -> ConfigurationError:
    """Redis refused the password (or the user's permissions): a setting to fix."""
    return ConfigurationError(
        f"{message}: Redis refused the credentials; check STREAM_AL_REDIS__PASSWORD (and a "
        "user name in STREAM_AL_REDIS__URL)"
    )


# Refusals of writes for now, and what to fix: redis-py gives some their own class (the
# reply's first word stripped), the rest a plain ResponseError that starts with the word
# (after a pipeline's "Command # n (...) of pipeline caused error: ").
_REFUSED_CLASSES: tuple[tuple[type[redis.ResponseError], str], ...] = (
    (
        redis.exceptions.OutOfMemoryError,
        "it is out of memory; raise its maxmemory (and keep maxmemory-policy noeviction)",
    ),
    (
        redis.exceptions.ReadOnlyError,
        "it is a read-only replica; point STREAM_AL_REDIS__URL at the primary",
    ),
    (
        redis.exceptions.MasterDownError,
        "it is a replica that lost its primary; bring the primary back",
    ),
)
_REFUSED_WORDS = {
    "MISCONF": "it cannot write its snapshot to disk; free its disk or fix its 'dir'",
    "NOREPLICAS": "it has fewer replicas than its min-replicas-to-write; bring them back",
    "BUSY": "a script runs past its time limit; wait, or SCRIPT KILL it",
}
_FIRST_WORD = re.compile(r"(?:^|caused error: )([A-Z]+)\b")


def refusal(exc: redis.ResponseError) -> str | None:
    """Why Redis refuses a write for now and what to fix, or None for any other error."""
    why = next((why for cls, why in _REFUSED_CLASSES if isinstance(exc, cls)), None)
    if why is None:
        match = _FIRST_WORD.search(str(exc))
        why = _REFUSED_WORDS.get(match.group(1)) if match else None
    return None if why is None else f"redis refuses writes ({exc}): {why}"


def in_cluster_mode(why: str) -> ConfigurationError:
    """Redis runs in cluster mode (``why``: the reply or setting that says so), which
    stream-al does not support: its scripts and transactions touch many keys of a
    deployment at once, which a cluster refuses unless they share a hash slot, and its
    client talks to one server (a cluster answers ``MOVED`` for keys another node holds)."""
    return ConfigurationError(
        f"redis at STREAM_AL_REDIS__URL runs in cluster mode ({why}), which stream-al does "
        "not support: point it at a standalone Redis (a primary, with replicas or Sentinel "
        "for failover; on a managed service, one with cluster mode disabled)"
    )


# A cluster's replies: redis-py gives each a class of its own (the first word stripped);
# the words are for a reply it left plain.
_CLUSTER_CLASSES: tuple[type[redis.ResponseError], ...] = (
    redis.exceptions.AskError,  # MovedError too
    redis.exceptions.ClusterCrossSlotError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)
MIN_REDIS_VERSION = (6, 2)
"""The oldest Redis stream-al runs on: ``XAUTOCLAIM`` (taking over a stopped worker's
items) and ``XTRIM MINID`` (trimming the label stream by age) came in 6.2."""


def server_problem(info: dict[str, Any]) -> ConfigurationError | None:
    """What makes the Redis whose ``INFO`` this is unfit for stream-al, or None.

    >>> print(server_problem({"redis_version": "7.0.15", "cluster_enabled": 0}))
    None
    >>> str(server_problem({"redis_version": "6.0.9", "cluster_enabled": 0}))[:76]
    'redis at STREAM_AL_REDIS__URL is version 6.0.9; stream-al needs 6.2 or newer'
    >>> str(server_problem({"redis_version": "7.2.4", "cluster_enabled": 1}))[:56]
    'redis at STREAM_AL_REDIS__URL runs in cluster mode (clus'
    """
    version = str(info.get("redis_version", ""))
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if len(parts) == 2 and parts < MIN_REDIS_VERSION:
        need = ".".join(map(str, MIN_REDIS_VERSION))
        return ConfigurationError(
            f"redis at STREAM_AL_REDIS__URL is version {version}; stream-al needs {need} or "
            "newer (XAUTOCLAIM, XTRIM MINID): upgrade it"
        )
    if str(info.get("cluster_enabled", "0")) == "1":
        return in_cluster_mode("cluster_enabled:1 in INFO")
    return None


_CLUSTER_WORDS = ("MOVED", "ASK", "CROSSSLOT", "CLUSTERDOWN", "TRYAGAIN")


def _translated(exc: redis.ResponseError) -> StoreUnavailable | ConfigurationError | None:
    """The project's error for a reply that is a setting to fix or an outage, else None."""
    if "DB index is out of range" in str(exc):  # SELECT, on every connection
        return ConfigurationError(
            f"redis: {exc}: the database number in STREAM_AL_REDIS__URL "
            "(redis://host:port/N) is beyond the server's 'databases' setting"
        )
    if isinstance(exc, _CLUSTER_CLASSES):
        return in_cluster_mode(f"{type(exc).__name__}: {exc}")
    match = _FIRST_WORD.search(str(exc))
    if match and match.group(1) in _CLUSTER_WORDS:
        return in_cluster_mode(str(exc))
    why = refusal(exc)
    if why is None and str(exc).startswith("UNBLOCKED"):
        why = unblocked(exc)
    return None if why is None else StoreUnavailable(why)


def unblocked(exc: redis.ResponseError) -> str:
    """Why Redis ended a blocking read (a worker's XREADGROUP BLOCK) with an error: it
    became a replica, or the stream or its group was deleted (a flush). Read again: the
    next call meets what the server is now (READONLY, NOGROUP) and is handled as such."""
    return (
        f"redis ended a blocking read ({exc}): it became a replica (a failover: point "
        "STREAM_AL_REDIS__URL at the primary) or its keys were deleted; reading again"
    )


def server_states(cls: C) -> C:
    """A class decorator for the Redis store: where a public method meets a missing
    consumer group (``NOGROUP``), the store's groups are recreated and
    :class:`~stream_al.errors.StoreReset` is raised; where Redis refuses writes for now
    (:func:`refusal`), :class:`~stream_al.errors.StoreUnavailable` is raised; a database
    number the server does not have is a :class:`~stream_al.errors.ConfigurationError`,
    and so is a ``WRONGTYPE`` reply where one of the deployment's keys holds another type
    (``check_keys`` names it: another program writes under the prefix)."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: _Groups, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.ResponseError as exc:
                if (translated := _translated(exc)) is not None:
                    raise translated from exc
                if "WRONGTYPE" in str(exc):  # a key of the deployment, named if it is one
                    self.check_keys()
                    raise
                if "NOGROUP" not in str(exc):
                    raise
                try:
                    self.ensure_groups()
                except redis.ResponseError as again:  # refusing writes: the next call retries
                    if (translated := _translated(again)) is None:
                        raise
                    raise translated from again
                raise StoreReset(
                    f"redis answered without stream-al's consumer groups ({exc}): it lost "
                    "its data; the groups are recreated"
                ) from exc

        return call

    for name, attr in list(vars(cls).items()):
        if callable(attr) and not name.startswith("_"):
            setattr(cls, name, wrap(attr))
    return cls
