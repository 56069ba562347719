"""The HTTP endpoint of a process: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

- ``/metrics``: Prometheus text format, from the process's own registry.
- ``/healthz``: 200 while the main loop has turned within ``stall_seconds`` (alive).
- ``/readyz``: 200 when Kafka and Redis answered the last turn, the loop has turned within
  ``wait_seconds`` (it is not stuck waiting on a server) and the model is loaded; the body
  says why not, or carries a note an operator should see (a state reset).

The server runs in a daemon thread and only reads a few flags the loop sets; the model
itself never leaves the loop's thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Health", "HealthServer", "http_server"]


UNNAMED_STEP = "on Kafka or Redis"
"""What a wait is said to be on when the loop named no step since it last turned."""


class Health:
    """Flags the loop updates and the endpoint reads.

    ``ready`` is what the loop last said; :meth:`readiness` (what ``/readyz`` answers)
    also turns false while the loop has not turned for ``wait_seconds``: a call waiting on
    a server that went away does not leave the endpoint saying ready meanwhile.
    """

    def __init__(self, stall_seconds: float = 60.0, wait_seconds: float = 5.0) -> None:
        self.stall_seconds = stall_seconds
        self.wait_seconds = wait_seconds
        self.ready = False
        self.reason = "starting"
        self.note = ""  # shown while ready: something an operator should know
        self.doing = UNNAMED_STEP  # the loop's step, for a wait's reason
        self._beat = time.monotonic()

    def beat(self) -> None:
        """The loop turned; what it does next is unnamed until it names a step (a step
        named in the last turn would name a wait after it wrongly)."""
        self._beat = time.monotonic()
        self.doing = UNNAMED_STEP

    def step(self, doing: str) -> None:
        """The loop starts a step that may wait on a server (``"on Kafka: polling"``): a
        wait in it is named by it, until the next step or :meth:`beat`."""
        self.doing = doing

    def set_ready(self, ready: bool, reason: str = "") -> None:
        self.ready = ready
        self.reason = reason

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._beat < self.stall_seconds

    def readiness(self) -> tuple[bool, str]:
        """``(ready, what to say)``: not ready with the reason, or ready with the note."""
        if not self.ready:
            return False, self.reason
        waited = time.monotonic() - self._beat
        if waited >= self.wait_seconds:
            return False, f"the loop has waited {waited:.0f} s ({self.doing})"
        return True, self.note


class HealthServer:
    """Serves the endpoint on ``host:port`` until :meth:`stop`."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int):
        registry_ = registry
        health_ = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(registry_), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = health_.alive
                    self._reply(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
                elif path == "/readyz":
                    ok, why = health_.readiness()
                    if ok:
                        body = f"ready; {why}\n" if why else "ready\n"
                    else:
                        body = f"not ready: {why}\n"
                    self._reply(200 if ok else 503, body.encode())
                else:
                    self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds are not news

        self.httpd, self._thread = http_server(host, port, Handler)
        self.port = int(self.httpd.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# A connection is closed this long after it was accepted, whatever it sends: a client that
# opens connections and sends nothing, or sends its request a byte at a time, or never reads
# its answer, would otherwise hold a thread and a file descriptor each, for ever (a silence
# limit alone let a byte every few seconds keep a connection open).
REQUEST_TIMEOUT_S = 30.0

# Connections served at once, at most (a thread and a file descriptor each): Prometheus, the
# kubelet's probes and stream-al status need a few. Unbounded, 300 idle connections held 190
# threads in serve (thread-per-connection), and at a low descriptor limit the connections
# took the descriptors Kafka's client needed. Never more than a quarter of the process's
# descriptor limit either, so that the endpoint alone cannot exhaust it.
MAX_CONNECTIONS = 64

# accept() failing for want of a file descriptor (the process's, or the system's) leaves the
# connection in the backlog, so the listening socket stays readable and serve_forever spun
# on it at full CPU; it now pauses, doubling up to the maximum.
_ACCEPT_PAUSE_S = (0.05, 1.0)
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# What the endpoint closed or failed on is logged at most this often, with the counts since.
_SAY_EVERY_S = 60.0

log = logging.getLogger("stream_al.runtime")


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that serves at most ``max_connections`` connections at once,
    closes each ``timeout`` seconds after its accept, and pauses when accept() fails for
    want of file descriptors.

    At the limit, a new connection takes the place of the oldest one still reading its
    request (a client that sends its request at once, as the kubelet's probe and
    Prometheus do, is answered past any number of idle ones); when every connection is
    being answered, the new one is closed unanswered.
    """

    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 made connects wait a second when busy

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        timeout: float,
        max_connections: int,
    ) -> None:
        self.connection_timeout = timeout
        self.max_connections = max_connections
        self._open: dict[Any, list[Any]] = {}  # connection -> [accepted at, answering]
        self._lock = threading.Lock()
        self._pause = _ACCEPT_PAUSE_S[0]
        self._counts: dict[str, int] = {}
        self._said_at = -_SAY_EVERY_S
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        try:
            request = super().get_request()
        except OSError as exc:
            if exc.errno not in _OUT_OF_RESOURCES:
                raise
            self._count(f"accept() failed ({exc.strerror}): paused")
            time.sleep(self._pause)  # this thread only accepts; the connection waits
            self._pause = min(self._pause * 2, _ACCEPT_PAUSE_S[1])
            raise
        self._pause = _ACCEPT_PAUSE_S[0]
        return request

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._lock:
            if len(self._open) >= self.max_connections:
                reading = [
                    (since, c) for c, (since, answering) in self._open.items() if not answering
                ]
                if not reading:
                    self._count(f"closed unanswered: {self.max_connections} being answered")
                    return False  # socketserver closes it
                _, oldest = min(reading, key=lambda entry: entry[0])
                self._close(oldest)
                self._count(
                    f"closed to make room ({self.max_connections} open, oldest still reading)"
                )
            self._open[request] = [time.monotonic(), False]
        return True

    def answering(self, request: Any) -> None:
        """``request`` has sent its request whole: it is no longer the first to close."""
        with self._lock:
            if request in self._open:
                self._open[request][1] = True

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)  # before its close: _close never meets a closed one
        super().shutdown_request(request)

    def service_actions(self) -> None:
        # serve_forever calls this between polls (every 0.5 s at most).
        late = time.monotonic() - self.connection_timeout
        with self._lock:
            for connection in [c for c, (since, _) in self._open.items() if since < late]:
                self._close(connection)
                self._count(f"closed after {self.connection_timeout:.0f} s")
        self._say()

    def _close(self, connection: Any) -> None:
        """Ends ``connection`` for its thread (its read or write returns at once), which then
        closes it; called with the lock held, so the thread has not closed it yet."""
        self._open.pop(connection, None)
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1
        self._say()

    def _say(self) -> None:
        """Log the counts, at most once a minute (also from :meth:`service_actions`, so the
        counts after a line are said once the minute is over, though nothing more came)."""
        now = time.monotonic()
        if not self._counts or now - self._said_at < _SAY_EVERY_S:
            return
        said = "; ".join(f"{n} {w}" for w, n in self._counts.items())
        host, port = self.server_address[:2]
        log.warning("http endpoint %s:%s: %s (at most one such line a minute)", host, port, said)
        self._counts.clear()
        self._said_at = now

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before its answer was written (a probe's timeout while the
        # process was paused, a closed browser tab), or one closed here at its time limit,
        # is not a fault of ours: no traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def http_server(
    host: str,
    port: int,
    handler: type[BaseHTTPRequestHandler],
    timeout: float = REQUEST_TIMEOUT_S,
    max_connections: int | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A threading HTTP server bound now (port 0: any free one) and its daemon thread, not
    started yet: serving must never keep the process alive or block its loop.

    A connection is closed ``timeout`` seconds after it was accepted, whatever it sent or
    read; at most ``max_connections`` are served at once (see :class:`_Server`; by default
    :data:`MAX_CONNECTIONS`, or a quarter of the descriptor limit if that is less).
    """
    if max_connections is None:
        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        unlimited = descriptors == resource.RLIM_INFINITY
        max_connections = MAX_CONNECTIONS if unlimited else min(MAX_CONNECTIONS, descriptors // 4)
    max_connections = max(max_connections, 1)

    class Bounded(handler):  # type: ignore[valid-type,misc]
        def parse_request(self) -> bool:
            whole = super().parse_request()
            if whole:
                server.answering(self.request)
            return whole

    Bounded.__name__ = Bounded.__qualname__ = handler.__name__
    Bounded.timeout = timeout  # each read and write, too, within the connection's limit
    server = _Server((host, port), Bounded, timeout, max_connections)
    return server, threading.Thread(target=server.serve_forever, daemon=True)
