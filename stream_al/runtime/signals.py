"""Signals of a long-running command: the first SIGTERM or SIGINT asks it to stop after
the work in hand (warm shutdown); a second one exits at once with code 1 (cold shutdown).
SIGUSR1 prints every thread's stack to stderr: how to see where a live process is."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType

__all__ = ["install_signals"]

log = logging.getLogger("stream_al.runtime")


def install_signals(stop: Callable[[], None]) -> None:
    """Call ``stop()`` on the first SIGTERM/SIGINT, exit 1 on the second."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    received = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            log.error("second signal: exiting at once")
            os._exit(1)
        log.info("signal %d: finishing the current batch, then exiting", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
