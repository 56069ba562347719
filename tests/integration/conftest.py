"""Fixtures for the integration tests: a real Kafka broker and a real Redis server.

Start them with `scripts/services up` (`eval "$(scripts/services up)"` also sets
KAFKA_BOOTSTRAP and REDIS_URL in the shell); these fixtures read the two variables from the
environment, or else from `.services/env`. When the servers are missing or do not answer,
the tests are skipped, except under CI (CI=true) where they fail.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.deploy_support import missing

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".services" / "env"
HINT = 'run `scripts/services up` first (or `eval "$(scripts/services up)"`)'
SPARE_REDIS_DB = 15  # tests own this database: it is flushed before and after each test
CHECK_TIMEOUT_S = 5.0

with warnings.catch_warnings():
    # kafka-python 3 loads its protocol schemas with importlib.resources.read_text, which
    # warns on Python 3.11/3.12 at import time; that is the library's business, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError


@dataclass(frozen=True)
class Services:
    """Where the real servers answer."""

    kafka_bootstrap: str  # host:port
    redis_url: str  # redis://host:port/db


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test, marked or not."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _unavailable(reason: str) -> NoReturn:
    missing(f"integration services unavailable: {reason}; {HINT}")


def kafka_admin(bootstrap: str, timeout_s: float = 30.0) -> KafkaAdminClient:
    ms = int(timeout_s * 1000)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="stream-al-tests",
        request_timeout_ms=ms,
        api_version_auto_timeout_ms=ms,
    )


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int | None:
    """The offset ``group`` committed for ``topic``'s ``partition``, or None (also while
    the broker cannot say yet: a broker just restarted answers before its group
    coordinator has loaded, with a retriable error, which failed a wait on this)."""
    admin = kafka_admin(bootstrap)
    try:
        offsets = admin.list_consumer_group_offsets(group)
    except KafkaError as exc:
        if exc.retriable:
            return None
        raise
    finally:
        admin.close()
    found = offsets.get(TopicPartition(topic, partition))
    return None if found is None else found.offset


def _kafka_problem(bootstrap: str) -> str | None:
    admin = None
    # While a broker is unreachable kafka-python logs every refused connection.
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.setLevel(logging.CRITICAL)
    try:
        admin = kafka_admin(bootstrap, CHECK_TIMEOUT_S)
        admin.list_topics()
        return None
    except Exception as exc:
        return f"Kafka at {bootstrap} does not answer ({type(exc).__name__}: {exc})"
    finally:
        if admin is not None:
            admin.close()
        kafka_logger.setLevel(level)


def _redis_problem(url: str) -> str | None:
    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
    )
    try:
        if client.ping() is True:
            return None
        return f"Redis at {url} did not answer PONG"
    except Exception as exc:
        return f"Redis at {url} does not answer ({type(exc).__name__}: {exc})"
    finally:
        client.close()


@pytest.fixture(scope="session")
def services() -> Services:
    """The running servers: environment variables first, then .services/env."""
    from_file = _read_env_file(ENV_FILE)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP") or from_file.get("KAFKA_BOOTSTRAP")
    url = os.environ.get("REDIS_URL") or from_file.get("REDIS_URL")
    missing = [
        name for name, value in (("KAFKA_BOOTSTRAP", bootstrap), ("REDIS_URL", url)) if not value
    ]
    if missing:
        _unavailable(f"{' and '.join(missing)} not set and not in {ENV_FILE}")
    assert bootstrap is not None and url is not None
    problems = [p for p in (_kafka_problem(bootstrap), _redis_problem(url)) if p]
    if problems:
        _unavailable("; ".join(problems))
    return Services(kafka_bootstrap=bootstrap, redis_url=url)


@pytest.fixture
def redis_client(services: Services) -> Iterator[redis.Redis]:
    """A client on the spare database 15 (responses as bytes), empty before and after."""
    parts = urlsplit(services.redis_url)
    client = redis.Redis.from_url(urlunsplit(parts._replace(path=f"/{SPARE_REDIS_DB}")))
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def _wait_for_leaders(admin: KafkaAdminClient, name: str, partitions: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [topic] = admin.describe_topics([name])
        found = topic.get("partitions") or []
        if len(found) == partitions and all(p.get("leader", -1) >= 0 for p in found):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} has no leaders after 30 s")


def topic_name(prefix: str = "it") -> str:
    """A fresh, unique topic name."""
    return f"stream-al-{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def topic_maker(bootstrap: str) -> Iterator[Callable[..., str]]:
    """A factory on the broker at ``bootstrap``: ``make(partitions=1, prefix="it",
    name=None)`` creates the topic ``name`` (else a fresh one, see :func:`topic_name`), waits
    for its leaders and returns its name; every topic made is deleted at the end."""
    admin = kafka_admin(bootstrap)
    created: list[str] = []

    def make(partitions: int = 1, prefix: str = "it", name: str | None = None) -> str:
        name = name or topic_name(prefix)
        admin.create_topics([NewTopic(name, partitions, 1)])
        created.append(name)
        _wait_for_leaders(admin, name, partitions)
        return name

    try:
        yield make
    finally:
        try:
            if created:
                with contextlib.suppress(Exception):  # best effort: the broker is the test's
                    admin.delete_topics(created)
        finally:
            admin.close()


@pytest.fixture
def kafka_topic(services: Services) -> Iterator[Callable[..., str]]:
    """A factory: `kafka_topic(partitions=1)` creates a fresh, uniquely named topic (its
    leaders elected) and returns its name; every topic made is deleted after the test."""
    with topic_maker(services.kafka_bootstrap) as make:
        yield make


@pytest.fixture
def backend() -> str:
    """The Kafka client library serve runs on (STREAM_AL_KAFKA__BACKEND): kafka-python,
    unless a test is parametrized over ``BACKENDS`` (tests/integration/deployment.py)."""
    return "kafka-python"


@pytest.fixture
def deployment(
    services: Services,
    kafka_topic: Callable[..., str],
    redis_client: redis.Redis,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    """A stream-al deployment with fresh topics and its own Redis prefix, on ``backend``;
    every process it started is stopped afterwards (their logs are printed when the test
    failed)."""
    from tests.integration.deployment import Deployment, spare_db_url

    if backend == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
        _unavailable("confluent-kafka is not installed (pip install -e '.[test]')")
    partitions = getattr(request, "param", 1)
    d = Deployment(
        bootstrap=services.kafka_bootstrap,
        redis_url=spare_db_url(services.redis_url, SPARE_REDIS_DB),
        events_topic=kafka_topic(partitions=partitions, prefix="events"),
        predictions_topic=kafka_topic(partitions=1, prefix="predictions"),
        dead_letter_topic=kafka_topic(partitions=1, prefix="dlq"),
        workdir=tmp_path,
        backend=backend,
    )
    try:
        yield d
    finally:
        stop_reporting(d, request)


def stop_reporting(d: Any, request: pytest.FixtureRequest) -> None:
    """Stop every process of the deployment ``d``; when the test failed, print where each
    was, what its readiness said and its output."""
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    # Where each live process is and what its readiness says, before it is killed.
    states: dict[str, str] = {}
    for proc in d.procs if failed else []:
        if proc.alive() and proc.metrics_port is not None:
            status, says = proc.readyz()
            states[proc.log.name] = f"{status} {says}"
        proc.dump_stacks()
    d.stop_all()
    for proc in d.procs if failed else []:
        state = states.get(proc.log.name, "")
        print(f"----- {proc.log.name} {state} -----\n{proc.output()[-8000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- servers a fault test stops and starts -------------------------------------------------


def _gone(pid: int) -> bool:
    """The process exited (or is a zombie nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class Broker:
    """The Kafka broker `scripts/services` runs, which a fault test stops and starts again
    (same command line, same data: its topics and committed offsets survive)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.state = ROOT / ".services" / "kafka"
        pid = self.pid()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        self.command = [part.decode() for part in cmdline if part]
        self._child: subprocess.Popen[bytes] | None = None

    def pid(self) -> int:
        return int((self.state / "kafka.pid").read_text())

    def running(self) -> bool:
        return not _gone(self.pid())

    def answers(self) -> bool:
        return _kafka_problem(self.bootstrap) is None

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), and wait until the process is gone."""
        pid = self.pid()
        if self._child is not None and self._child.pid == pid:
            self._child.terminate()
            self._child.wait(60)
        else:
            os.kill(pid, signal.SIGTERM)
            _until(lambda: _gone(pid), 60, "the broker to stop")

    def kill(self) -> None:
        """SIGKILL: the broker dies at once, requests in flight (a crash, an OOM kill)."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        if self._child is not None and self._child.pid == pid:
            self._child.wait(30)
        _until(lambda: _gone(pid), 30, "the broker to die")

    def pause(self) -> None:
        """SIGSTOP: the broker hangs, its connections stay open (a partition, a stall)."""
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)

    def start(self, timeout: float = 90.0) -> None:
        """Start it again and wait until it answers an admin request."""
        with (self.state / "kafka.out").open("ab") as out:
            self._child = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.state / "kafka.pid").write_text(f"{self._child.pid}\n")  # `services down` stops it
        _until(self.answers, timeout, "the broker to answer again")


class SecondBroker:
    """A broker of one test module's own beside the shared one: the same Kafka (the shared
    broker's command line: its Java, jars and memory), its own free loopback ports and
    data directory, and the shared broker's properties with ``overrides`` (say
    ``auto.create.topics.enable=false``). :meth:`stop` kills it; its data is a temporary
    directory's."""

    def __init__(self, shared: Broker, workdir: Path, overrides: dict[str, str]) -> None:
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            b.bind(("127.0.0.1", 0))
            port, controller = int(a.getsockname()[1]), int(b.getsockname()[1])
        self.bootstrap = f"127.0.0.1:{port}"
        self.workdir = workdir
        properties = _read_properties(shared.state / "server.properties")
        properties.update(
            {
                "listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://127.0.0.1:{controller}",
                "advertised.listeners": f"PLAINTEXT://{self.bootstrap}",
                "controller.quorum.voters": f"1@127.0.0.1:{controller}",
                "log.dirs": str(workdir / "data"),
                **overrides,
            }
        )
        workdir.mkdir(parents=True, exist_ok=True)
        self.properties = workdir / "server.properties"
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        log4j = (shared.state / "log4j.properties").read_text()
        (workdir / "log4j.properties").write_text(
            log4j.replace(str(shared.state / "kafka.log"), str(workdir / "kafka.log"))
        )
        main = shared.command.index("kafka.Kafka")
        self.jvm = [
            f"-Dlog4j.configuration=file:{workdir / 'log4j.properties'}"
            if part.startswith("-Dlog4j.configuration=")
            else part
            for part in shared.command[:main]
        ]
        self._proc: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        return _kafka_problem(self.bootstrap) is None

    def start(self, timeout: float = 90.0) -> SecondBroker:
        """Format its storage, start it and wait until it answers an admin request."""
        cluster = "-"
        while cluster.startswith("-"):  # Kafka refuses such an id (it reads as an option)
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        storage = [*self.jvm, "kafka.tools.StorageTool", "format", "-c", str(self.properties)]
        subprocess.run(
            [*storage, "-t", cluster],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        with (self.workdir / "kafka.out").open("ab") as out:
            self._proc = subprocess.Popen(
                [*self.jvm, "kafka.Kafka", str(self.properties)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _until(
            lambda: self._proc is not None and self._proc.poll() is None and self.answers(),
            timeout,
            f"the second broker to answer (its log: {self.workdir / 'kafka.out'})",
        )
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # its data is thrown away: no clean shutdown to wait for
            self._proc.wait(30)


def _read_properties(path: Path) -> dict[str, str]:
    properties: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            properties[key.strip()] = value.strip()
    return properties


@pytest.fixture
def broker(services: Services) -> Iterator[Broker]:
    """The shared broker, for a test that stops it; running again when the test ends."""
    b = Broker(services.kafka_bootstrap)
    try:
        yield b
    finally:
        if b.running():
            b.resume()
        else:
            b.start()


def _redis_port(cluster: bool) -> int:
    """A free loopback port; for a cluster node one below 55536: its cluster bus listens
    10,000 above it, and a node whose bus port would pass 65535 exits at start."""
    from tests.integration.deployment import free_port  # here, as the fixtures import it

    while True:
        port = free_port()
        if not cluster or port <= 55535:
            return port


class RedisServer:
    """A Redis of one test's own, on a free loopback port: durable (append-only file,
    fsync always: a kill loses nothing) or not, with a password or not."""

    def __init__(
        self,
        workdir: Path,
        durable: bool = True,
        password: str | None = None,
        args: Sequence[str] = (),
    ):
        self.port = _redis_port(cluster="--cluster-enabled" in args)
        self.workdir = workdir
        self.durable = durable
        self.password = password
        self.args = list(args)  # more options of redis-server's, e.g. ["--cluster-enabled", "yes"]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--dir", str(self.workdir), "--appendonly", "yes" if self.durable else "no"]
        cmd += ["--appendfsync", "always"]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd + self.args

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def answers(self) -> bool:
        try:
            return bool(self.client(0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> RedisServer:
        log = self.workdir / "redis.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        proc = self.proc
        _until(lambda: self.answers() or proc.poll() is not None, 20, "redis to answer")
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"redis-server exited {proc.returncode}:\n{tail}")
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye (the durable one has every write on disk already)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """A factory: ``redis_server(durable=True, password=None, args=())`` starts a Redis of
    the test's own (see :class:`RedisServer`); every one is killed when the test ends."""
    made: list[RedisServer] = []

    def make(
        durable: bool = True, password: str | None = None, args: Sequence[str] = ()
    ) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(made)}", durable, password, args)
        made.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in made:
            server.kill()
