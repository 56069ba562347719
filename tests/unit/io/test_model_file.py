"""Model files: signed learner snapshots on disk, and their way in and out of the checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.errors import ModelFileError
from stream_al.io.base import Checkpoint
from stream_al.io.checkpoints import make_checkpoint
from stream_al.io.model_file import (
    MAGIC,
    export_checkpoint,
    export_model,
    import_checkpoint,
    import_model,
    read_header,
)
from tests.unit.stubs import trained_learner

KEY = b"model-file-key"


def test_a_model_file_round_trips_the_learner(tmp_path: Path) -> None:
    learner = trained_learner()
    path = tmp_path / "m.salm"
    export_model(learner, path, KEY, source={"replica": "r1"}, now=7.0)
    back = import_model(path, KEY)
    assert back.model_digest() == learner.model_digest()
    assert (back.n_events, back.n_queried, back.strategy_name) == (
        learner.n_events,
        learner.n_queried,
        "split",
    )
    header = read_header(path)
    assert header["format"] == 1 and header["model"] == "hoeffding-tree"
    assert header["labels_learned"] == learner.n_learned and header["created_at"] == 7.0
    assert header["source"] == {"replica": "r1"}
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file
    x = {0: 5.0, 1: 2.0, 2: 7.0}
    assert back.decide(x) == learner.decide(x)


def _tampered_data(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


def _tampered_header(raw: bytes) -> bytes:
    magic, line, data = raw[: len(MAGIC)], *raw[len(MAGIC) :].split(b"\n", 1)
    header = json.loads(line)
    header["labels_learned"] += 1
    return magic + json.dumps(header).encode() + b"\n" + data


@pytest.mark.parametrize("tamper", [_tampered_data, _tampered_header])
def test_an_altered_file_or_another_key_is_refused_before_unpickling(
    tmp_path: Path,
    tamper: Callable[[bytes], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "m.salm"
    export_model(ActiveLearner("gaussian-nb"), path, KEY)
    unpickled: list[bytes] = []
    monkeypatch.setattr(ActiveLearner, "restore", classmethod(lambda cls, d: unpickled.append(d)))
    with pytest.raises(ModelFileError, match="bad signature"):
        import_model(path, b"another key")
    path.write_bytes(tamper(path.read_bytes()))
    with pytest.raises(ModelFileError, match="bad signature"):
        import_model(path, KEY)
    assert unpickled == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\x05 a pickle, say", "not a stream-al model file"),
        (b"", "not a stream-al model file"),
        (MAGIC + b"not json\n...", "damaged model-file header"),
        (MAGIC + b'{"format": 2}\n...', "format 2; this stream-al reads format 1"),
    ],
)
def test_a_file_that_is_not_a_model_file_is_named_as_such(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        import_model(path, KEY)


def test_a_missing_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read model file"):
        import_model(tmp_path / "nope.salm", KEY)


def test_a_checkpoint_signature_does_not_pass_for_a_model_file(tmp_path: Path) -> None:
    # The same key signs both; a checkpoint's signature over the snapshot must not make a
    # file whose header was written by someone else loadable.
    learner = ActiveLearner("gaussian-nb")
    cp = make_checkpoint(learner, "r1", None, KEY, now=0.0)
    header = {"format": 1, "signature": cp.signature}
    path = tmp_path / "forged.salm"
    path.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + cp.data)
    with pytest.raises(ModelFileError, match="bad signature"):
        import_model(path, KEY)


# -- in and out of a checkpoint store (fakeredis-free: a tiny stand-in with the same calls) --


class _Keys:
    prefix = "p"
    train_log = "p:train_log"
    checkpoints = "p:checkpoints"

    def checkpoint(self, replica: str) -> str:
        return f"p:checkpoint:{replica}"


class _Client:
    def __init__(self) -> None:
        self.hashes: dict[str, Checkpoint] = {}
        self.log: list[str] = []
        self.index: set[str] = set()

    def scan_iter(self, match: str, count: int) -> list[bytes]:
        return [k.encode() for k in self.hashes if k.startswith(match.rstrip("*"))]

    def xlen(self, key: str) -> int:
        return len(self.log)

    def xrevrange(self, key: str, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        return [(self.log[-1].encode(), {})] if self.log else []

    def delete(self, *keys: str) -> None:
        for k in keys:
            del self.hashes[k]

    def srem(self, key: str, *members: str) -> None:
        self.index -= set(members)


class _Store:
    def __init__(self) -> None:
        self.client = _Client()
        self.keys = _Keys()

    def save(self, cp: Checkpoint) -> None:
        self.client.hashes[self.keys.checkpoint(cp.replica)] = cp
        self.client.index.add(cp.replica)

    def newest(self) -> Checkpoint | None:
        return next(iter(self.client.hashes.values()), None)


def test_import_into_an_empty_deployment_then_export_again(tmp_path: Path) -> None:
    learner = trained_learner()
    path = tmp_path / "m.salm"
    export_model(learner, path, KEY)
    store = _Store()
    done = import_checkpoint(store, path, KEY, "r1")
    assert (done.replica, done.train_log_id, done.replaced, done.skipped_log_entries) == (
        "r1",
        None,
        (),
        0,
    )
    again = tmp_path / "again.salm"
    cp = export_checkpoint(store, again, KEY)
    assert cp.replica == "r1"
    assert import_model(again, KEY).model_digest() == learner.model_digest()
    assert read_header(again)["source"] == {"replica": "r1", "train_log_id": None}


def test_import_refuses_a_deployment_with_state_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "m.salm"
    export_model(trained_learner(), path, KEY)
    store = _Store()
    store.save(make_checkpoint(ActiveLearner("gaussian-nb"), "old", "5-0", KEY, 0.0))
    store.client.log = ["4-0", "5-0"]
    with pytest.raises(ModelFileError, match=r"replica\(s\) old and a train log of 2 .*--force"):
        import_checkpoint(store, path, KEY, "r1")
    assert list(store.client.hashes) == ["p:checkpoint:old"]  # untouched
    done = import_checkpoint(store, path, KEY, "r1", force=True)
    assert done.replaced == ("old",) and done.train_log_id == "5-0"
    assert done.skipped_log_entries == 2
    assert list(store.client.hashes) == ["p:checkpoint:r1"]
    assert store.client.index == {"r1"}  # the replaced replica left the checkpoint index
    assert store.client.hashes["p:checkpoint:r1"].train_log_id == "5-0"  # the log is not replayed


def test_the_refusal_says_one_label_as_one(tmp_path: Path) -> None:
    path = tmp_path / "m.salm"
    export_model(trained_learner(), path, KEY)
    store = _Store()
    store.client.log = ["4-0"]
    with pytest.raises(ModelFileError, match=r"holds a train log of 1 label: serve"):
        import_checkpoint(store, path, KEY, "r1")


def test_a_bad_file_is_refused_before_redis_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "m.salm"
    path.write_bytes(b"junk")
    store = _Store()
    with pytest.raises(ModelFileError):
        import_checkpoint(store, path, KEY, "r1", force=True)
    assert store.client.hashes == {}


def test_export_without_a_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no checkpoint to export"):
        export_checkpoint(_Store(), tmp_path / "m.salm", KEY)
