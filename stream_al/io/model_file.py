"""Model files: a signed learner snapshot on disk (``stream-al model export|import``).

A model file is three parts: a magic line, one line of JSON header (format version, what
the learner is, where it came from, the signature) and the learner snapshot (a pickle,
as in a checkpoint). The HMAC-SHA256 signature (:func:`stream_al.io.checkpoints.sign`, the
checkpoint key) covers the header and the snapshot, so neither can be altered; a file
whose signature does not match, or that is not a model file at all, raises
:class:`ModelFileError` before anything is unpickled.

:func:`export_checkpoint` and :func:`import_checkpoint` move a model between a file and
the checkpoints in Redis (the newest checkpoint out; the starting checkpoint of serve in).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from stream_al.core.learner import ActiveLearner
>>> path = Path(tempfile.mkdtemp()) / "model.salm"
>>> export_model(ActiveLearner("gaussian-nb", budget=0.05), path, b"secret")
>>> import_model(path, b"secret").model_name
'gaussian-nb'
>>> read_header(path)["model"]
'gaussian-nb'
>>> import_model(path, b"another key")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
stream_al.errors.ModelFileError: model file ... has a bad signature: ...

"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_al.core.learner import ActiveLearner
from stream_al.errors import ModelFileError
from stream_al.io.base import Checkpoint
from stream_al.io.checkpoints import make_checkpoint, restore_checkpoint, sign
from stream_al.schemas import loads

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "ImportResult",
    "export_checkpoint",
    "export_model",
    "import_checkpoint",
    "import_model",
    "read_header",
]

MAGIC = b"stream-al model file\n"
FORMAT_VERSION = 1
# A header longer than this is not ours: do not read a huge file into memory to find out.
_MAX_HEADER = 64 * 1024


def _context(header: Mapping[str, Any]) -> str:
    # The signed context: the header without its signature, canonical JSON. It starts
    # with "{", which no train-log id does, so a checkpoint's signature cannot pass for
    # a model file's.
    return json.dumps(
        {k: v for k, v in header.items() if k != "signature"}, sort_keys=True, separators=(",", ":")
    )


def export_model(
    learner: ActiveLearner,
    path: str | Path,
    key: bytes,
    *,
    source: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> None:
    """Write ``learner`` to ``path`` as a model file signed with ``key``.

    Parameters
    ----------
    learner
        The learner to save (model, strategy, budget and drift state).
    path
        Where to write; the parent folder must exist. Written to a temporary file first,
        then renamed, so a reader never sees half a file.
    key
        The signing key (the checkpoint key of the settings).
    source
        Where the learner came from (for example the replica and train-log id of the
        checkpoint it was exported from); recorded in the header.
    now
        Creation time in epoch seconds (default: the wall clock).

    """
    data = learner.snapshot()
    header: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model": learner.model_name,
        "strategy": learner.strategy_name,
        "budget": learner.budget.budget,
        "labels_learned": learner.n_learned,
        "events_seen": learner.n_events,
        "created_at": time.time() if now is None else now,
        "source": dict(source or {}),
        "bytes": len(data),
    }
    header["signature"] = sign(key, _context(header), data)
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(MAGIC)
        f.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        f.write(data)
    tmp.replace(target)


def _read(path: str | Path) -> tuple[dict[str, Any], bytes]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            magic = f.read(len(MAGIC))
            if magic != MAGIC:
                raise ModelFileError(f"{p} is not a stream-al model file (no model-file header)")
            line = f.readline(_MAX_HEADER)
            data = f.read()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {p}: {exc.strerror or exc}") from None
    try:
        header = loads(line)
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ModelFileError(f"{p} has a damaged model-file header") from None
    version = header.get("format")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{p} is a model file of format {version!r}; this stream-al reads format "
            f"{FORMAT_VERSION}"
        )
    return header, data


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a model file (unverified: for display only)."""
    return _read(path)[0]


def import_model(path: str | Path, key: bytes) -> ActiveLearner:
    """The learner in the model file at ``path``, after its signature is checked.

    Raises :class:`ModelFileError` if the file is not a model file, is of another format,
    was altered, or was signed with another key.
    """
    header, data = _read(path)
    signature = header.get("signature")
    expected = sign(key, _context(header), data)
    if not isinstance(signature, str) or not hmac.compare_digest(expected, signature):
        raise ModelFileError(
            f"model file {path} has a bad signature: it was altered or signed with another "
            "key (STREAM_AL_CHECKPOINT__KEY); refusing to load it"
        )
    try:
        return ActiveLearner.restore(data)
    except Exception as exc:  # signed by us but unreadable: another stream-al version, say
        raise ModelFileError(f"model file {path} cannot be loaded: {exc}") from exc


# -- between a file and the checkpoints of a deployment -------------------------------------


def export_checkpoint(store: Any, path: str | Path, key: bytes) -> Checkpoint:
    """Write the newest checkpoint in ``store`` (a :class:`~stream_al.io.redis.RedisStore`)
    to ``path`` as a model file; returns the checkpoint.

    The checkpoint's signature is checked first (a checkpoint signed with another key
    is not re-signed with this one). Raises :class:`ModelFileError` when there is none.
    """
    checkpoint = store.newest()
    if checkpoint is None:
        raise ModelFileError(
            "no checkpoint to export: serve has not written one yet under this Redis prefix"
        )
    learner = restore_checkpoint(checkpoint, key)
    source = {"replica": checkpoint.replica, "train_log_id": checkpoint.train_log_id}
    export_model(learner, path, key, source=source)
    return checkpoint


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_checkpoint` did."""

    replica: str
    train_log_id: str | None
    replaced: tuple[str, ...]
    skipped_log_entries: int


def import_checkpoint(
    store: Any, path: str | Path, key: bytes, replica: str, force: bool = False
) -> ImportResult:
    """Write the model file at ``path`` into ``store`` as the checkpoint serve starts from.

    A serve replica restores its own checkpoint, else the newest of any replica, and
    replays the train log after it. So an import into a deployment that already has
    checkpoints or a train log would either be ignored by the replicas that have their
    own checkpoint, or drop the labels in the log from the model: it is refused unless
    ``force``. With ``force``, every existing checkpoint is deleted and the imported one
    records the end of the train log, so the earlier entries (learned by the replaced
    model, not by this one) are not replayed into it. Stop every serve replica first: a
    running one would overwrite the import with its next checkpoint.
    """
    learner = import_model(path, key)  # verified before Redis is touched
    client, keys = store.client, store.keys
    prefix = keys.checkpoint("")
    existing = sorted(
        k.decode() if isinstance(k, bytes) else k
        for k in client.scan_iter(match=prefix + "*", count=100)
    )
    replaced = tuple(k[len(prefix) :] for k in existing)
    log_length = int(client.xlen(keys.train_log))
    if (existing or log_length) and not force:
        held = []
        if existing:
            held.append(f"checkpoints of replica(s) {', '.join(replaced)}")
        if log_length:
            held.append(f"a train log of {log_length:,} label{'' if log_length == 1 else 's'}")
        raise ModelFileError(
            f"Redis prefix {keys.prefix!r} already holds {' and '.join(held)}: serve would "
            "start from those, not from the imported model. To replace them, stop every serve "
            "replica and import again with --force (the existing train log is then not "
            "learned by the imported model)"
        )
    last = client.xrevrange(keys.train_log, count=1)
    train_log_id = None
    if last:
        entry_id = last[0][0]
        train_log_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    if existing:
        client.delete(*existing)
        client.srem(keys.checkpoints, *replaced)
    store.save(make_checkpoint(learner, replica, train_log_id, key, time.time()))
    return ImportResult(replica, train_log_id, replaced, log_length)
