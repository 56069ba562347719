"""Signals of a long-running command: the first SIGTERM, SIGINT or SIGHUP asks it to stop
after the work in hand (warm shutdown); a second one exits at once with code 1 (cold shutdown),
and so does a time limit after the first, when the command sets one: whatever the work in
hand waits on, the process ends in time. SIGUSR1 prints every thread's stack to stderr:
how to see where a live process is.

A thread of their own acts on the signals, not a Python handler: Python runs a handler
only when the main thread runs Python again, and a call into a C library that waits on a
broker (librdkafka's synchronous commit) kept serve from even hearing a SIGTERM until the
call returned. Python's C-level handler, in whichever thread the signal lands, writes the
signal's number to a wakeup file descriptor at once; that thread reads it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from stream_al.runtime.logging import drain_log

__all__ = ["exit_at_once", "handling_signals"]

log = logging.getLogger("stream_al.runtime")

EXIT_DRAIN_SECONDS = 1.0
"""How long an exit at once waits for the log lines still held to be written."""

# SIGHUP too (the terminal that started `stream-al serve &` closed): its default action
# killed serve at once, neither committed nor checkpointed, and a web worker's answers
# in their undo window were lost. Left alone where it is ignored (nohup): a command
# started so must outlive its terminal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop:
    """What the first and the second stop signal do (see the module doc)."""

    def __init__(
        self, stop: Callable[[], None], limit_s: float | None, unfinished: Callable[[], str]
    ) -> None:
        self.stop = stop
        self.limit_s = limit_s
        self.unfinished = unfinished
        self.received = 0
        self.done = threading.Event()  # the command is over: no limit, no more signals

    def signalled(self, signum: int) -> None:
        self.received += 1  # one thread only: the one that reads the signals
        if self.received > 1:
            log.error("second signal: exiting at once")
            exit_at_once(1)
        if self.limit_s is None:
            log.info("signal %d: finishing the current batch, then exiting", signum)
        else:
            log.info(
                "signal %d: finishing the current batch, then exiting (within %g s)",
                signum,
                self.limit_s,
            )
            threading.Thread(target=self._exit_later, name="stop-limit", daemon=True).start()
        self.stop()

    def _exit_later(self) -> None:
        """The stop's time limit: a call that waits on a server outlived the stop's own
        deadlines, so the process exits now, code 1, saying what it leaves undone."""
        assert self.limit_s is not None
        if self.done.wait(self.limit_s):
            return
        log.error(
            "still running %g s after the signal: exiting at once (%s)",
            self.limit_s,
            self.unfinished(),
        )
        exit_at_once(1)


def exit_at_once(code: int) -> None:
    """End the process now with ``code``, from any thread: no cleanup runs, the log's last
    lines are written first (for a little while at most)."""
    # The log is written by a thread of its own: its last lines (why this exit) first,
    # but not for long, a stalled log reader must not hold the exit up.
    drain_log(EXIT_DRAIN_SECONDS)
    for handler in logging.getLogger().handlers:
        # A log reader gone (`serve 2>&1 | head`, a log shipper killed) leaves stderr
        # holding what it could not write, and its flush raised BrokenPipeError here: the
        # exit never came, and this thread, which takes the signals, was gone.
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(code)


def _noted(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing to do, the signals' thread has acted (a handler
    must be set, or Python's C-level one that writes the wakeup byte is not)."""


@contextlib.contextmanager
def handling_signals(
    stop: Callable[[], None],
    limit_s: float | None = None,
    unfinished: Callable[[], str] = lambda: "",
) -> Iterator[None]:
    """Within the block, call ``stop()`` on the first SIGTERM/SIGINT/SIGHUP (not an ignored
    SIGHUP: nohup), exit 1 on the second, or ``limit_s`` seconds after the first if the
    command still runs then, saying what ``unfinished()`` names. Enter it in the main
    thread; on leaving, the signals are handled as they were."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    state = _Stop(stop, limit_s, unfinished)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    handled = [s for s in STOP_SIGNALS if not (s == signal.SIGHUP and ignored)]
    before = {signum: signal.signal(signum, _noted) for signum in handled}
    wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    taker = threading.Thread(
        target=_take_signals, args=(state, reader), name="signals", daemon=True
    )
    taker.start()
    try:
        yield
    finally:
        state.done.set()
        signal.set_wakeup_fd(wakeup)
        for signum, previous in before.items():
            signal.signal(signum, previous)
        taker.join()
        reader.close()
        writer.close()


def _take_signals(state: _Stop, reader: socket.socket) -> None:
    while not state.done.is_set():
        if not select.select([reader], [], [], 0.2)[0]:
            continue
        for signum in reader.recv(64):
            if signum in STOP_SIGNALS and not state.done.is_set():
                state.signalled(signum)
