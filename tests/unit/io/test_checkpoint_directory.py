"""The checkpoint directory: a second home for checkpoints that survives Redis (issue 15)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.errors import CheckpointError
from stream_al.io.checkpoints import CheckpointDirectory, make_checkpoint, restore_checkpoint

KEY = b"a-checkpoint-key-of-32-bytes...."


def test_each_replica_keeps_one_file_and_the_newest_is_the_one_with_the_most_log(
    tmp_path: Path,
) -> None:
    home = CheckpointDirectory(tmp_path)
    learner = ActiveLearner("gaussian-nb")
    home.save(make_checkpoint(learner, "stream-al-0", "170-0", KEY, now=1.0))
    home.save(make_checkpoint(learner, "stream-al-1", "171-2", KEY, now=0.5))
    home.save(make_checkpoint(learner, "stream-al-0", "171-1", KEY, now=2.0))  # replaces
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stream-al-0.checkpoint",
        "stream-al-1.checkpoint",
    ]
    newest = home.newest()
    assert newest is not None and (newest.replica, newest.train_log_id) == ("stream-al-1", "171-2")
    own = home.load("stream-al-0")
    assert own is not None and own.train_log_id == "171-1"
    assert restore_checkpoint(own, KEY).model_name == "gaussian-nb"
    with pytest.raises(CheckpointError, match="bad signature"):
        restore_checkpoint(own, b"another-key-of-the-same-length!!")


def test_odd_replica_names_files_it_cannot_read_and_no_checkpoint_at_all(tmp_path: Path) -> None:
    home = CheckpointDirectory(tmp_path)
    assert home.newest() is None and home.load("r1") is None
    home.save(make_checkpoint(ActiveLearner("gaussian-nb"), "../r 1", None, KEY, now=1.0))
    (tmp_path / "junk.checkpoint").write_bytes(b"\xff not a header\n")
    (tmp_path / ".r2.checkpoint.123.tmp").write_bytes(b"half written")
    names = sorted(p.name for p in tmp_path.glob("*.checkpoint"))
    assert names == ["..%2Fr%201.checkpoint", "junk.checkpoint"]  # no path out of the directory
    newest = home.newest()
    assert newest is not None and newest.replica == "../r 1" and newest.train_log_id is None
    # A header whose train-log id is no stream entry id (serve writes and signs only
    # those): newest() raised ValueError comparing it, stopping serve where Redis had none.
    header = b'{"replica": "r3", "train_log_id": "garbage", "signature": "", "created_at": 9}'
    (tmp_path / "r3.checkpoint").write_bytes(header + b"\n")
    assert home.load("r3") is None
    newest = home.newest()
    assert newest is not None and newest.replica == "../r 1"


def test_a_checkpoint_that_cannot_be_written_leaves_the_last_one_whole_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = CheckpointDirectory(tmp_path)
    learner = ActiveLearner("gaussian-nb")
    home.save(make_checkpoint(learner, "r0", "1-0", KEY, now=1.0))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        home.save(make_checkpoint(learner, "r0", "2-0", KEY, now=2.0))
    monkeypatch.undo()
    _only_the_last_checkpoint_whole(home, tmp_path)


def _only_the_last_checkpoint_whole(home: CheckpointDirectory, where: Path) -> None:
    assert [p.name for p in where.iterdir()] == ["r0.checkpoint"]  # no half-written file
    kept = home.load("r0")
    assert kept is not None and kept.train_log_id == "1-0"
    restore_checkpoint(kept, KEY)


def test_a_directory_deleted_while_serve_runs_is_made_again_at_the_next_save(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every save failed (counted, logged) until the next start made the directory again.
    where = tmp_path / "volume" / "checkpoints"
    where.mkdir(parents=True)
    home = CheckpointDirectory(where)
    learner = ActiveLearner("gaussian-nb")
    home.save(make_checkpoint(learner, "r0", "1-0", KEY, now=1.0))
    (where / "r0.checkpoint").unlink()
    where.rmdir()
    (tmp_path / "volume").rmdir()
    assert home.newest() is None  # read while it is gone: nothing, no error
    home.save(make_checkpoint(learner, "r0", "2-0", KEY, now=2.0))
    kept = home.load("r0")
    assert kept is not None and kept.train_log_id == "2-0"
    assert f"checkpoint directory {where} was missing: made again" in caplog.text
    # A file in its place is not replaced: the save fails, naming it.
    for entry in where.iterdir():
        entry.unlink()
    where.rmdir()
    where.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match=f"a file, not a directory: '{where}'"):
        home.save(make_checkpoint(learner, "r0", "3-0", KEY, now=3.0))
    assert where.read_text() == "not a directory"


def test_a_checkpoint_file_refused_is_named_with_what_to_do(tmp_path: Path) -> None:
    home = CheckpointDirectory(tmp_path)
    home.save(make_checkpoint(ActiveLearner("gaussian-nb"), "r1", "5-0", KEY, now=1.0))
    path = tmp_path / "r1.checkpoint"
    path.write_bytes(path.read_bytes()[:-10])  # cut short (copied half, say)
    found = home.load("r1")
    assert found is not None
    with pytest.raises(CheckpointError) as refused:
        restore_checkpoint(found, KEY)
    said = str(refused.value)
    assert f"file {path}" in said and f"delete {path}" in said
    assert "STREAM_AL_CHECKPOINT__KEY" in said


# A child process that saves a checkpoint of about 1 MB under a real file-size limit
# (RLIMIT_FSIZE) of 64 KiB: a write past it fails with EFBIG, or, with SIGXFSZ's default
# action, the kernel kills the process in the middle of the write, as a crash would.
_SAVE_PAST_THE_LIMIT = """
import resource, signal, sys
from stream_al.core.learner import ActiveLearner
from stream_al.io.base import Checkpoint
from stream_al.io.checkpoints import CheckpointDirectory

if sys.argv[2] == "killed":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it by default
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
home = CheckpointDirectory(sys.argv[1])
try:
    home.save(Checkpoint("r0", "2-0", b"x" * 1_000_000, "unsigned", 2.0))
except OSError as exc:
    print(exc.errno)
"""


def _save_past_the_limit(where: Path, how: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SAVE_PAST_THE_LIMIT, str(where), how],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_real_size_limit_fails_the_save_and_leaves_the_last_checkpoint_whole(
    tmp_path: Path,
) -> None:
    home = CheckpointDirectory(tmp_path)
    home.save(make_checkpoint(ActiveLearner("gaussian-nb"), "r0", "1-0", KEY, now=1.0))
    done = _save_past_the_limit(tmp_path, "refused")
    assert done.returncode == 0 and done.stdout.strip() == str(errno.EFBIG), done
    _only_the_last_checkpoint_whole(home, tmp_path)


def test_the_temporary_file_of_a_crash_mid_write_is_removed_at_the_next_start_and_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = CheckpointDirectory(tmp_path)
    home.save(make_checkpoint(ActiveLearner("gaussian-nb"), "r0", "1-0", KEY, now=1.0))
    crashed = _save_past_the_limit(tmp_path, "killed")
    assert crashed.returncode == -signal.SIGXFSZ, crashed  # killed in the middle of a write
    (left,) = tmp_path.glob(".r0.checkpoint.*.tmp")
    assert left.stat().st_size == 65536  # as far as it got
    writing = tmp_path / ".r1.checkpoint.77.tmp"  # replica r1 writing now: not stale yet
    forgotten = tmp_path / ".r2.checkpoint.78.tmp"  # replica r2's crash, two hours ago
    probe = tmp_path / ".write-test-79"  # a start's probe of the directory, crashed
    others = [tmp_path / "notes.tmp", tmp_path / ".r1.checkpoint.tmp", tmp_path / ".hidden.79.tmp"]
    for path in (writing, forgotten, probe, *others):
        path.write_bytes(b"x")
    hours_ago = time.time() - 2 * 3600
    for path in (forgotten, probe, *others):
        os.utime(path, (hours_ago, hours_ago))
    removed = home.remove_stale_temporaries("r0")
    assert sorted(removed) == sorted([left, forgotten, probe])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["r0.checkpoint", writing.name, *(p.name for p in others)]
    )
    assert f"removed {left} (65536 bytes), a temporary file a crash mid-write left" in caplog.text
    kept = home.load("r0")
    assert kept is not None and kept.train_log_id == "1-0"  # the last one, whole
    restore_checkpoint(kept, KEY)
