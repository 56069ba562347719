"""``stream-al worker``: an oracle, or the Label Studio bridge, wired to the deployment's
label queue, signals and backoff."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from stream_al.config import Settings
from stream_al.errors import ConfigurationError, LabelStudioError
from stream_al.io.redis import RedisStore, store_for
from stream_al.labeling.base import Oracle
from stream_al.labeling.classes import SessionClasses
from stream_al.labeling.oracles import make_oracle
from stream_al.labeling.worker import Worker
from stream_al.runtime.backoff import rerun_until_done, retrying
from stream_al.runtime.signals import handling_signals

__all__ = ["run_bridge", "run_worker"]

log = logging.getLogger("stream_al.worker")

T = TypeVar("T")


def _until_stopped(
    store: RedisStore,
    run: Callable[[], T],
    stop: Callable[[], None],
    stopped: Callable[[], bool],
    close: Callable[[], None],
) -> T | None:
    """``run()`` once Redis answers, again after each outage, until it returns (or a
    signal stops it: None); ``close()`` in every case. A signal ends the wait for Redis
    at start at once; after an outage the waits stay, for a stopped worker may still hold
    labels to flush (a retry without a pause would spin until Redis answers)."""
    signalled = threading.Event()

    def stop_now() -> None:
        signalled.set()
        stop()

    def pause(seconds: float) -> None:
        signalled.wait(seconds)

    with handling_signals(stop_now):
        try:
            if retrying("redis", store.ensure_groups_ok, stopping=stopped, sleep=pause) is None:
                return None
            return rerun_until_done(run)
        finally:
            close()


def _oracle(settings: Settings, spec: str, store: RedisStore, target: str | None) -> Oracle:
    w = settings.worker
    classes = SessionClasses(w.classes or None)
    try:
        if spec != "web":
            return make_oracle(spec, classes, target)
        from stream_al.labeling.web import WebOracle

        if w.web_token is None:
            raise ValueError(
                "the web oracle needs an access token: set STREAM_AL_WORKER__WEB_TOKEN"
            )
        with _listening(w.web_host, w.web_port, "STREAM_AL_WORKER__WEB_PORT"):
            oracle = WebOracle(
                w.web_token.get_secret_value(),
                host=w.web_host,
                port=w.web_port,
                undo_seconds=w.undo_seconds,
                depth=store.depth,
                classes=classes,
            )
        log.info("labeling page on http://%s:%d/?token=...", w.web_host, oracle.port)
        return oracle
    except (ValueError, OSError) as exc:
        raise ConfigurationError(str(exc)) from None


@contextlib.contextmanager
def _listening(host: str, port: int, setting: str) -> Iterator[None]:
    """A server that cannot listen (a busy port, an address not this host's) as a
    :class:`ConfigurationError` naming the address and its setting."""
    try:
        yield
    except OSError as exc:
        host_setting = setting.removesuffix("PORT") + "HOST"
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): another process may "
            f"hold the port; choose another with {setting} (the address: {host_setting})"
        ) from None


def run_worker(
    settings: Settings,
    oracle_spec: str,
    max_items: int | None,
    idle_exit: float | None,
    target: str | None = None,
) -> int:
    """Run a labeling worker until it quits, is stopped or runs out of work (``target``:
    the label column of a ``file:`` oracle's CSV)."""
    if oracle_spec == "label-studio":
        return run_bridge(settings, max_items, idle_exit)
    w = settings.worker
    store = store_for(settings, w.name, w.claim_idle_seconds)
    oracle = _oracle(settings, oracle_spec, store, target)
    worker = Worker(
        store,
        oracle,
        w.name,
        annotator=w.annotator or None,
        batch=oracle.batch,
        tier=w.tier,
        stale_seconds=w.stale_seconds,
    )
    stats = _until_stopped(
        store,
        lambda: worker.run(max_items=max_items, idle_exit=idle_exit),
        worker.stop,
        worker.stopped,
        oracle.close,
    )
    if stats is not None:
        log.info("worker %s: %s; done", w.name, stats.line())
    return 0


def run_bridge(
    settings: Settings, max_items: int | None = None, idle_exit: float | None = None
) -> int:
    """``stream-al worker --oracle label-studio``: run the bridge until a signal (or
    ``max_items`` / ``idle_exit``); raises ``ConfigurationError`` on a bad start."""
    from stream_al.labeling.label_studio.api import LabelStudioClient
    from stream_al.labeling.label_studio.bridge import LabelStudioBridge

    w, ls = settings.worker, settings.worker.label_studio
    if ls.token is None:
        raise ConfigurationError(
            "the label-studio oracle needs an API token: set STREAM_AL_WORKER__LABEL_STUDIO_TOKEN "
            "(Label Studio: Account & Settings > Personal Access Token)"
        )
    store = store_for(settings, w.name, w.claim_idle_seconds)
    bridge = LabelStudioBridge(
        store,
        LabelStudioClient(ls.url, ls.token.get_secret_value()),
        w.name,
        project=ls.project,
        title=ls.title,
        max_open_tasks=ls.max_open_tasks,
        poll_seconds=ls.poll_seconds,
        tier=w.tier,
        stale_seconds=w.stale_seconds,
        classes=w.classes or None,
    )
    secret = ls.webhook_secret.get_secret_value() if ls.webhook_secret else None
    try:
        with _listening(
            ls.webhook_host, ls.webhook_port, "STREAM_AL_WORKER__LABEL_STUDIO_WEBHOOK_PORT"
        ):
            bridge.connect(ls.webhook_url, ls.webhook_host, ls.webhook_port, secret)
    except (LabelStudioError, ConfigurationError) as exc:
        bridge.close()
        raise ConfigurationError(str(exc)) from None
    stats: Any = _until_stopped(
        store,
        lambda: bridge.run(max_items=max_items, idle_exit=idle_exit),
        bridge.stop,
        bridge.stopped,
        bridge.close,
    )
    if stats is not None:
        log.info(
            "label-studio bridge %s: %d tasks created, %d labeled, %d skipped, %d still open",
            w.name,
            stats.created,
            stats.labeled,
            stats.skipped,
            bridge.open_tasks,
        )
    return 0
