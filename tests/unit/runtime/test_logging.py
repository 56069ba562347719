"""The log of serve and the worker, written by a thread of its own (a stalled reader holds
up no work; stream_al.runtime.logging)."""

from __future__ import annotations

import fcntl
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from stream_al.runtime.logging import DRAIN_SECONDS, LOG_QUEUE_LINES, WARNING_LINES

SCRIPT = """
import logging, sys
from stream_al.runtime.logging import configure_logging
configure_logging()
log = logging.getLogger("probe")
for i in range(int(sys.argv[1])):
    log.info("line %d", i)
try:
    raise ValueError("boom")
except ValueError:
    log.exception("with its traceback")
for i in range(int(sys.argv[2])):
    log.info("after %d", i)
print("logged", flush=True)
"""


def _start(tmp_path: Path, lines: int, after: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    """The script logging ``lines`` lines, an error and ``after`` lines more to a pipe
    nobody reads yet (its read end)."""
    script = tmp_path / "log_lines.py"
    script.write_text(SCRIPT)
    read, write = os.pipe()
    # A pipe of one page: the log's writer thread empties at most a page's worth of the
    # queue before it blocks, whenever it gets to run (64 KiB, a thousand lines, made the
    # places left for the lines after the error depend on the machine's load).
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(lines), str(after)], stdout=subprocess.PIPE, stderr=write
    )
    os.close(write)
    return proc, read


def _line_within(proc: subprocess.Popen[bytes], seconds: float) -> bytes:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(seconds):
            proc.kill()
            raise AssertionError(f"nothing on stdout within {seconds} s: the log blocked it")
    return proc.stdout.readline()


def test_a_log_reader_that_reads_nothing_holds_up_no_work_and_no_exit(tmp_path: Path) -> None:
    # A pipe holds 64 KiB: written inline, the log blocked the work after a thousand lines.
    proc, read = _start(tmp_path, 3 * LOG_QUEUE_LINES)
    try:
        assert _line_within(proc, 30) == b"logged\n"
        started = time.monotonic()
        assert proc.wait(timeout=DRAIN_SECONDS + 20) == 0
        assert time.monotonic() - started < DRAIN_SECONDS + 10
    finally:
        os.close(read)


def test_lines_held_for_a_reader_behind_come_in_order_and_the_rest_are_counted(
    tmp_path: Path,
) -> None:
    proc, read = _start(tmp_path, 3 * LOG_QUEUE_LINES)
    try:
        assert _line_within(proc, 30) == b"logged\n"
    finally:
        with os.fdopen(read, "rb") as log:  # now the reader catches up
            text = log.read().decode()
        proc.wait(timeout=30)
    # In order; where lines were dropped, the next line written says exactly how many.
    expected, written = 0, 0
    for line in text.splitlines():
        if "log lines dropped here" in line:
            expected += int(line.split(" ", 1)[0].replace(",", ""))
        elif "INFO probe: line " in line:
            assert int(line.rsplit(" ", 1)[1]) == expected
            expected, written = expected + 1, written + 1
    # Info lines have the places but those kept for warnings and errors.
    assert LOG_QUEUE_LINES - WARNING_LINES <= written < 3 * LOG_QUEUE_LINES


def test_a_reader_behind_gets_the_error_after_the_lines_dropped_and_the_count_of_the_last(
    tmp_path: Path,
) -> None:
    # The queue full of info lines dropped the error too (why a process stops, say), and
    # the lines dropped after the last one queued were counted nowhere: the log ended at an
    # older line as if nothing had come after it.
    proc, read = _start(tmp_path, 3 * LOG_QUEUE_LINES, after=50)
    try:
        assert _line_within(proc, 30) == b"logged\n"
    finally:
        with os.fdopen(read, "rb") as log:
            text = log.read().decode()
        proc.wait(timeout=30)
    lines = text.splitlines()
    errors = [i for i, line in enumerate(lines) if line.endswith("ERROR probe: with its traceback")]
    assert errors, "the error was dropped"
    error = errors[0]
    assert "log lines dropped here" in lines[error - 1]
    assert lines[error + 1 :].count("ValueError: boom") == 1
    assert "after 0" not in text
    assert lines[-1].endswith(
        "WARNING stream_al.runtime: 50 log lines dropped before this exit: the log's reader "
        f"was behind by more than {LOG_QUEUE_LINES:,} lines"
    )


def test_a_reader_that_keeps_up_gets_every_line_and_the_traceback_on_its_lines(
    tmp_path: Path,
) -> None:
    proc, read = _start(tmp_path, 200)
    with os.fdopen(read, "rb") as log:
        text = log.read().decode()
    assert proc.wait(timeout=30) == 0
    lines = text.splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines[:200]] == [str(i) for i in range(200)]
    assert lines[200].endswith("ERROR probe: with its traceback")
    assert lines[201] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
    assert "dropped" not in text
