from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler

import pytest

from stream_al.runtime.health import Health, HealthServer, http_server
from stream_al.runtime.metrics import Metrics


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_health_and_readiness_on_one_port() -> None:
    metrics = Metrics.create()
    health = Health(stall_seconds=60)
    server = HealthServer(metrics.registry, health, "127.0.0.1", 0).start()
    try:
        code, body = _get(server.port, "/metrics")
        assert code == 200
        assert 'stream_al_events_total{outcome="backpressure"} 0.0' in body
        assert 'stream_al_labels_total{outcome="orphaned"} 0.0' in body
        assert _get(server.port, "/healthz")[0] == 200
        code, body = _get(server.port, "/readyz")
        assert code == 503 and "starting" in body
        health.set_ready(True)
        assert _get(server.port, "/readyz") == (200, "ready\n")
        assert _get(server.port, "/nope")[0] == 404
        health.stall_seconds = 0.0
        assert _get(server.port, "/healthz")[0] == 503
    finally:
        server.stop()


def test_readiness_turns_false_while_the_loop_waits_and_shows_a_note_while_ready() -> None:
    health = Health(wait_seconds=60)
    server = HealthServer(Metrics.create().registry, health, "127.0.0.1", 0).start()
    try:
        health.set_ready(True)
        health.note = "redis lost its data at 12:00 UTC; serve restarted from the checkpoint"
        assert _get(server.port, "/readyz") == (200, f"ready; {health.note}\n")
        health.wait_seconds = 0.0  # the loop has not turned since: stuck on a server
        code, body = _get(server.port, "/readyz")
        assert code == 503 and "the loop has waited" in body
        health.step("on Kafka: committing offsets")  # named by the step the loop is in
        assert "s (on Kafka: committing offsets)" in _get(server.port, "/readyz")[1]
        health.beat()  # the turn ended: a wait after it is not the commit's
        assert "s (on Kafka or Redis)" in _get(server.port, "/readyz")[1]
        assert _get(server.port, "/healthz")[0] == 200  # alive all the same
    finally:
        server.stop()


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")


def test_a_connection_that_sends_nothing_is_closed_and_others_are_served() -> None:
    server, thread = http_server("127.0.0.1", 0, _Hello, timeout=0.5)
    thread.start()
    port = server.server_address[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            silent.sendall(b"GET / HTTP/1.1\r\n")  # half a request, then nothing
            assert _get(port, "/") == (200, "hi")  # served meanwhile
            start = time.monotonic()
            assert silent.recv(1024) == b""  # closed by the server, not by our 10 s
            assert time.monotonic() - start < 5
    finally:
        server.shutdown()
        server.server_close()


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hung-up":
            raise BrokenPipeError(32, "Broken pipe")  # as a write to a closed socket does
        raise ValueError("a bug of ours")


def _closed_without_answer(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return conn.recv(1024)  # the server closes it after handling the error


def test_a_client_that_hung_up_leaves_no_traceback_and_a_bug_still_does(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A serve resumed after SIGSTOP printed a BrokenPipeError traceback for every /readyz
    # probe that had given up on it meanwhile.
    server, thread = http_server("127.0.0.1", 0, _Failing)
    thread.start()
    port = server.server_address[1]
    try:
        assert _closed_without_answer(port, "/hung-up") == b""
        assert "Traceback" not in capfd.readouterr().err
        assert _closed_without_answer(port, "/bug") == b""
        assert "ValueError: a bug of ours" in capfd.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
