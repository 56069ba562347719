"""Signed checkpoints of the learner.

A checkpoint is a pickle of the whole learner (model, strategy, budget, drift state) and
the id of the last train-log entry it contains. Unpickling runs code, so every checkpoint
is signed with HMAC-SHA256 under a key from the settings, over the train-log id and the
bytes; a checkpoint whose signature does not match is refused before it is unpickled.

Examples
--------
>>> from stream_al.core.learner import ActiveLearner
>>> cp = make_checkpoint(ActiveLearner("gaussian-nb"), "r1", "5-0", b"secret", now=0.0)
>>> restore_checkpoint(cp, b"secret").model_name
'gaussian-nb'
>>> restore_checkpoint(cp, b"another key")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
stream_al.errors.CheckpointError: checkpoint of replica 'r1' ... has a bad signature: ...

"""

from __future__ import annotations

import hashlib
import hmac

from stream_al.core.learner import ActiveLearner
from stream_al.errors import CheckpointError
from stream_al.io.base import Checkpoint

__all__ = ["CheckpointError", "make_checkpoint", "restore_checkpoint", "sign"]


def sign(key: bytes, train_log_id: str | None, data: bytes) -> str:
    """Hex HMAC-SHA256 of the train-log id and the snapshot bytes."""
    mac = hmac.new(key, (train_log_id or "").encode() + b"\0", hashlib.sha256)
    mac.update(data)
    return mac.hexdigest()


def make_checkpoint(
    learner: ActiveLearner, replica: str, train_log_id: str | None, key: bytes, now: float
) -> Checkpoint:
    """Snapshot ``learner`` as of train-log entry ``train_log_id`` and sign it."""
    data = learner.snapshot()
    return Checkpoint(replica, train_log_id, data, sign(key, train_log_id, data), now)


def restore_checkpoint(checkpoint: Checkpoint, key: bytes) -> ActiveLearner:
    """The learner in ``checkpoint``, after its signature is checked."""
    expected = sign(key, checkpoint.train_log_id, checkpoint.data)
    if not hmac.compare_digest(expected, checkpoint.signature):
        raise CheckpointError(
            f"checkpoint of replica {checkpoint.replica!r} (train log "
            f"{checkpoint.train_log_id}) has a bad signature: it was altered or signed with "
            "another key; refusing to load it"
        )
    try:
        return ActiveLearner.restore(checkpoint.data)
    except Exception as exc:  # signed by us but unreadable: a different version, say
        raise CheckpointError(
            f"checkpoint of replica {checkpoint.replica!r} cannot be loaded: {exc}"
        ) from exc
