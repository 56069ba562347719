"""The Kafka client library serve runs on: kafka-python (the default) or confluent-kafka
(librdkafka, ``STREAM_AL_KAFKA__BACKEND=confluent``; imported only when chosen)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerFatalError, ConfigurationError
from stream_al.io.base import ProbedEventSource, Publisher, TopicCatalog

__all__ = ["KafkaBackend", "kafka_backend"]

T = TypeVar("T")


@dataclass(frozen=True)
class KafkaBackend:
    """How to make a backend's event source, publisher and topic catalog, and the errors
    after which serve cannot go on (it exits with code 1)."""

    name: str
    source: Callable[[KafkaSettings], ProbedEventSource]
    publisher: Callable[[KafkaSettings], Publisher]
    topics: Callable[[KafkaSettings], TopicCatalog]
    fatal: tuple[type[Exception], ...] = (BrokerFatalError,)

    def make_source(self, settings: KafkaSettings) -> ProbedEventSource:
        return _made(self.source, settings)

    def make_publisher(self, settings: KafkaSettings) -> Publisher:
        return _made(self.publisher, settings)

    def make_topics(self, settings: KafkaSettings) -> TopicCatalog:
        return _made(self.topics, settings)


def _made(factory: Callable[[KafkaSettings], T], settings: KafkaSettings) -> T:
    try:
        return factory(settings)
    except ValueError as exc:  # settings the client library refuses
        raise ConfigurationError(f"kafka: {exc}") from None


def kafka_backend(settings: KafkaSettings) -> KafkaBackend:
    """The backend ``STREAM_AL_KAFKA__BACKEND`` names; a missing confluent-kafka is a
    configuration error."""
    if settings.backend == "confluent":
        try:
            from stream_al.io import kafka_confluent
        except ModuleNotFoundError as exc:
            if exc.name != "confluent_kafka":
                raise
            raise ConfigurationError(
                "STREAM_AL_KAFKA__BACKEND=confluent needs confluent-kafka: from a checkout, "
                "pip install -e '.[fast]' (or scripts/setup fast,plot); the container image "
                "has it"
            ) from None
        return KafkaBackend(
            "confluent",
            kafka_confluent.ConfluentEventSource,
            kafka_confluent.ConfluentPublisher,
            kafka_confluent.ConfluentTopicCatalog,
            (kafka_confluent.ConfluentFatalError,),
        )
    from stream_al.io import kafka

    return KafkaBackend("kafka-python", kafka.EventSource, kafka.Publisher, kafka.TopicCatalog)
