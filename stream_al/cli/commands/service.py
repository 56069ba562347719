"""``stream-al serve`` and ``stream-al worker``: the long-running processes.

A few flags override their settings (the tables below); the rest comes from the
``STREAM_AL_*`` settings.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from stream_al.config import Settings
from stream_al.runtime.logging import configure_logging

__all__ = ["cmd_serve", "cmd_worker"]

# flag (its argparse dest) -> the setting it overrides when given
SERVE_FLAGS = {"replica": "replica_id", "warm_start": "warm_start", "target": "warm_start_target"}
WORKER_FLAGS = {"name": "name", "tier": "tier", "stale_seconds": "stale_seconds"}


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.service.serve import run_serve

    configure_logging(args.quiet)
    _override(settings.service, args, SERVE_FLAGS)
    return run_serve(settings, publish_predictions=not args.no_predictions)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.labeling.run import run_worker

    configure_logging(args.quiet)
    _override(settings.worker, args, WORKER_FLAGS)
    return run_worker(settings, args.oracle, args.max_items, args.idle_exit, args.target)


def _override(section: BaseModel, args: argparse.Namespace, flags: dict[str, str]) -> None:
    for dest, setting in flags.items():
        value = getattr(args, dest)
        if value:
            setattr(section, setting, value)
