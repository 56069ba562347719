from __future__ import annotations

import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from stream_al.runtime.health import MAX_CONNECTIONS, Health, HealthServer, http_server
from stream_al.runtime.metrics import Metrics
from tests.deploy_support import missing


def _get(port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
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


# -- the endpoint under clients that hold connections, and out of file descriptors ---------


def test_a_connection_that_sends_its_request_a_byte_at_a_time_is_closed_at_the_time_limit() -> None:
    # A silence limit alone was reset by every byte: 50 connections trickling one byte a
    # second were all still open, a thread each, after 45 s (limit 30 s).
    server, thread = http_server("127.0.0.1", 0, _Hello, timeout=1.0)
    thread.start()
    port = server.server_address[1]
    request = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 1000  # one header that never ends
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            start = time.monotonic()
            with pytest.raises(OSError):  # EPIPE or ECONNRESET once the server closed it
                for i in range(len(request)):
                    slow.sendall(request[i : i + 1])
                    if not select.select([slow], [], [], 0.1)[0]:
                        continue  # still open: the next byte after a tenth of a second
                    if slow.recv(1024) == b"":
                        raise ConnectionResetError("closed by the server")
                    raise AssertionError("answered a request that was never whole")
            assert time.monotonic() - start < 8  # 1 s limit; the old code: 100 s of bytes
        assert _get(port, "/") == (200, "hi")
    finally:
        server.shutdown()
        server.server_close()


def _closed_by_server(conn: socket.socket) -> bool:
    if not select.select([conn], [], [], 0)[0]:
        return False
    try:
        return conn.recv(1) == b""
    except ConnectionError:
        return True


def test_idle_connections_beyond_the_limit_are_closed_and_health_is_still_answered() -> None:
    # Each connection took a thread, unbounded: 300 idle ones held 190 threads in serve;
    # with a low descriptor limit, they took the descriptors Kafka's client needed.
    server = HealthServer(Metrics.create().registry, Health(), "127.0.0.1", 0).start()
    threads_before = threading.active_count()
    extra = 16
    deadline = time.monotonic() + 20  # the old code closed none before its 30 s of silence
    idle = [
        socket.create_connection(("127.0.0.1", server.port), timeout=10)
        for _ in range(MAX_CONNECTIONS + extra)
    ]
    try:
        # It takes an idle one's place (a long timeout: threads start slowly on a busy host).
        assert _get(server.port, "/healthz", timeout=30) == (200, "ok\n")
        while (closed := sum(_closed_by_server(c) for c in idle)) < extra:
            assert time.monotonic() < deadline, f"{closed} of the {extra} beyond the limit closed"
            time.sleep(0.05)
        # The threads of those closed may take a moment to end.
        while threading.active_count() > threads_before + MAX_CONNECTIONS:
            assert time.monotonic() < deadline, f"{threading.active_count()} threads"
            time.sleep(0.05)
    finally:
        for conn in idle:
            conn.close()
        server.stop()


_OUT_OF_DESCRIPTORS = """
import os, sys
from tests.unit.runtime.test_health import _Hello
from stream_al.runtime.health import http_server

server, thread = http_server("127.0.0.1", 0, _Hello)
thread.start()
taken = []
try:
    while True:
        taken.append(os.open(os.devnull, os.O_RDONLY))
except OSError:  # EMFILE: every descriptor is taken
    pass
print(server.server_address[1], flush=True)
sys.stdin.readline()
for fd in taken:
    os.close(fd)
print("freed", flush=True)
sys.stdin.readline()
"""


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descriptor_limit(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_accept_out_of_file_descriptors_pauses_rather_than_spins_and_serves_once_they_return() -> (
    None
):
    if not Path("/proc/self/stat").exists():
        missing("reads a child's CPU time from /proc")
    # accept() failing with EMFILE leaves the connection in the backlog, so the listening
    # socket stays readable: serve_forever spun on it (measured: 2.75 s of CPU in 3 s).
    child = subprocess.Popen(
        [sys.executable, "-c", _OUT_OF_DESCRIPTORS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_descriptor_limit(256),
        cwd=Path(__file__).resolve().parents[3],  # the child imports tests.unit
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = int(child.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as waiting:
            waiting.sendall(b"GET / HTTP/1.0\r\n\r\n")
            cpu, start = _cpu_seconds(child.pid), time.monotonic()
            time.sleep(2)  # the span measured, not a condition awaited
            used, span = _cpu_seconds(child.pid) - cpu, time.monotonic() - start
            assert used < span / 4, f"{used:.2f} s of CPU in {span:.2f} s: accept() spins"
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.stdout.readline() == "freed\n"
            assert waiting.recv(1024).startswith(b"HTTP/1.0 200")  # answered, not lost
    finally:
        child.kill()
        child.wait(10)
