"""kafka-python's topic catalog without a broker: the topics, the broker's auto-creation,
and what it says when that cannot be read."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kafka.errors import IncompatibleBrokerVersion, KafkaConnectionError

from stream_al.io.kafka import TopicCatalog, _MetadataResponseV10
from stream_al.runtime.backoff import RECOVERABLE


class _Admin:
    """What the catalog asks of kafka-python's admin client."""

    def __init__(self, resource: dict[str, Any] | Exception, topics: tuple[str, ...]) -> None:
        self.resource = resource
        self.topics = topics
        self.asked: list[Any] = []
        self.metadata_versions = (0, 12)  # Kafka 3.9's
        self.topic_id = bytes.fromhex("43f43e43e32e4c33b2a7f84907728b0d")
        self._client = SimpleNamespace(get_api_versions=lambda: {3: self.metadata_versions})

    def send_request(self, request: Any) -> Any:
        """The broker's answer to a metadata request, through the wire format both ways."""
        sent = type(request).decode(request.encode())  # what the broker reads
        self.asked.append(sent)
        [(_, name, _)] = sent.topics
        known = name in self.topics
        topic = (0 if known else 3, name, self.topic_id if known else bytes(16), False, [], 0, {})
        answer = _MetadataResponseV10(0, [(1, "k", 9092, None, {})], "c", 1, [topic], 0, {})
        return _MetadataResponseV10.decode(answer.encode())

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"node_id": 2}, {"node_id": 1}]}

    def describe_configs(self, resources: list[Any]) -> list[Any]:
        self.asked.extend(resources)
        if isinstance(self.resource, Exception):
            raise self.resource
        return [SimpleNamespace(to_object=lambda: {"resources": [self.resource]})]


def _catalog(
    resource: dict[str, Any] | Exception, topics: tuple[str, ...] = ("a",)
) -> TopicCatalog:
    catalog = TopicCatalog.__new__(TopicCatalog)  # no broker: the admin client is a fake
    catalog.admin = _Admin(resource, topics)
    catalog.followed = "events"
    return catalog


def _config(value: str) -> dict[str, Any]:
    entry = {"config_names": "auto.create.topics.enable", "config_value": value}
    return {"error_code": 0, "error_message": "", "config_entries": [entry]}


@pytest.mark.parametrize("value", ["true", "false"])
def test_the_topics_and_the_brokers_auto_creation_are_read(value: str) -> None:
    catalog = _catalog(_config(value), ("events", "__consumer_offsets"))
    found = catalog.describe()
    assert found.existing == {"events", "__consumer_offsets"}
    assert found.auto_create is (value == "true") and found.unread == ""
    asked, metadata = catalog.admin.asked
    assert (asked.name, asked.configs) == ("1", {"auto.create.topics.enable": None})
    assert metadata.allow_auto_topic_creation is False  # a look creates no topic
    assert found.ids == {"events": "Q_Q-Q-MuTDOyp_hJB3KLDQ"}  # as kafka-topics.sh prints it


def test_no_id_is_asked_for_an_events_topic_that_does_not_exist_nor_of_an_old_broker() -> None:
    absent = _catalog(_config("true"), ("a",))
    assert absent.describe().ids == {}
    assert len(absent.admin.asked) == 1  # the configuration only
    old = _catalog(_config("true"), ("events",))
    old.admin.metadata_versions = (0, 9)  # before Kafka 2.8: no topic ids
    assert old.describe().ids == {} and len(old.admin.asked) == 1


def test_an_events_topic_gone_since_the_listing_has_no_id() -> None:
    catalog = _catalog(_config("true"), ("events",))
    catalog.admin.topics = ()  # the listing saw it; the metadata request does not
    catalog.admin.list_topics = lambda: ["events"]  # type: ignore[method-assign]
    assert catalog.describe().ids == {}


def test_a_configuration_the_client_may_not_read_is_unknown_with_the_reason() -> None:
    refused = {"error_code": 31, "error_message": "not authorised", "config_entries": []}
    found = _catalog(refused).describe()
    assert found.auto_create is None
    assert found.unread == "ClusterAuthorizationFailedError: not authorised"


def test_a_broker_too_old_to_describe_its_configuration_is_unknown() -> None:
    found = _catalog(IncompatibleBrokerVersion("DescribeConfigs")).describe()
    assert found.auto_create is None and "does not describe its configuration" in found.unread


def test_a_broker_away_is_waited_out_like_any_outage() -> None:
    with pytest.raises(RECOVERABLE):  # translated at the edge: BrokerUnavailable
        _catalog(KafkaConnectionError("broker away")).describe()
