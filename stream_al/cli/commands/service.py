"""``stream-al serve`` and ``stream-al worker``: the long-running processes.

Flags override their settings; the rest comes from the ``STREAM_AL_*`` settings.
"""

from __future__ import annotations

import argparse

from stream_al.config import Settings
from stream_al.runtime.logging import configure_logging

__all__ = ["cmd_serve", "cmd_worker"]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.service.serve import run_serve

    configure_logging(args.quiet)
    if args.replica:
        settings.service.replica_id = args.replica
    if args.warm_start:
        settings.service.warm_start = args.warm_start
    if args.target:
        settings.service.warm_start_target = args.target
    return run_serve(settings, publish_predictions=not args.no_predictions)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.labeling.run import run_worker

    configure_logging(args.quiet)
    if args.name:
        settings.worker.name = args.name
    if args.tier:
        settings.worker.tier = args.tier
    if args.stale_seconds:
        settings.worker.stale_seconds = args.stale_seconds
    return run_worker(settings, args.oracle, args.max_items, args.idle_exit)
