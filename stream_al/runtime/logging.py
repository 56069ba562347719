"""Log set-up of the long-running commands, and what may be logged of a URL.

>>> redacted_url("redis://:hunter2@r:6379/0")
'redis://:***@r:6379/0'

"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import sys
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "LIBRARY_LOGGERS",
    "OneLineFormatter",
    "configure_logging",
    "drain_log",
    "library_logging",
    "printable",
    "redacted_url",
]

LIBRARY_LOGGERS = ("kafka", "librdkafka")
"""Client libraries whose own log is chatter to a user: kafka-python logs about a hundred
lines in 12 s while a broker is away, and about thirty at a normal start (a consumer
group's join: "Failed to join group", "MemberIdRequiredError") that read like errors.
stream-al says what went wrong itself (waiting for Kafka, with its address)."""


def printable(text: str) -> str:
    """``text`` with every character a terminal or a log reader would act on (newlines,
    carriage returns, escapes, tabs, bidirectional overrides) written as its escape.

    >>> print(printable("ok\\nFAKE 00:00 ERROR\\x1b[2J\\u202e"))
    ok\\nFAKE 00:00 ERROR\\x1b[2J\\u202e

    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineFormatter(logging.Formatter):
    """A record's message on one line, whatever text it quotes (an event's, a queue
    entry's): a newline in it would forge a log line. A traceback keeps its lines.

    >>> record = logging.LogRecord("x", logging.WARNING, "", 0, "bad %s", ("a\\nb",), None)
    >>> OneLineFormatter("%(levelname)s %(message)s").format(record)
    'WARNING bad a\\\\nb'

    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


LOG_QUEUE_LINES = 10_000
"""Log lines held for a log reader that is behind; past them, lines are dropped (and
counted in the next line written)."""

WARNING_LINES = 1_000
"""The last of the :data:`LOG_QUEUE_LINES` places, kept for warnings and errors: a reader
behind still gets why the process stops after the info lines it lost."""

DRAIN_SECONDS = 5.0
"""How long an exit waits for the log lines still held to be written."""

_listener: logging.handlers.QueueListener | None = None
_holding: _Holding | None = None


class _Holding(logging.handlers.QueueHandler):
    """Hands each record, formatted whole (traceback included), to the log's writer
    thread without waiting: when the queue is full (its reader stalled) the record is
    dropped, and the next record queued says how many were (``dropped_before``); a
    record below WARNING finds it full :data:`WARNING_LINES` sooner. The queue has one
    place more, for :meth:`note_dropped`. (``Handler.handle`` calls :meth:`enqueue` under
    the handler's lock, so a place seen free here is still free at the put.)"""

    def __init__(self, lines: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__(lines)
        self.lines = lines
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        places = LOG_QUEUE_LINES - (0 if record.levelno >= logging.WARNING else WARNING_LINES)
        if self.lines.qsize() >= places:
            self.dropped += 1
            return
        record.dropped_before = self.dropped
        self.lines.put_nowait(record)
        self.dropped = 0

    def note_dropped(self) -> None:
        """Queue a last line with the count of the lines dropped since the last one queued:
        without it, the log of a process that exits with its reader behind ended at an
        older line as if nothing had come after it, why it exited included."""
        with self.lock or contextlib.nullcontext():
            if not self.dropped:
                return
            note = logging.LogRecord(
                "stream_al.runtime",
                logging.WARNING,
                __file__,
                0,
                "%s log lines dropped before this exit: the log's reader was behind by more "
                "than %s lines",
                (f"{self.dropped:,}", f"{LOG_QUEUE_LINES:,}"),
                None,
            )
            with contextlib.suppress(queue.Full):  # the extra place taken by an earlier note
                self.lines.put_nowait(self.prepare(note))
                self.dropped = 0


class _Writer(logging.Handler):
    """Writes formatted lines to a file descriptor with ``os.write``: no buffer and no
    lock, so a write blocked on a stalled reader holds nothing another thread (or the
    interpreter's exit) waits on. A reader gone (EPIPE) drops the line quietly."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    # Only the writer thread writes here. Unlocked: logging's own clean-up at exit takes
    # each handler's lock, and would wait for ever on a write blocked on a stalled reader.
    def handle(self, record: logging.LogRecord) -> bool:
        self.emit(record)
        return True

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        lines = f"{record.getMessage()}\n"
        dropped = getattr(record, "dropped_before", 0)
        if dropped:
            lines = (
                f"{dropped:,} log lines dropped here: the log's reader was behind by more "
                f"than {LOG_QUEUE_LINES:,} lines\n{lines}"
            )
        try:
            data = memoryview(lines.encode("utf-8", "backslashreplace"))
            while data:
                data = data[os.write(self.fd, data) :]
        except Exception:  # the reader gone (EPIPE): nothing can show the line
            pass  # and the writer thread must live on for the next one


def configure_logging(quiet: bool = False) -> None:
    """INFO (WARNING when ``quiet``) to stderr, one line per record with its time.

    The lines are written by a thread of their own, so a log reader that stalls (a pipe
    nobody reads, a blocking container log driver) holds up no work: up to
    :data:`LOG_QUEUE_LINES` wait for it, later ones are dropped and counted. An exit waits
    up to :data:`DRAIN_SECONDS` for the lines held (:func:`drain_log`). A stderr with no
    file descriptor is written as it comes.
    """
    global _listener, _holding
    line = OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = logging.WARNING if quiet else logging.INFO
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (replaced, or closed)
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(line)
        logging.basicConfig(level=level, handlers=[handler])
        return
    lines: queue.Queue[logging.LogRecord | None] = queue.Queue(LOG_QUEUE_LINES + 1)
    holding = _Holding(lines)
    holding.setFormatter(line)
    logging.basicConfig(level=level, handlers=[holding])
    if holding not in logging.getLogger().handlers:  # configured already: nothing to do
        os.close(fd)
        return
    _holding = holding
    _listener = logging.handlers.QueueListener(lines, _Writer(fd))
    _listener.start()
    atexit.register(drain_log)


def drain_log(timeout: float = DRAIN_SECONDS) -> bool:
    """Wait up to ``timeout`` seconds for the log lines held to be written, the last of
    them saying how many were dropped since the one before, if any were; whether they were
    (True too when the log is written as it comes). Called at exit."""
    listener = _listener
    if listener is None:
        return True
    if _holding is not None:
        _holding.note_dropped()
    lines = listener.queue
    assert isinstance(lines, queue.Queue)
    with lines.all_tasks_done:
        return lines.all_tasks_done.wait_for(lambda: lines.unfinished_tasks == 0, timeout)


def library_logging(verbose: bool = False) -> None:
    """Show the client libraries' own log (INFO and up) only when ``verbose``."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
