"""Settings reach every command the same way: ``--config`` on each command that reads
settings, unknown variables refused at start, ``--version``, and the Kafka client's own
log kept out of sight unless ``--verbose``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from stream_al import __version__
from stream_al.cli.main import main
from tests.deploy_support import need_module


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "stream-al.toml"
    path.write_text('[learner]\nbudget = 0.2\nstrategy = "random"\n')
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--stream", "synth:stagger", "--n-events", "400", "--seeds", "1"],
        ["demo", "--n-events", "400", "--no-plot"],
        ["bench", "engine", "--n-events", "400", "--repeats", "1"],
    ],
)
def test_config_is_read_by_evaluate_demo_and_bench(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    extra = ["--json", str(out)] if command[0] != "demo" else []
    assert main([*command, "--config", str(_config(tmp_path)), "--quiet", *extra]) == 0
    if command[0] == "evaluate":
        report = json.loads(out.read_text())
        assert (report["budget"], report["strategy"]) == (0.2, "random")
    elif command[0] == "demo":
        assert "random (this run)" in capsys.readouterr().out
    else:
        assert json.loads(out.read_text())["budget"] == 0.2


@pytest.mark.parametrize("name", ["STREAM_AL_LEARNER_BUDGET", "STREAM_AL_LERNER__BUDGET"])
def test_an_unknown_variable_stops_every_command_with_exit_2_and_the_closest_name(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, "0.05")
    assert main(["evaluate", "--stream", "synth:stagger", "--n-events", "100"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert name in err and "did you mean STREAM_AL_LEARNER__BUDGET?" in err


def test_version_prints_the_package_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_AL_LERNER__BUDGET", "0.05")  # a bad setting does not hide it
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"stream-al {__version__}"
    monkeypatch.delenv("STREAM_AL_LERNER__BUDGET")
    with pytest.raises(SystemExit) as exited:  # and `--help` lists it
        main(["--help"])
    assert exited.value.code == 0 and "--version" in capsys.readouterr().out


@pytest.mark.parametrize("library", ["kafka", "librdkafka"])
def test_the_kafka_client_s_log_is_shown_only_with_verbose(library: str) -> None:
    # kafka-python's log, and librdkafka's as the confluent backend hands it over.
    if library == "librdkafka":
        confluent = need_module("stream_al.io.kafka_confluent")
        assert confluent.librdkafka_client_log.name == library
    client = logging.getLogger(library)
    evaluate = ["evaluate", "--stream", "synth:stagger", "--n-events", "50", "--seeds", "1"]
    try:
        assert main([*evaluate, "--quiet"]) == 0
        assert not client.isEnabledFor(logging.ERROR)  # its chatter, errors included
        assert main([*evaluate, "--quiet", "--verbose"]) == 0
        assert client.isEnabledFor(logging.INFO)
    finally:
        client.setLevel(logging.NOTSET)
