"""Fixtures for the integration tests: a real Kafka broker and a real Redis server.

Start them with `scripts/services up` (`eval "$(scripts/services up)"` also sets
KAFKA_BOOTSTRAP and REDIS_URL in the shell); these fixtures read the two variables from the
environment, or else from `.services/env`. When the servers are missing or do not answer,
the tests are skipped, except under CI (CI=true) where they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".services" / "env"
HINT = 'run `scripts/services up` first (or `eval "$(scripts/services up)"`)'
SPARE_REDIS_DB = 15  # tests own this database: it is flushed before and after each test
CHECK_TIMEOUT_S = 5.0

with warnings.catch_warnings():
    # kafka-python 3 loads its protocol schemas with importlib.resources.read_text, which
    # warns on Python 3.11/3.12 at import time; that is the library's business, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.admin import KafkaAdminClient, NewTopic


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
    message = f"integration services unavailable: {reason}; {HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def kafka_admin(bootstrap: str, timeout_s: float = 30.0) -> KafkaAdminClient:
    ms = int(timeout_s * 1000)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="stream-al-tests",
        request_timeout_ms=ms,
        api_version_auto_timeout_ms=ms,
    )


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


@pytest.fixture
def kafka_topic(services: Services) -> Iterator[Callable[..., str]]:
    """A factory: `kafka_topic(partitions=1)` creates a fresh, uniquely named topic (its
    leaders elected) and returns its name; every topic made is deleted after the test."""
    admin = kafka_admin(services.kafka_bootstrap)
    created: list[str] = []

    def make(partitions: int = 1, prefix: str = "it") -> str:
        name = f"stream-al-{prefix}-{uuid.uuid4().hex[:12]}"
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
        d.stop_all()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            for proc in d.procs:
                print(f"----- {proc.log.name} -----\n{proc.output()[-4000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
