from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import run_peers


def test_versions_fall_back_to_those_recorded_when_a_venv_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--report-only`` without the peers' venvs still names their versions."""
    recorded = tmp_path / "versions.json"
    recorded.write_text(json.dumps({"river": "0.26.1", "moa": "0.15.1"}))
    runners = {
        "stream-al": (Path(sys.executable), Path("unused")),
        "river": (tmp_path / "no-venv/bin/python", Path("unused")),
        "moa": (tmp_path / "no-venv/bin/python", Path("unused")),
        "scikit-activeml": (tmp_path / "no-venv/bin/python", Path("unused")),
    }
    monkeypatch.setattr(run_peers, "RUNNERS", runners)
    monkeypatch.setitem(run_peers.VERSIONS, "stream-al", "pytest")  # installed in every venv

    found = run_peers._versions(["stream-al", "river", "moa", "scikit-activeml"], recorded)

    assert found["stream-al"] == pytest.__version__
    assert (found["river"], found["moa"]) == ("0.26.1", "0.15.1")
    assert "scikit-activeml" not in found  # neither a venv nor a record: not invented
    # what was asked of a venv is recorded beside what was already there
    assert json.loads(recorded.read_text()) == {
        "river": "0.26.1",
        "moa": "0.15.1",
        "stream-al": pytest.__version__,
    }
