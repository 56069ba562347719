"""``stream-al worker``: an oracle (or the Label Studio bridge) wired to the deployment's
label queue, signals and backoff."""

from __future__ import annotations

import logging

from stream_al.config import Settings
from stream_al.errors import ConfigurationError
from stream_al.io.redis import store_for
from stream_al.labeling.base import Oracle
from stream_al.labeling.oracles import make_oracle
from stream_al.labeling.worker import Worker
from stream_al.runtime.backoff import rerun_until_done, retrying
from stream_al.runtime.signals import install_signals

__all__ = ["run_worker"]

log = logging.getLogger("stream_al.worker")


def run_worker(
    settings: Settings, oracle_spec: str, max_items: int | None, idle_exit: float | None
) -> int:
    """Run a labeling worker until it quits, is stopped or runs out of work."""
    if oracle_spec == "label-studio":
        from stream_al.labeling.label_studio.bridge import run_bridge

        return run_bridge(settings, max_items, idle_exit)
    w = settings.worker
    store = store_for(settings, w.name, w.claim_idle_seconds)
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
    worker = Worker(
        store,
        oracle,
        w.name,
        annotator=w.annotator or None,
        batch=oracle.batch,
        tier=w.tier,
        stale_seconds=w.stale_seconds,
    )
    install_signals(worker.stop)
    try:
        if retrying("redis", store.ensure_groups_ok, stopping=worker.stopped) is None:
            return 0
        stats = rerun_until_done(lambda: worker.run(max_items=max_items, idle_exit=idle_exit))
    finally:
        oracle.close()
    log.info("worker %s: %d labeled, %d skipped", w.name, stats.labeled, stats.skipped)
    return 0
