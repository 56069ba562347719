"""Small helpers for scripts/services, run with the project venv's python.

    services_ready.py ports N                 N distinct free TCP ports on 127.0.0.1, one a line
    services_ready.py cluster-id              a random Kafka cluster id (base64url of 16 bytes)
    services_ready.py spawn LOG PIDFILE CMD.. start CMD detached (own session, stdio to LOG)
    services_ready.py run LOG CMD..           run CMD to its end, stdio to LOG, no other fds
    services_ready.py kafka BOOTSTRAP [--timeout S] [--pid PID]
    services_ready.py redis URL [--timeout S] [--pid PID]

kafka/redis exit 0 as soon as the server really answers (admin list_topics() / PING), 1 when
the deadline passes or the given pid dies first. With --timeout 0 they try exactly once.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable


def free_ports(count: int) -> list[int]:
    """Ask the OS for `count` distinct free ports, holding each until all are chosen."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_id() -> str:
    """What `kafka-storage random-uuid` prints, without starting a JVM for it."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        # Kafka rejects the reserved ids and ids starting with '-' (they look like options).
        if not text.startswith("-"):
            return text


def spawn(log: str, pidfile: str, cmd: list[str]) -> int:
    """Start `cmd` in its own session, detached from our stdio, and record its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{proc.pid}\n")
    os.replace(tmp, pidfile)
    print(proc.pid)
    return 0


def run(log: str, cmd: list[str]) -> int:
    """Run `cmd` (e.g. a self-daemonizing server) without handing it any inherited fd.

    A daemon that inherits a pipe from whoever called scripts/services (a CI runner, a
    `$(...)`) would hold that pipe open for its whole life.
    """
    with open(log, "ab") as out:
        return subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, close_fds=True
        ).returncode


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own dead child) still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kafka_answers(bootstrap: str, timeout_s: float) -> str | None:
    """None when a real admin request succeeds, else the reason it did not."""
    from kafka.admin import KafkaAdminClient

    ms = max(1000, int(timeout_s * 1000))
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="stream-al-services-ready",
            request_timeout_ms=ms,
            api_version_auto_timeout_ms=ms,
            reconnect_backoff_max_ms=500,
        )
        admin.list_topics()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def redis_answers(url: str, timeout_s: float) -> str | None:
    import redis

    t = max(0.5, timeout_s)
    client = redis.Redis.from_url(url, socket_timeout=t, socket_connect_timeout=t)
    try:
        return None if client.ping() is True else "PING did not answer PONG"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def wait(
    check: Callable[[str, float], str | None], target: str, timeout_s: float, pid: int | None
) -> int:
    deadline = time.monotonic() + timeout_s
    attempt_s = 2.0 if timeout_s > 0 else 3.0
    while True:
        if not _alive(pid):
            print(f"process {pid} exited before {target} answered", file=sys.stderr)
            return 1
        reason = check(target, attempt_s)
        if reason is None:
            return 0
        if time.monotonic() >= deadline:
            print(f"{target} did not answer: {reason}", file=sys.stderr)
            return 1
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    # kafka-python logs connection refusals at WARNING/ERROR while the broker boots, and
    # its import emits DeprecationWarnings on 3.11; neither helps the person waiting.
    logging.basicConfig(level=logging.CRITICAL)
    warnings.simplefilter("ignore")

    parser = argparse.ArgumentParser(prog="services_ready.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("count", type=int)
    sub.add_parser("cluster-id")
    p = sub.add_parser("spawn")
    p.add_argument("log")
    p.add_argument("pidfile")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p = sub.add_parser("run")
    p.add_argument("log")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    for name in ("kafka", "redis"):
        p = sub.add_parser(name)
        p.add_argument("target")
        p.add_argument("--timeout", type=float, default=0.0)
        p.add_argument("--pid", type=int, default=None)
    args = parser.parse_args(argv)

    if args.cmd == "ports":
        print("\n".join(str(port) for port in free_ports(args.count)))
        return 0
    if args.cmd == "cluster-id":
        print(cluster_id())
        return 0
    if args.cmd == "spawn":
        cmd = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not cmd:
            parser.error("spawn needs a command")
        return spawn(args.log, args.pidfile, cmd)
    if args.cmd == "run":
        cmd = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not cmd:
            parser.error("run needs a command")
        return run(args.log, cmd)
    check = kafka_answers if args.cmd == "kafka" else redis_answers
    return wait(check, args.target, args.timeout, args.pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
