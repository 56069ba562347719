"""Settings: one pydantic-settings model, read from ``STREAM_AL_*`` environment variables.

Nested settings use ``__``: ``STREAM_AL_LEARNER__BUDGET=0.05``,
``STREAM_AL_LEARNER__DRIFT__RESTART=reset``. A TOML file (``--config``) may hold the same
settings in sections (``[learner]``, ``[kafka]``, ...); the environment wins over the
file, and command-line flags win over both. Secrets (the Redis and SASL passwords, the
checkpoint key, tokens) are :data:`Secret`: they print as ``**********``, and one set to
nothing is refused (serve also wants a checkpoint key of at least 16 bytes).

Examples
--------
>>> import os
>>> os.environ["STREAM_AL_LEARNER__BUDGET"] = "0.05"
>>> Settings().learner.budget
0.05
>>> del os.environ["STREAM_AL_LEARNER__BUDGET"]

"""

from __future__ import annotations

import dataclasses
import difflib
import os
import socket
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from stream_al.core.candidates import DEFAULT_CANDIDATES
from stream_al.core.drift import DriftReaction
from stream_al.core.models import MODELS
from stream_al.core.routing import Routing
from stream_al.core.shaping import Shaping
from stream_al.core.spec import LearnerSpec
from stream_al.core.strategies import STRATEGIES, make_strategy
from stream_al.core.uncertainty import NAMES

__all__ = [
    "MIN_CHECKPOINT_KEY_BYTES",
    "CheckpointSettings",
    "DriftSettings",
    "KafkaSettings",
    "LabelStudioSettings",
    "LearnerSettings",
    "MetricsSettings",
    "RedisSettings",
    "Secret",
    "SelectionSettings",
    "ServiceSettings",
    "Settings",
    "WorkerSettings",
    "load_settings",
    "unknown_variables",
]

_Model = TypeVar("_Model", bound=BaseModel)


def _not_empty(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("is set but empty: give the secret, or unset the variable")
    return value


Secret = Annotated[SecretStr, AfterValidator(_not_empty)]
"""A secret setting: prints as ``**********``; set to nothing, it is refused (an empty
password or key is a mistake, e.g. an unset variable interpolated into a file)."""

MIN_CHECKPOINT_KEY_BYTES = 16


def _fields_of(
    source: type, fields: dict[str, FieldInfo]
) -> Callable[[type[_Model]], type[_Model]]:
    """Give a settings model the fields of the dataclass ``source``.

    The names, types and defaults come from ``source``; ``fields`` adds each field's
    bounds and description (the settings table shows them), and must name every field.
    """
    names = [f.name for f in dataclasses.fields(source)]
    if sorted(names) != sorted(fields):
        raise TypeError(f"settings of {source.__name__} must describe exactly {names}")
    hints = get_type_hints(source)

    def add(cls: type[_Model]) -> type[_Model]:
        declared: dict[str, Any] = {
            f.name: (Annotated[hints[f.name], fields[f.name]], f.default)
            for f in dataclasses.fields(source)
        }
        return create_model(
            cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__, **declared
        )

    return add


@_fields_of(
    DriftReaction,
    {
        "enabled": Field(description="Run the drift monitor."),
        "delta": Field(gt=0, lt=1, description="ADWIN confidence parameter."),
        "boost_factor": Field(ge=1, description="Budget multiplier after a drift (1 = no boost)."),
        "boost_events": Field(ge=0, description="Events the budget boost lasts."),
        "restart": Field(description="Model restart on drift: warm re-learns the recent labels."),
        "buffer_size": Field(ge=0, description="Recent labeled examples kept for a warm restart."),
        "challenger_every": Field(
            ge=0, description="Labels between challenger models (0 = no challenger)."
        ),
        "challenger_min": Field(
            ge=1, description="Labels a challenger learns before it may replace the model."
        ),
        "challenger_max": Field(
            ge=1, description="Labels after which a challenger that has not won is dropped."
        ),
        "challenger_z": Field(
            ge=0, description="McNemar z a challenger must reach to replace the model."
        ),
        "label_free": Field(
            description="Also watch every event's uncertainty (ADWIN, no labels needed); "
            "a rise boosts the budget before labels confirm the drift."
        ),
        "label_free_delta": Field(
            gt=0, lt=1, description="ADWIN confidence parameter of the label-free monitor."
        ),
    },
)
class DriftSettings(BaseModel):
    """The drift monitor (ADWIN on the errors of labeled items) and its reaction.

    Its fields are :class:`~stream_al.core.drift.DriftReaction`'s: the names, types and
    defaults come from there, the bounds and descriptions are the settings' own.
    """

    model_config = ConfigDict(extra="forbid")

    def reaction(self) -> DriftReaction:
        return DriftReaction(**self.model_dump())


class SelectionSettings(BaseModel):
    """The ``auto`` model: the candidates that learn the labels, and how one is chosen."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[str] = Field(
        list(DEFAULT_CANDIDATES),
        description="Models that learn the same labels under model auto (the first serves "
        "until another proves better).",
    )
    z: float = Field(
        2.0, ge=0, description="Standard deviations a candidate must lead the served one by."
    )
    memory: int = Field(1000, ge=1, description="Labels the race between candidates remembers.")
    labels: Literal["random", "all"] = Field(
        "all",
        description="Labels that judge the race: all, or random (only those asked at random: "
        "unbiased, but too few at small budgets).",
    )

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one candidate model")
        for name in value:
            if name == "auto":
                raise ValueError("a candidate of model auto cannot be auto itself")
            _known(name, MODELS, "model")
        return value

    def params(self) -> dict[str, Any]:
        """The ``auto`` model's parameters."""
        return {
            "names": tuple(self.candidates),
            "z": self.z,
            "memory": self.memory,
            "labels": self.labels,
        }


class LearnerSettings(BaseModel):
    """The model, the query strategy and the label budget."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "auto",
        description="Model name (stream-al models); auto: candidates learn the same labels, "
        "the most accurate serves.",
    )
    strategy: str = Field(
        "variable-uncertainty", description="Query strategy (stream-al strategies)."
    )
    budget: float = Field(0.1, gt=0, le=1, description="Fraction of events (or cost) to label.")
    window: int = Field(1000, ge=1, description="Memory of the budget estimate, in events.")
    unit: Literal["events", "cost"] = Field(
        "events", description="Budget counted in events or in the events' label cost."
    )
    uncertainty: str = Field(
        "auto",
        description="Uncertainty: auto (leaf for trees that split on few labels, else "
        "least-confidence; it follows the served model), least-confidence, margin, entropy, "
        "leaf.",
    )
    seed: int = Field(0, description="Seed of the strategy's and model's random numbers.")
    strategy_params: dict[str, float] = Field(
        default_factory=dict,
        description="Strategy parameters by name, e.g. {k = 1.5} (see stream-al strategies).",
    )
    density_beta: float = Field(
        0.0, ge=0, description="Density weighting exponent: score x density^beta (0 = off)."
    )
    imbalance: float = Field(
        0.0, ge=0, description="Weight up items predicted as rarely labeled classes (0 = off)."
    )
    cost_power: float = Field(
        0.0, ge=0, description="Rank by score / cost^power (1 = information per unit cost)."
    )
    stop_after: int = Field(
        0,
        ge=0,
        description="Stop asking (but at random) after this many labels without a gain "
        "in random-slice accuracy; a drift resumes (0 = never).",
    )
    drift: DriftSettings = Field(default_factory=DriftSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return _known(value, MODELS, "model")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return _known(value, STRATEGIES, "strategy")

    @field_validator("uncertainty")
    @classmethod
    def _known_measure(cls, value: str) -> str:
        return _known(value, dict.fromkeys(NAMES), "uncertainty measure")

    @model_validator(mode="after")
    def _strategy_accepts_params(self) -> LearnerSettings:
        if self.strategy_params:
            make_strategy(self.strategy, seed=0, **self.strategy_params)  # says what is wrong
        return self

    def spec(self) -> LearnerSpec:
        """The learner these settings describe (build it with a seed).

        Every setting but the seed is a field of the spec, or of its :class:`Shaping`; the
        selection settings are the ``auto`` model's parameters.
        """
        values = self.model_dump(exclude={"seed", "drift", "selection"})
        shaping = {
            f.name: values.pop(f.name) for f in dataclasses.fields(Shaping) if f.name in values
        }
        return LearnerSpec(
            **values,
            drift=self.drift.reaction(),
            shaping=Shaping(**shaping),
            model_params=self.selection.params() if self.model == "auto" else {},
        )


def _known(value: str, registry: dict[str, Any], what: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(registry)}")
    return value


class KafkaSettings(BaseModel):
    """The Kafka cluster and topics (security settings are passed to the client library)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["kafka-python", "confluent"] = Field(
        "kafka-python",
        description="Client library of serve: kafka-python, or confluent "
        "(librdkafka, faster; from a checkout: pip install -e '.[fast]').",
    )
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    events_topic: str = Field("stream-al.events", min_length=1, description="Events in.")
    predictions_topic: str = Field(
        "stream-al.predictions", description="Predictions out; empty = publish none."
    )
    dead_letter_topic: str = Field(
        "stream-al.dead-letters", min_length=1, description="Invalid events, with the reason."
    )
    group_id: str = Field("stream-al", min_length=1, description="Consumer group of serve.")
    client_id: str = Field("stream-al", description="Kafka client id.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts."
    )
    max_poll_records: int = Field(500, ge=1, description="Events per batch at most.")
    poll_timeout_ms: int = Field(200, ge=0, description="How long a poll waits for events.")
    session_timeout_ms: int = Field(10_000, ge=1000, description="Consumer session timeout.")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="Consumer heartbeat.")
    delivery_timeout_ms: int = Field(
        120_000,
        ge=1000,
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

    model_config = ConfigDict(extra="forbid")

    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// (TLS) URL.")
    password: Secret | None = Field(None, description="Redis password (secret).")
    prefix: str = Field("stream_al", min_length=1, description="Prefix of every key.")
    ssl_ca_certs: str | None = Field(None, description="CA bundle for rediss:// URLs.")
    socket_timeout: float = Field(5.0, gt=0, description="Seconds before a call gives up.")
    label_ttl_seconds: float = Field(
        7 * 24 * 3600.0, gt=0, description="How long a queried item waits for its label."
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class ServiceSettings(BaseModel):
    """The serve loop."""

    model_config = ConfigDict(extra="forbid")

    replica_id: str = Field(
        default_factory=socket.gethostname, min_length=1, description="This replica's name."
    )
    max_queue_depth: int = Field(
        10_000, ge=1, description="Label-queue size above which queries are skipped."
    )
    labels_per_loop: int = Field(500, ge=1, description="Labels joined per loop at most.")
    max_event_bytes: int = Field(
        65_536, ge=256, description="Larger events are dead-lettered unread."
    )
    label_claim_idle_seconds: float = Field(
        60.0, gt=0, description="Labels a dead replica held are taken over after this."
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
    crowd_votes: int = Field(
        1, ge=1, description="Labels from different annotators a crowd item needs (consensus)."
    )
    expert_votes: int = Field(1, ge=1, description="The same for an expert item.")
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

    model_config = ConfigDict(extra="forbid")

    key: Secret | None = Field(
        None, description="HMAC key that signs checkpoints (secret; required by serve)."
    )
    dir: Path | None = Field(
        None,
        description="Directory (a mounted volume) that keeps a copy of every checkpoint; "
        "serve restarts from it when Redis has none (unset: checkpoints in Redis only).",
    )
    every_labels: int = Field(1000, ge=1, description="Checkpoint after this many labels.")
    every_seconds: float = Field(60.0, gt=0, description="...or after this many seconds.")
    trim_train_log: bool = Field(
        True, description="Drop train-log entries every checkpoint already contains."
    )


class MetricsSettings(BaseModel):
    """The HTTP endpoint: /metrics, /healthz, /readyz."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(9400, ge=0, le=65535, description="Port (0 = no endpoint).")


LABEL_STUDIO_PREFIX = "label_studio_"
"""The Label Studio settings are nested in the model and flat in their names:
``STREAM_AL_WORKER__LABEL_STUDIO_URL`` is ``settings.worker.label_studio.url``."""


class LabelStudioSettings(BaseModel):
    """The Label Studio bridge (``stream-al worker --oracle label-studio``)."""

    model_config = ConfigDict(extra="forbid")

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
        30.0, gt=0, description="How often held tasks are read back from Label Studio."
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

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        default_factory=lambda: f"worker-{socket.gethostname()}-{os.getpid()}",
        description="Consumer name in the workers' group.",
    )
    claim_idle_seconds: float = Field(
        300.0, gt=0, description="Items a dead worker held are taken over after this."
    )
    annotator: str = Field("", description="Annotator name on labels (default: the oracle).")
    tier: Literal["crowd", "expert"] = Field("crowd", description="Which tier's items to label.")
    web_host: str = Field("127.0.0.1", description="Bind address of the web labeling page.")
    web_port: int = Field(8600, ge=0, le=65535, description="Port of the web labeling page.")
    web_token: Secret | None = Field(
        None, description="Access token of the web labeling page (secret; required by it)."
    )
    undo_seconds: float = Field(
        5.0, ge=0, description="How long a web answer can be undone before it is written."
    )
    stale_seconds: float | None = Field(
        None, gt=0, description="Drop (and count) items queued longer ago (unset: never)."
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


class Settings(BaseSettings):
    """Every setting of stream-al."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_AL_", env_nested_delimiter="__", extra="ignore"
    )

    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then the TOML file given with --config, then defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _CONFIG_FILE is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_CONFIG_FILE))
        return tuple(sources)


_CONFIG_FILE: Path | None = None


def variable_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a setting's location in :class:`Settings`.

    >>> variable_name(("worker", "label_studio", "url"))
    'STREAM_AL_WORKER__LABEL_STUDIO_URL'
    >>> variable_name(("learner", "drift", "delta"))
    'STREAM_AL_LEARNER__DRIFT__DELTA'

    """
    parts = [str(p) for p in loc]
    if parts[:2] == ["worker", "label_studio"] and len(parts) > 2:
        parts = ["worker", LABEL_STUDIO_PREFIX + parts[2], *parts[3:]]
    return "STREAM_AL_" + "__".join(parts).upper()


SCRIPT_VARIABLES = {"STREAM_AL_CACHE", "STREAM_AL_KAFKA_TIMEOUT", "STREAM_AL_LABEL_STUDIO"}
"""``STREAM_AL_*`` variables that are not settings: ``scripts/services``' and
``scripts/label-studio``'s."""


def _sub_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation: Any = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _known_names(
    model: type[BaseModel], loc: tuple[str, ...] = ()
) -> tuple[set[str], set[str], set[str]]:
    """The variables of ``model``'s settings: ``(settings, sections, mappings)``. A section
    (``STREAM_AL_LEARNER``) takes JSON; a mapping (``STREAM_AL_LEARNER__STRATEGY_PARAMS``)
    also takes one variable per key (``..._PARAMS__K``)."""
    settings: set[str] = set()
    sections: set[str] = set()
    mappings: set[str] = set()
    for name, field in model.model_fields.items():
        sub, variable = _sub_model(field), variable_name((*loc, name))
        if sub is None:
            settings.add(variable)
            if get_origin(field.annotation) is dict:
                mappings.add(variable)
            continue
        sections.add(variable)
        below = _known_names(sub, (*loc, name))
        for ours, theirs in zip((settings, sections, mappings), below, strict=True):
            ours |= theirs
    return settings, sections, mappings


def _closest(name: str, candidates: set[str] | list[str]) -> str:
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def unknown_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """What is wrong with each ``STREAM_AL_*`` variable of ``environ`` that is no setting,
    with the closest setting's name (pydantic-settings would ignore it silently).

    >>> unknown_variables({"STREAM_AL_LEARNER_BUDGET": "0.05", "STREAM_AL_CACHE": "/c"})
    ['unknown setting STREAM_AL_LEARNER_BUDGET; did you mean STREAM_AL_LEARNER__BUDGET?']

    """
    settings, sections, mappings = _known_names(Settings)
    problems = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith("STREAM_AL_") or name in SCRIPT_VARIABLES:
            continue
        if name in settings or name in sections:
            continue
        if any(name.startswith(mapping + "__") for mapping in mappings):
            continue
        problems.append(f"unknown setting {variable}{_closest(name, settings)}")
    return problems


def _unknown_keys(table: dict[str, Any], model: type[BaseModel], where: str) -> list[str]:
    """What is wrong with each key of a TOML ``table`` that ``model`` does not have
    (``[worker]`` also takes Label Studio's settings flat: ``label_studio_url``)."""
    known = set(model.model_fields)
    if model is WorkerSettings:
        known |= {LABEL_STUDIO_PREFIX + name for name in LabelStudioSettings.model_fields}
    problems = []
    for key, value in table.items():
        field = model.model_fields.get(key)
        sub = None if field is None else _sub_model(field)
        path = f"{where}.{key}" if where else key
        if sub is not None and isinstance(value, dict):
            problems += _unknown_keys(value, sub, path)
        elif key not in known and isinstance(value, dict):
            sections = [f"[{where}.{k}]" if where else f"[{k}]" for k in known]
            problems.append(f"unknown section [{path}]{_closest(f'[{path}]', sections)}")
        elif key not in known:
            place = f"in [{where}]" if where else "at the top (settings go in sections)"
            problems.append(f"unknown key {key} {place}{_closest(key, known)}")
    return problems


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read settings: {exc}") from None
    problems = _unknown_keys(table, Settings, "")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Settings from the environment and, if given, a TOML file (environment wins).

    Raises ``ValueError`` naming the bad setting(s) in the form users write them; an
    unknown ``STREAM_AL_*`` variable or TOML section or key is refused with the closest
    valid name (a misspelled setting would otherwise be ignored silently).
    """
    global _CONFIG_FILE
    if config_file is not None and not Path(config_file).is_file():
        raise ValueError(f"no such config file: {config_file}")
    problems = unknown_variables(os.environ)
    if problems:
        raise ValueError("; ".join(problems) + " (stream-al settings lists every setting)")
    if config_file is not None:
        _check_toml(Path(config_file))
    _CONFIG_FILE = Path(config_file) if config_file is not None else None
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            problems.append(f"{variable_name(err['loc'])}: {err['msg']}")
        raise ValueError("bad setting " + "; ".join(problems)) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise ValueError(f"cannot read settings: {exc}") from None
    finally:
        _CONFIG_FILE = None
