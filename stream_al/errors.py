"""The project's exceptions, all on one base: :class:`StreamAlError`.

Adapters translate their client libraries' errors at the edge (``stream_al.io``), so the
rest of the code catches these, never ``redis`` or ``kafka`` types:

- :class:`Unavailable` (a server away, a timeout, a broken connection) is waited out with
  backoff by every loop; :class:`StoreUnavailable` is Redis, :class:`BrokerUnavailable`
  is Kafka. :class:`StoreReset` is a Redis that answers again without the state it held
  (restarted without persistence, or flushed): serve restarts from its newest checkpoint.
- :class:`ConfigurationError` is a setting or an input that makes the command impossible:
  the command line prints it on one line and exits with code 2.
- :class:`BrokerFatalError` is a Kafka error no retry can mend: serve exits with code 1.

>>> issubclass(StoreUnavailable, Unavailable) and issubclass(Unavailable, StreamAlError)
True
>>> str(ConfigurationError("STREAM_AL_CHECKPOINT__KEY is not set"))
'STREAM_AL_CHECKPOINT__KEY is not set'

"""

from __future__ import annotations

__all__ = [
    "BrokerFatalError",
    "BrokerUnavailable",
    "CheckpointError",
    "ConfigurationError",
    "LabelStudioError",
    "ModelFileError",
    "ReplicaIdTaken",
    "StoreReset",
    "StoreRolledBack",
    "StoreUnavailable",
    "StreamAlError",
    "Unavailable",
]


class StreamAlError(Exception):
    """The base of every exception stream-al raises on purpose."""


class ConfigurationError(StreamAlError):
    """A setting or an input that makes the command impossible (exit code 2)."""


class ReplicaIdTaken(ConfigurationError):
    """Another serve process holds this process's replica id (its lease in Redis): nothing
    more may be written under the id (exit code 2)."""


class Unavailable(StreamAlError):
    """A server is away, timed out or dropped the connection: wait and retry."""


class StoreUnavailable(Unavailable):
    """Redis is away (connection refused or broken, a timeout)."""


class StoreReset(StoreUnavailable):
    """Redis answered without stream-al's consumer groups: it lost its data (restarted
    without persistence, or flushed). The store has recreated the groups; what was queued,
    pending or in the train log is gone."""


class StoreRolledBack(StoreReset):
    """Redis came back with older data than it had (restarted from an older snapshot, or a
    lagging replica promoted): its groups and state id are there, its train log ends
    before entries serve read. Its own checkpoints match that log; a newer one elsewhere
    (the checkpoint directory) holds labels the log lost."""


class BrokerUnavailable(Unavailable):
    """Kafka is away, or a request to it failed in a way a retry can mend."""


class BrokerFatalError(StreamAlError):
    """A Kafka error no retry can mend (serve stops with exit code 1)."""


class CheckpointError(StreamAlError):
    """A checkpoint that cannot be trusted or read (bad signature, wrong format)."""


class ModelFileError(StreamAlError):
    """A model file that cannot be trusted or read."""


class LabelStudioError(StreamAlError):
    """Label Studio is unreachable or refused a request (one line, says what to fix)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
