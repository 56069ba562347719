"""``stream-al status``: what a running serve is doing, from its ``/metrics``, and whether
each serve replica is ready, from the states they write to Redis
(:mod:`stream_al.service.replica_state`)."""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.parse
from typing import TYPE_CHECKING

from stream_al.cli import report
from stream_al.config import Settings
from stream_al.errors import ConfigurationError, Unavailable
from stream_al.runtime.logging import redacted_url
from stream_al.runtime.status import Metrics, Status, metrics_url, read_metrics

if TYPE_CHECKING:
    from stream_al.io.base import ReplicaSeen, ReplicaStates

__all__ = ["all_ready", "cmd_status"]

REDIS_TIMEOUT_S = 2.0
"""Seconds a reading of the replicas' states waits on Redis at most."""


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.io.redis import store_for  # here: redis-py is for this command alone

    host, port = settings.metrics.host, settings.metrics.port
    if not args.url and not port:
        raise ConfigurationError(
            "serve's metrics endpoint is off (STREAM_AL_METRICS__PORT=0): give --url"
        )
    url = _with_metrics_path(args.url) if args.url else metrics_url(host, port)
    done = 0
    replicas: list[ReplicaSeen] | str | None = None
    states = store_for(settings, "status", socket_timeout=REDIS_TIMEOUT_S)
    where = f"redis {redacted_url(settings.redis.url)} (prefix {settings.redis.prefix})"
    try:
        before, since = _first_reading(url, args.wait), time.monotonic()
        while args.count == 0 or done < args.count:
            time.sleep(args.interval)  # the window the rates are measured over
            after, now = read_metrics(url), time.monotonic()
            report.print_status(Status.between(before, after, now - since), stamp=args.count != 1)
            # /metrics says nothing of readiness, and is one replica's: every replica's
            # state is in Redis.
            replicas = _replica_states(states)
            report.print_replicas(replicas, where)
            before, since, done = after, now, done + 1
    except urllib.error.HTTPError as exc:
        raise ConfigurationError(
            f"{url} answered {exc.code} {exc.reason}: give --url serve's metrics address "
            "(http://HOST:PORT/metrics, as serve logs it)"
        ) from None
    except OSError as exc:
        # The replicas' states still say whether that serve stopped, and how the others are.
        report.print_replicas(_replica_states(states), where)
        raise ConfigurationError(
            f"nothing answers at {url} ({getattr(exc, 'reason', exc)}): is stream-al serve "
            "running? Its address is STREAM_AL_METRICS__HOST and STREAM_AL_METRICS__PORT "
            "(or give --url)"
        ) from None
    # A script or an operator's check reads the code: 0 only when the readings say every
    # replica is up (the lines say which is not, and why).
    return 0 if replicas is None or all_ready(replicas) else 1


def all_ready(seen: list[ReplicaSeen] | str) -> bool:
    """Whether the replicas' states say serve is up: one replica ready at least, and none
    not ready, silent or unreadable (a replica stopped on purpose does not count).

    >>> from stream_al.io.base import ReplicaSeen, ReplicaState
    >>> ready = ReplicaSeen("r1", ReplicaState(True, "", 0.0, 5.0), 1.0)
    >>> stopped = ReplicaSeen("r2", ReplicaState(False, "stopped", 9.0, 9.0, True), 60.0)
    >>> all_ready([ready, stopped]), all_ready([stopped]), all_ready("redis is away")
    (True, False, False)
    >>> all_ready([ready, ReplicaSeen("r3", None, 30.0)])
    False

    """
    if isinstance(seen, str):  # Redis could not be read: readiness unknown
        return False
    live = [s for s in seen if s.unreadable or s.state is None or not s.state.stopped]
    return bool(live) and all(
        not s.unreadable and s.state is not None and s.state.ready for s in live
    )


def _replica_states(store: ReplicaStates) -> list[ReplicaSeen] | str:
    """Every serve replica's state, or why Redis could not say (status goes on without)."""
    try:
        return store.replica_states()
    except (Unavailable, ConfigurationError) as exc:
        return str(exc)


def _with_metrics_path(url: str) -> str:
    """``url``, with serve's ``/metrics`` path when it has none (serve logs its address as
    ``http://HOST:PORT``).

    >>> _with_metrics_path("http://127.0.0.1:9400")
    'http://127.0.0.1:9400/metrics'
    >>> _with_metrics_path("http://proxy:80/serve-a/metrics")
    'http://proxy:80/serve-a/metrics'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        return urllib.parse.urlunsplit(parts._replace(path="/metrics"))
    return url


def _first_reading(url: str, wait: float) -> Metrics:
    """The first reading of ``url``, waiting up to ``wait`` seconds for a serve that is
    starting to answer (raises the last ``OSError`` after that)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return read_metrics(url)
        except OSError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.2)  # polling: nothing tells this process when serve is up
