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


# A connection silent this long is closed: a client that opens connections and sends
# nothing (or half a request) would otherwise hold a thread each, for ever.
REQUEST_TIMEOUT_S = 30.0


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before its answer was written (a probe's timeout while the
        # process was paused, a closed browser tab) is not a fault of ours: no traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def http_server(
    host: str,
    port: int,
    handler: type[BaseHTTPRequestHandler],
    timeout: float = REQUEST_TIMEOUT_S,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A threading HTTP server bound now (port 0: any free one) and its daemon thread, not
    started yet: serving must never keep the process alive or block its loop. A connection
    that sends nothing for ``timeout`` seconds is closed."""
    bounded = type(handler.__name__, (handler,), {"timeout": timeout})
    server = _Server((host, port), bounded)
    server.daemon_threads = True
    return server, threading.Thread(target=server.serve_forever, daemon=True)
