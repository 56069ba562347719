"""Signed checkpoints of the learner.

A checkpoint is a pickle of the whole learner (model, strategy, budget, drift state) and
the id of the last train-log entry it contains. Unpickling runs code, so every checkpoint
is signed with HMAC-SHA256 under a key from the settings, over the train-log id and the
bytes; a checkpoint whose signature does not match is refused before it is unpickled.

Checkpoints live in Redis, and also in a :class:`CheckpointDirectory` when
``STREAM_AL_CHECKPOINT__DIR`` names one (a mounted volume): a second home that survives a
Redis that lost its data.

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

import errno
import hashlib
import hmac
import json
import logging
import os
import re
import time
from pathlib import Path

from stream_al.core.learner import ActiveLearner
from stream_al.errors import CheckpointError
from stream_al.io.base import Checkpoint, checked_train_log_id, newest_of
from stream_al.schemas import loads

__all__ = [
    "CheckpointDirectory",
    "CheckpointError",
    "make_checkpoint",
    "restore_checkpoint",
    "sign",
]

log = logging.getLogger("stream_al.checkpoints")


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
    """The learner in ``checkpoint``, after its signature is checked; a
    :class:`CheckpointError` that names where it was read and what to do otherwise."""
    expected = sign(key, checkpoint.train_log_id, checkpoint.data)
    if not hmac.compare_digest(expected, checkpoint.signature):
        raise CheckpointError(
            f"checkpoint of replica {checkpoint.replica!r} (train log "
            f"{checkpoint.train_log_id}{_where(checkpoint)}) has a bad signature: it was "
            f"altered or signed with another key; refusing to load it{_fix(checkpoint, True)}"
        )
    try:
        return ActiveLearner.restore(checkpoint.data)
    except Exception as exc:  # signed by us but unreadable: a different version, say
        raise CheckpointError(
            f"checkpoint of replica {checkpoint.replica!r}{_where(checkpoint)} cannot be "
            f"loaded: {exc}{_fix(checkpoint, False)}"
        ) from exc


def _where(checkpoint: Checkpoint) -> str:
    return f", {checkpoint.origin}" if checkpoint.origin else ""


def _fix(checkpoint: Checkpoint, signature: bool) -> str:
    """What to do about a checkpoint refused (it was refused at every start, naming neither
    where it was nor how to go on)."""
    if not checkpoint.remove:
        return ""
    key = (
        "if it was signed with another key, set STREAM_AL_CHECKPOINT__KEY to that key; "
        if signature
        else ""
    )
    return (
        f" ({key}else {checkpoint.remove}: serve then starts from another checkpoint, or a "
        "fresh model, and learns the train log Redis holds after it)"
    )


class CheckpointDirectory:
    """Checkpoints as files in a directory (``STREAM_AL_CHECKPOINT__DIR``), one per replica.

    A file is one line of JSON (replica, train-log id, signature, time) and the snapshot
    bytes. It is written to a temporary file, flushed to disk and renamed over the old
    one, so a crash leaves the previous checkpoint whole. The signature is checked when
    the checkpoint is restored (:func:`restore_checkpoint`), as for Redis. A directory
    deleted while serve runs is made again at the next save (said in a warning); a file
    in its place fails the save, naming it.

    >>> import tempfile
    >>> home = CheckpointDirectory(tempfile.mkdtemp())
    >>> home.save(make_checkpoint(ActiveLearner("gaussian-nb"), "r/1", "7-0", b"k", now=1.0))
    >>> home.load("r/1").train_log_id, home.newest().replica, home.load("r2")
    ('7-0', 'r/1', None)

    """

    SUFFIX = ".checkpoint"
    STALE_AFTER_S = 3600.0
    """Another replica's temporary file older than this was left by a crash (a write takes
    seconds); a younger one may be that replica's write in progress on a shared volume."""

    # The files this class writes before a rename, and the start's probe of the directory:
    # a crash between the write and the rename (or the unlink) leaves them behind.
    _TEMPORARY = re.compile(r"\.(?P<target>.+\.checkpoint)\.\d+\.tmp|\.write-test-\d+")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _file(self, replica: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02X}", replica)
        return self.path / f"{safe}{self.SUFFIX}"

    def save(self, checkpoint: Checkpoint) -> None:
        header = {
            "replica": checkpoint.replica,
            "train_log_id": checkpoint.train_log_id,
            "signature": checkpoint.signature,
            "created_at": checkpoint.created_at,
        }
        self._make_again()
        target = self._file(checkpoint.replica)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("wb") as out:
                out.write(json.dumps(header).encode() + b"\n")
                out.write(checkpoint.data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except OSError:
            temporary.unlink(missing_ok=True)  # a full disk keeps no half checkpoint
            raise
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)

    def check_writable(self) -> None:
        """Write a byte in the directory (made already); the :class:`OSError` of a directory
        that is read-only, full or not ours to write."""
        probe = self.path / f".write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"\n")  # a byte: a full disk takes an empty file
        finally:
            probe.unlink(missing_ok=True)

    def remove_stale_temporaries(self, replica: str) -> list[Path]:
        """Delete the temporary files a crash mid-write left (nothing else ever did): any
        of ``replica``'s own, whose writer is gone since it is starting, and other
        replicas' older than :attr:`STALE_AFTER_S`. Only files of this class's naming, never
        another file; each removal is logged. The files removed."""
        own = self._file(replica).name
        removed = []
        for path in sorted(self.path.iterdir()):
            named = self._TEMPORARY.fullmatch(path.name)
            if named is None or not path.is_file() or path.is_symlink():
                continue
            target = named.group("target")
            if target != own and time.time() - path.stat().st_mtime < self.STALE_AFTER_S:
                continue  # maybe another replica writing now
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            removed.append(path)
            log.warning(
                "removed %s (%d bytes), a temporary file a crash mid-write left in the "
                "checkpoint directory",
                path,
                size,
            )
        return removed

    def _make_again(self) -> None:
        """Make the directory if it went (deleted while serve runs): every save failed, and
        was counted, until the next start made it; a stat per checkpoint is all it costs."""
        if self.path.is_dir():
            return
        if self.path.exists():  # mkdir's own word, "File exists", named nothing to fix
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a directory", str(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        log.warning("checkpoint directory %s was missing: made again", self.path)

    def load(self, replica: str) -> Checkpoint | None:
        return self._read(self._file(replica))

    def newest(self) -> Checkpoint | None:
        """The checkpoint that contains the most of the train log, of any replica."""
        files = sorted(self.path.glob(f"*{self.SUFFIX}"))
        return newest_of(*(self._read(f) for f in files))

    def _read(self, path: Path) -> Checkpoint | None:
        try:
            with path.open("rb") as f:
                header = loads(f.readline())
                data = f.read()
            return Checkpoint(
                replica=str(header["replica"]),
                train_log_id=checked_train_log_id(header["train_log_id"]),
                data=data,
                signature=str(header["signature"]),
                created_at=float(header["created_at"]),
                origin=f"file {path}",
                remove=f"delete {path}",
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s is not a checkpoint this version can read (%s); ignored", path, exc)
            return None
