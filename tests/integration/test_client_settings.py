"""Settings the Kafka client refuses, against a real broker: a configuration error (exit 2
naming the settings), not an outage to wait out for ever."""

from __future__ import annotations

import pytest

from stream_al.config import KafkaSettings
from stream_al.errors import ConfigurationError
from stream_al.io.kafka import EventSource
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
