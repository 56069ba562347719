"""Settings the Kafka client or Redis refuses, against the real servers: a configuration
error (exit 2 naming the settings), not an outage to wait out or a bare exception."""

from __future__ import annotations

import pytest

from stream_al.config import KafkaSettings
from stream_al.errors import ConfigurationError
from stream_al.io.kafka import EventSource
from stream_al.io.redis import RedisStore, connect
from stream_al.runtime.backoff import RECOVERABLE
from tests.integration.conftest import Services


def test_settings_the_client_refuses_are_a_configuration_error(services: Services) -> None:
    """kafka-python's KafkaConfigurationError was translated as the broker being away:
    serve logged 'waiting for kafka' every few seconds beside a broker that answered."""
    # model_copy does not validate: what the settings' own checks might let through
    bad = KafkaSettings(bootstrap_servers=services.kafka_bootstrap).model_copy(
        update={"session_timeout_ms": 400_000}  # above the client's request timeout
    )
    with pytest.raises(ConfigurationError, match="STREAM_AL_KAFKA__") as refused:
        EventSource(bad)
    assert "session timeout" in str(refused.value)
    assert not isinstance(refused.value, RECOVERABLE)


def test_a_database_number_redis_lacks_is_a_configuration_error(services: Services) -> None:
    """It failed serve, the worker and select with 'failed: ResponseError: DB index is out
    of range' (exit 1)."""
    base = services.redis_url.rsplit("/", 1)[0]
    store = RedisStore(connect(f"{base}/16"), prefix="it-db", consumer="c")  # 0-15 exist
    with pytest.raises(ConfigurationError, match="STREAM_AL_REDIS__URL"):
        store.ensure_groups()
