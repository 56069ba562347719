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

from stream_al.config.learner import DriftSettings, LearnerSettings, SelectionSettings
from stream_al.config.servers import (
    LABEL_STUDIO_PREFIX,
    MIN_CHECKPOINT_KEY_BYTES,
    SHUTDOWN_CLOSE_S,
    CheckpointSettings,
    KafkaSettings,
    LabelStudioSettings,
    MetricsSettings,
    RedisSettings,
    Secret,
    ServiceSettings,
    WorkerSettings,
)
from stream_al.config.settings import (
    SCRIPT_VARIABLES,
    Settings,
    load_settings,
    unknown_variables,
    variable_name,
)

__all__ = [
    "LABEL_STUDIO_PREFIX",
    "MIN_CHECKPOINT_KEY_BYTES",
    "SCRIPT_VARIABLES",
    "SHUTDOWN_CLOSE_S",
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
    "variable_name",
]
