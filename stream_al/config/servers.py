"""The settings of what serve and the workers talk to and expose: Kafka, Redis, the
service loop, checkpoints, the metrics endpoint, the workers and Label Studio."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    NoDecode,
)

from stream_al.core.feature_kinds import MAX_CLASSES, label_size_problem
from stream_al.core.routing import Routing

__all__ = [
    "LABEL_STUDIO_PREFIX",
    "MAX_SECONDS",
    "MIN_CHECKPOINT_KEY_BYTES",
    "SHUTDOWN_CLOSE_S",
    "CheckpointSettings",
    "KafkaSettings",
    "LabelStudioSettings",
    "MetricsSettings",
    "RedisSettings",
    "Secret",
    "ServiceSettings",
    "WorkerSettings",
    "topic_name",
]


def _not_empty(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("is set but empty: give the secret, or unset the variable")
    return value


Secret = Annotated[SecretStr, AfterValidator(_not_empty)]
"""A secret setting: prints as ``**********``; set to nothing, it is refused (an empty
password or key is a mistake, e.g. an unset variable interpolated into a file)."""

MIN_CHECKPOINT_KEY_BYTES = 16


def topic_name(name: str) -> str:
    """``name`` if Kafka takes it as a topic name, else a ValueError saying its rule.

    >>> topic_name("stream-al.events")
    'stream-al.events'

    """
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name) or name in (".", ".."):
        raise ValueError(
            f"{name!r} is no Kafka topic name: 1 to 249 letters, digits, '.', '_' or '-'"
        )
    return name


# The longest duration a setting takes, ten years: Redis takes times as milliseconds in
# 64-bit integers and sockets and timers as C time values, which overflow far beyond it.
MAX_SECONDS = 10 * 365 * 24 * 3600.0

SHUTDOWN_CLOSE_S = 5.0
"""What closing serve's Kafka clients may add to ``STREAM_AL_SERVICE__SHUTDOWN_SECONDS``
(the consumer leaving its group, the producer dropping what it could not deliver): serve
ends within the sum of the signal, or exits at once then."""

MAX_VOTES = 100
"""The most votes an item may need (``crowd_votes``, ``expert_votes``)."""


class KafkaSettings(BaseModel):
    """The Kafka cluster and topics (security settings are passed to the client library)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    backend: Literal["kafka-python", "confluent"] = Field(
        "kafka-python",
        description="Client library of serve: kafka-python, or confluent "
        "(librdkafka, faster; from a checkout: pip install -e '.[fast]').",
    )
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    events_topic: str = Field("stream-al.events", description="Events in.")
    predictions_topic: str = Field(
        "stream-al.predictions", description="Predictions out; empty = publish none."
    )
    dead_letter_topic: str = Field(
        "stream-al.dead-letters", description="Invalid events, with the reason."
    )
    group_id: str = Field("stream-al", min_length=1, description="Consumer group of serve.")
    client_id: str = Field("stream-al", description="Kafka client id.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts."
    )
    max_poll_records: int = Field(500, ge=1, le=100_000, description="Events per batch at most.")
    # Labels are joined and the loop's heartbeat is taken between polls: a long wait on a
    # quiet stream delays both (readiness turns 503 after 5 s without a turn).
    poll_timeout_ms: int = Field(
        200, ge=0, le=1_000, description="How long a poll waits for events."
    )
    # Below the consumer's request timeout (305 s) and the broker's default
    # group.max.session.timeout.ms (30 min), which refuse longer sessions.
    session_timeout_ms: int = Field(
        10_000, ge=1000, le=300_000, description="Consumer session timeout."
    )
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="Consumer heartbeat.")
    delivery_timeout_ms: int = Field(
        120_000,
        ge=1000,
        le=2**31 - 1,  # librdkafka's message.timeout.ms is a 32-bit integer
        description="How long a prediction or dead letter may wait for the broker; a send "
        "that fails or times out is sent again and its batch stays uncommitted.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: str | None = Field(None, description="e.g. PLAIN, SCRAM-SHA-512.")
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: Secret | None = Field(None, description="SASL password (secret).")
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL.")
    ssl_certfile: str | None = Field(None, description="Client certificate for SSL.")
    ssl_keyfile: str | None = Field(None, description="Client key for SSL.")

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be below "
                f"session_timeout_ms ({self.session_timeout_ms}); a third of it is usual"
            )
        return self

    @model_validator(mode="after")
    def _outputs_apart_from_events(self) -> KafkaSettings:
        # serve consumes the events topic: a dead letter sent there came back as an invalid
        # event and was dead-lettered again, without end (one bad event made 130 a second,
        # each of 16 KB); a prediction came back as an invalid event.
        for name, what in (
            ("dead_letter_topic", "dead letters"),
            ("predictions_topic", "predictions"),
        ):
            if getattr(self, name) == self.events_topic:
                raise ValueError(
                    f"{name} ({self.events_topic}) must not be events_topic: serve would "
                    f"consume its {what} back as events (invalid ones, each dead-lettered"
                    f"{' again, without end' if what == 'dead letters' else ''}); name "
                    "another topic"
                )
        return self

    # A bad name failed only at the first send to the predictions or dead-letter topic,
    # every batch then waiting on it for ever; the events topic at subscription.
    @field_validator("events_topic", "dead_letter_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return topic_name(value)

    @field_validator("predictions_topic")
    @classmethod
    def _optional_topic(cls, value: str) -> str:
        return value and topic_name(value)

    # None, or a port that is no number or beyond 65535: no broker can ever answer there,
    # yet serve waited for one for ever, as for a broker that is down. (An empty entry, as
    # a trailing comma makes, is passed over, as the clients do.)
    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, value: str) -> str:
        servers = [server.strip() for server in value.split(",") if server.strip()]
        if not servers:
            raise ValueError("names no server: host1:9092,host2:9092")
        for server in servers:
            try:
                where = urlsplit(f"//{server}")
                host, _ = where.hostname, where.port  # .port raises for a bad port
            except ValueError as exc:
                raise ValueError(f"{server!r} is no host:port ({exc})") from None
            if not host:
                raise ValueError(f"{server!r} is no host:port: host1:9092,host2:9092")
        return value

    def client_options(self) -> dict[str, Any]:
        """Connection and security options common to consumers, producers and admins."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                options[name] = getattr(self, name)
        return options

    def librdkafka_config(self) -> dict[str, Any]:
        """The same connection and security options as librdkafka (confluent-kafka) names them.

        >>> config = KafkaSettings(bootstrap_servers="k1:9092, k2:9092").librdkafka_config()
        >>> config["bootstrap.servers"], config["security.protocol"]
        ('k1:9092,k2:9092', 'plaintext')
        """
        servers = ",".join(s.strip() for s in self.bootstrap_servers.split(",") if s.strip())
        config: dict[str, Any] = {
            "bootstrap.servers": servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            if self.sasl_username is not None:
                config["sasl.username"] = self.sasl_username
            if self.sasl_password is not None:
                config["sasl.password"] = self.sasl_password.get_secret_value()
        for name, key in (
            ("ssl_cafile", "ssl.ca.location"),
            ("ssl_certfile", "ssl.certificate.location"),
            ("ssl_keyfile", "ssl.key.location"),
        ):
            if getattr(self, name):
                config[key] = getattr(self, name)
        return config


class RedisSettings(BaseModel):
    """The Redis server that holds the label queue, pending items, train log, checkpoints."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// (TLS) URL.")
    password: Secret | None = Field(None, description="Redis password (secret).")
    prefix: str = Field("stream_al", min_length=1, description="Prefix of every key.")
    ssl_ca_certs: str | None = Field(None, description="CA bundle for rediss:// URLs.")
    socket_timeout: float = Field(
        5.0, gt=0, le=MAX_SECONDS, description="Seconds before a call gives up."
    )
    # Redis expires in whole milliseconds and refuses 0: a shorter TTL crashed the first
    # enqueue. Under a second no labeler answers anyway.
    label_ttl_seconds: float = Field(
        7 * 24 * 3600.0,
        ge=1,
        le=MAX_SECONDS,
        description="How long a queried item waits for its label (at least 1 s).",
    )
    # The label stream is a transport: a label joined into the train log is in the log and
    # the audit trail. Kept for ever, it grew by every label (~100 bytes each).
    labels_kept_seconds: float = Field(
        24 * 3600.0,
        ge=0,
        le=MAX_SECONDS,
        description="How long the label stream keeps the labels serve has joined "
        "(trimmed at each checkpoint; labels not joined yet are always kept).",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        # redis-py reads the URL only when a command connects: a port that is no number or
        # beyond 65535, an IPv6 address without its closing bracket or a query value it
        # cannot read stopped the command there ("failed: ValueError: Port could not be
        # cast to integer value as 'x'", exit 1) without naming the setting, and a database
        # that is no number was taken as database 0. (The URL may hold a password: the
        # errors name its parts, never the URL.)
        from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

        try:
            options = parse_url(value)
        except ValueError as exc:
            raise ValueError(f"{exc} (redis://[[user]:password@]host:port/N)") from None
        # A query parameter redis-py does not know reached the connection as a keyword:
        # "failed: TypeError: ... unexpected keyword argument 'foo'" at the first command.
        known = _redis_url_options(options.get("connection_class"))
        unknown = sorted(set(options) - known - {"connection_class"})
        if unknown:
            scheme = value.split(":", 1)[0]
            typed = ", ".join(URL_QUERY_ARGUMENT_PARSERS)
            raise ValueError(
                f"unknown query parameter {unknown[0]!r} for a {scheme}:// connection "
                f"(redis-py reads {typed}, ...)"
            )
        database = urlsplit(value).path.strip("/")
        if not value.startswith("unix://") and database and not database.isdigit():
            raise ValueError(f"the database (redis://host:port/N) is a number, got {database!r}")
        return value


def _redis_url_options(connection_class: type | None) -> set[str]:
    """The keywords a Redis URL's query may set: the connection class's (the one the URL's
    scheme chooses, and its bases) and the connection pool's."""
    import inspect

    from redis.connection import Connection, ConnectionPool

    known: set[str] = set()
    for cls in (*(connection_class or Connection).__mro__, ConnectionPool):
        init = cls.__dict__.get("__init__")
        if init is not None:
            known |= {
                name
                for name, p in inspect.signature(init).parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            }
    return known


class ServiceSettings(BaseModel):
    """The serve loop."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    replica_id: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="This replica's name; one live serve process per name (a second is "
        "refused, exit 2).",
    )
    max_queue_depth: int = Field(
        10_000, ge=1, description="Label-queue size above which queries are skipped."
    )
    labels_per_loop: int = Field(
        500, ge=1, le=100_000, description="Labels joined per loop at most."
    )
    max_event_bytes: int = Field(
        65_536, ge=256, description="Larger events are dead-lettered unread."
    )
    # One labeled event with thousands of features the stream never sends again gives a
    # tree leaf a term per feature: measured, one of 7,400 made every later event 5x slower.
    max_features: int = Field(
        1_000,
        ge=1,
        le=1_000_000,
        description="Events with more features are dead-lettered (one wide event learned "
        "slows every later one).",
    )
    label_claim_idle_seconds: float = Field(
        60.0,
        gt=0,
        le=MAX_SECONDS,
        description="Labels a dead replica held are taken over after this.",
    )
    shutdown_seconds: float = Field(
        10.0,
        gt=0,
        le=MAX_SECONDS,
        description="After SIGTERM, how long serve tries to finish its batch, commit and "
        "checkpoint (Kafka or Redis away); then it exits 1, what was left uncommitted is "
        f"consumed again at the next start. It ends within {SHUTDOWN_CLOSE_S:g} s more: keep "
        "the sum below the orchestrator's grace period (30 s in deploy/).",
    )
    expert_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Queried items scoring at least this go to the expert tier, the rest "
        "to crowd (unset: all crowd).",
    )
    priority_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Queried items scoring at least this go to their tier's high-priority "
        "band, served first (unset: one band).",
    )
    # Each vote needed is a copy of the item in the queue, written by one script that
    # blocks Redis while it runs: a million froze it for every client. No crowd needs 100.
    crowd_votes: int = Field(
        1,
        ge=1,
        le=MAX_VOTES,
        description="Labels from different annotators a crowd item needs (consensus; 1-100).",
    )
    expert_votes: int = Field(
        1, ge=1, le=MAX_VOTES, description="The same for an expert item (1-100)."
    )
    min_agreement: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of the votes the majority needs; less, or a tie, escalates to "
        "one expert.",
    )
    audit_maxlen: int = Field(
        100_000,
        ge=0,
        le=10**9,  # Redis takes it as a 64-bit integer; beyond, every audit write fails
        description="About how many queries and labels the Redis audit stream keeps (0 = off).",
    )
    warm_start: str | None = Field(
        None,
        description="Labeled history learned before the first event when no checkpoint "
        "exists yet: csv:PATH, topic:NAME or model:PATH (unset: a cold start).",
    )
    warm_start_target: str | None = Field(None, description="Label column of a csv: warm start.")

    def routing(self) -> Routing:
        """Where queried items go: tiers, priority bands and votes."""
        return Routing(
            expert_threshold=self.expert_threshold,
            priority_threshold=self.priority_threshold,
            crowd_votes=self.crowd_votes,
            expert_votes=self.expert_votes,
        )


class CheckpointSettings(BaseModel):
    """Signed checkpoints of the learner in Redis."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    key: Secret | None = Field(
        None, description="HMAC key that signs checkpoints (secret; required by serve)."
    )
    dir: Path | None = Field(
        None,
        description="Directory (a mounted volume) that keeps a copy of every checkpoint; "
        "serve restarts from it when Redis has none (unset: checkpoints in Redis only).",
    )
    every_labels: int = Field(1000, ge=1, description="Checkpoint after this many labels.")
    every_seconds: float = Field(
        60.0, gt=0, le=MAX_SECONDS, description="...or after this many seconds."
    )
    trim_train_log: bool = Field(
        True, description="Drop train-log entries every checkpoint already contains."
    )


class MetricsSettings(BaseModel):
    """The HTTP endpoint: /metrics, /healthz, /readyz."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(9400, ge=0, le=65535, description="Port (0 = no endpoint).")


LABEL_STUDIO_PREFIX = "label_studio_"
"""The Label Studio settings are nested in the model and flat in their names:
``STREAM_AL_WORKER__LABEL_STUDIO_URL`` is ``settings.worker.label_studio.url``."""


class LabelStudioSettings(BaseModel):
    """The Label Studio bridge (``stream-al worker --oracle label-studio``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    url: str = Field(
        "http://127.0.0.1:8080", description="Label Studio's address (the label-studio oracle)."
    )
    token: Secret | None = Field(
        None,
        description="Label Studio personal access token, or legacy API token (secret; "
        "required by the label-studio oracle).",
    )
    project: int | None = Field(
        None,
        ge=1,
        description="Label Studio project id (unset: the project titled LABEL_STUDIO_TITLE, "
        "created if missing).",
    )
    title: str = Field(
        "stream-al", min_length=3, description="Title of the Label Studio project to use or create."
    )
    max_open_tasks: int = Field(
        100, ge=1, description="Items held as Label Studio tasks awaiting an annotation, at most."
    )
    poll_seconds: float = Field(
        30.0,
        gt=0,
        le=MAX_SECONDS,
        description="How often held tasks are read back from Label Studio.",
    )
    webhook_url: str | None = Field(
        None,
        description="Where Label Studio reaches the bridge's webhook, e.g. "
        "http://127.0.0.1:8601/ (unset: no webhook, polling only).",
    )
    webhook_host: str = Field(
        "127.0.0.1", description="Bind address of the Label Studio webhook endpoint."
    )
    webhook_port: int = Field(
        8601, ge=0, le=65535, description="Port of the Label Studio webhook endpoint."
    )
    webhook_secret: Secret | None = Field(
        None, description="Shared secret Label Studio sends the webhook (secret; optional)."
    )


class WorkerSettings(BaseModel):
    """The labeling worker."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(
        default_factory=lambda: f"worker-{socket.gethostname()}-{os.getpid()}",
        description="Consumer name in the workers' group.",
    )
    claim_idle_seconds: float = Field(
        300.0,
        gt=0,
        le=MAX_SECONDS,
        description="Items a dead worker held are taken over after this.",
    )
    annotator: str = Field("", description="Annotator name on labels (default: the oracle).")
    tier: Literal["crowd", "expert"] = Field("crowd", description="Which tier's items to label.")
    web_host: str = Field("127.0.0.1", description="Bind address of the web labeling page.")
    web_port: int = Field(8600, ge=0, le=65535, description="Port of the web labeling page.")
    web_token: Secret | None = Field(
        None, description="Access token of the web labeling page (secret; required by it)."
    )
    undo_seconds: float = Field(
        5.0,
        ge=0,
        le=MAX_SECONDS,
        description="How long a web answer can be undone before it is written.",
    )
    stale_seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_SECONDS,
        description="Drop (and count) items queued longer ago (unset: never).",
    )
    classes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The only classes people may answer (terminal, web page, Label Studio), "
        "comma-separated, in number-key order (unset: the model's classes, and a new one "
        "after a confirmation).",
    )
    label_studio: LabelStudioSettings = Field(default_factory=lambda: LabelStudioSettings())

    @field_validator("classes", mode="before")
    @classmethod
    def _class_list(cls, value: Any) -> Any:
        # "cat,dog" in the environment; a list in a TOML file.
        if isinstance(value, str):
            value = [c.strip() for c in value.split(",")]
        if isinstance(value, list):
            value = [str(c) for c in value if str(c).strip()]
            if len(set(value)) != len(value):
                raise ValueError(f"names a class twice: {', '.join(value)}")
            # What serve's model takes: a class no model learns cannot be offered.
            if len(value) > MAX_CLASSES:
                raise ValueError(f"names {len(value):,} classes; a model learns {MAX_CLASSES:,}")
            for name in value:
                problem = label_size_problem(name)
                if problem is not None:
                    raise ValueError(f"{problem}: {name[:40]}...")
        return value

    @model_validator(mode="before")
    @classmethod
    def _nest_label_studio(cls, data: Any) -> Any:
        # The variables stay flat (STREAM_AL_WORKER__LABEL_STUDIO_URL, [worker]
        # label_studio_url); the model nests them.
        if not isinstance(data, dict):
            return data
        flat = {k for k in data if k.startswith(LABEL_STUDIO_PREFIX)}
        if not flat:
            return data
        nested = dict(data.get("label_studio") or {})
        nested.update({k.removeprefix(LABEL_STUDIO_PREFIX): data[k] for k in flat})
        return {**{k: v for k, v in data.items() if k not in flat}, "label_studio": nested}
