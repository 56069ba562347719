"""The stop signals of a long-running command, in a process of their own (they exit it):
the first stops, a second or the time limit exits 1, whatever the main thread waits on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The main thread waits in a C call that no signal interrupts, as librdkafka's synchronous
# commit does with the broker away: a Python handler would only run once it returned.
SCRIPT = """
import ctypes, logging, sys, time
from stream_al.runtime.signals import handling_signals

logging.basicConfig(level=logging.INFO, stream=sys.{log}, format="%(message)s")
libc = ctypes.CDLL(None)
mutex, cond = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)

def stop():
    print("stop asked", flush=True)

with handling_signals(stop, {limit}, lambda: "3 events polled are not committed"):
    print("waiting", flush=True)
    if {block}:
        libc.pthread_mutex_lock(mutex)
        libc.pthread_cond_wait(cond, mutex)  # for ever
    else:
        time.sleep(0.3)
print("left the block", flush=True)
time.sleep({after})
print("still alive", flush=True)
"""


def _nohup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _start(
    limit: float | None,
    block: bool = True,
    after: float = 0.0,
    nohup: bool = False,
    log_reader_gone: bool = False,
) -> subprocess.Popen[str]:
    code = SCRIPT.format(
        limit=limit, block=block, after=after, log="stderr" if log_reader_gone else "stdout"
    )
    stderr: int = subprocess.STDOUT
    if log_reader_gone:  # the log on a pipe whose reader died (`| head`), buffered as by default
        reader, stderr = os.pipe()
        os.close(reader)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=_nohup if nohup else None,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" or not log_reader_gone},
    )
    if log_reader_gone:
        os.close(stderr)
    assert proc.stdout is not None and proc.stdout.readline() == "waiting\n"
    return proc


def _output(proc: subprocess.Popen[str], timeout: float) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


def test_the_first_signal_stops_and_the_time_limit_exits_1_saying_what_is_left() -> None:
    proc = _start(limit=1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out = _output(proc, timeout=10)
    assert proc.returncode == 1
    assert 1.0 <= time.monotonic() - sent < 5.0
    assert "stop asked" in out  # heard at once, though the main thread never ran Python
    assert "still running 1 s after the signal: exiting at once" in out
    assert "3 events polled are not committed" in out


@pytest.mark.parametrize("second_signal", [False, True], ids=["time limit", "second signal"])
def test_the_time_limit_and_a_second_signal_exit_1_when_the_log_reader_is_gone(
    second_signal: bool,
) -> None:
    # The exit flushed the log handlers first, and stderr's flush raised BrokenPipeError
    # once a line had not reached a reader gone: the exit never came (and the signals'
    # thread was dead), so serve stuck in a call outlived its time limit by far.
    proc = _start(limit=60.0 if second_signal else 1.0, log_reader_gone=True)
    try:
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        if second_signal:
            assert proc.stdout is not None
            while proc.stdout.readline() not in ("stop asked\n", ""):
                pass
            proc.send_signal(signal.SIGTERM)
        _output(proc, timeout=10)
        assert proc.returncode == 1
        assert time.monotonic() - sent < 5.0
    finally:
        proc.kill()  # the old code's process waited for ever


def test_sighup_stops_as_sigterm_does_unless_it_is_ignored_as_under_nohup() -> None:
    # Its default action killed serve at once: nothing committed, no checkpoint.
    proc = _start(limit=0.5)
    proc.send_signal(signal.SIGHUP)
    out = _output(proc, timeout=10)
    assert "signal 1: finishing the current batch" in out and "stop asked" in out
    proc = _start(limit=0.5, nohup=True)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)  # nothing to await: an ignored signal does nothing observable
    proc.send_signal(signal.SIGTERM)
    out = _output(proc, timeout=10)
    assert "signal 15" in out and "signal 1:" not in out


def test_a_second_signal_exits_1_at_once() -> None:
    proc = _start(limit=60.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)  # the first one handled: nothing observable to await in the process
    proc.send_signal(signal.SIGTERM)
    out = _output(proc, timeout=10)
    assert proc.returncode == 1 and "second signal: exiting at once" in out


def test_leaving_the_block_in_time_ends_the_time_limit() -> None:
    proc = _start(limit=0.5, block=False, after=1.0)
    proc.send_signal(signal.SIGTERM)  # stops and starts the limit; the block ends before it
    out = _output(proc, timeout=10)
    assert proc.returncode == 0, out
    assert "stop asked" in out and "still alive" in out and "still running" not in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_after_the_block_the_signals_act_as_before(signum: int) -> None:
    proc = _start(limit=None, block=False, after=30.0)
    while proc.stdout is not None and proc.stdout.readline() != "left the block\n":
        pass
    proc.send_signal(signum)
    _output(proc, timeout=10)
    assert proc.returncode == -signum  # Python's own handlers: not blocked, not ours
