"""Which Redis replies are refusals to wait out, and what the store raises for them."""

from __future__ import annotations

import pytest
import redis

from stream_al.errors import ConfigurationError, StoreReset, StoreUnavailable
from stream_al.io.redis_faults import refusal, server_states

OOM = "command not allowed when used memory > 'maxmemory'."


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (redis.exceptions.OutOfMemoryError(OOM), "raise its maxmemory"),
        (
            redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
            "point STREAM_AL_REDIS__URL at the primary",
        ),
        (redis.exceptions.MasterDownError("Link with MASTER is down"), "bring the primary back"),
        (redis.ResponseError("MISCONF Redis is configured to save RDB snapshots"), "free its disk"),
        (redis.ResponseError("NOREPLICAS Not enough good replicas to write."), "min-replicas"),
        (redis.ResponseError("BUSY Redis is busy running a script."), "SCRIPT KILL"),
        (
            redis.ResponseError(
                "Command # 2 (XADD k * a b) of pipeline caused error: MISCONF Errors writing"
            ),
            "free its disk",
        ),
    ],
)
def test_a_refusal_names_the_reply_and_what_to_fix(error: redis.ResponseError, fix: str) -> None:
    why = refusal(error)
    assert why is not None and str(error) in why and fix in why


@pytest.mark.parametrize(
    "message",
    [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR Error running script: user_script:3: bad argument",
        "NOGROUP No such key or consumer group",
        "ERR BUSYKEY is not a refusal",  # the word must start the reply
    ],
)
def test_other_errors_are_not_refusals(message: str) -> None:
    assert refusal(redis.ResponseError(message)) is None


@server_states
class _Store:
    def __init__(
        self, error: Exception, groups_error: Exception | None = None, not_ours: str = ""
    ) -> None:
        self.error, self.groups_error, self.ensured = error, groups_error, 0
        self.not_ours = not_ours  # a deployment key of another type, named by check_keys

    def check_keys(self) -> None:
        if self.not_ours:
            raise ConfigurationError(f"redis key {self.not_ours} holds a hash")

    def ensure_groups(self) -> None:
        self.ensured += 1
        if self.groups_error is not None:
            raise self.groups_error

    def write(self) -> None:
        raise self.error


def test_the_store_raises_a_refusal_as_unavailable_and_other_errors_as_they_are() -> None:
    with pytest.raises(StoreUnavailable, match="out of memory"):
        _Store(redis.exceptions.OutOfMemoryError(OOM)).write()
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        _Store(redis.ResponseError("WRONGTYPE Operation")).write()


def test_wrongtype_at_a_deployment_key_of_another_type_is_a_setting_naming_it() -> None:
    # Named by the store's key check; a WRONGTYPE it cannot place stays as it was.
    wrong = redis.ResponseError("WRONGTYPE Operation against a key")
    with pytest.raises(ConfigurationError, match="redis key p:state_id holds a hash"):
        _Store(wrong, not_ours="p:state_id").write()


def test_lost_groups_are_recreated_unless_redis_refuses_the_writes_for_now() -> None:
    lost = redis.ResponseError("NOGROUP No such key or consumer group")
    store = _Store(lost)
    with pytest.raises(StoreReset):
        store.write()
    assert store.ensured == 1
    refusing = _Store(lost, groups_error=redis.exceptions.OutOfMemoryError(OOM))
    with pytest.raises(StoreUnavailable, match="out of memory"):  # the next call retries
        refusing.write()


def test_a_database_number_the_server_lacks_is_a_setting_to_fix() -> None:
    with pytest.raises(ConfigurationError, match="STREAM_AL_REDIS__URL"):
        _Store(redis.ResponseError("DB index is out of range")).write()
