"""serve's warm start at start-up (real servers: tests/integration/test_warm_start.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stream_al.config import Settings
from stream_al.core.learner import ActiveLearner
from stream_al.io.checkpoints import make_checkpoint
from stream_al.io.memory import MemoryStore
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.serve import _Start

KEY = b"a checkpoint key of 32 bytes...."
SEA = Path(__file__).resolve().parents[3] / "examples" / "sea.csv"


def _start(store: MemoryStore) -> tuple[_Start, str]:
    settings = Settings(
        service={"replica_id": "r1", "warm_start": f"csv:{SEA}", "warm_start_target": "class"}  # type: ignore[arg-type]
    )
    start = _Start(settings, KEY, Health(), Metrics.create())
    restored = start.learner(store)  # type: ignore[arg-type]
    assert restored is not None
    return start, restored.origin


def test_a_warm_start_a_checkpoint_overrides_is_said_not_passed_over_in_silence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al.serve")
    _, origin = _start(MemoryStore())  # no checkpoint yet: the history is learned
    assert origin.startswith("warm start") and "not learned" not in caplog.text
    caplog.clear()
    store = MemoryStore()  # another replica checkpointed: the warm start is not learned
    store.save(make_checkpoint(ActiveLearner("gaussian-nb"), "r2", None, KEY, now=1.0))
    _, origin = _start(store)
    assert origin == "newest checkpoint (r2)"
    [said] = [r.getMessage() for r in caplog.records if "not learned" in r.getMessage()]
    assert f"warm start csv:{SEA} not learned" in said and "newest checkpoint (r2)" in said
    assert "STREAM_AL_REDIS__PREFIX" in said
