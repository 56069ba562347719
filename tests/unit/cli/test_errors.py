"""Every error says what to fix: the address and its setting, the port and its setting,
the expected type; one line, exit code 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_al.cli.main import main


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_produce_with_kafka_away_names_the_address_and_its_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["produce", "--stream", "synth:stagger", "--limit", "5", "--quiet"]
    assert main([*args, "--bootstrap", "127.0.0.1:1"]) == 2
    err = _one_line(capsys)
    assert "127.0.0.1:1" in err and "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS" in err, err
    assert "--bootstrap" in err


def test_the_web_page_on_a_busy_port_names_the_port_and_its_setting(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_AL_WORKER__WEB_TOKEN", "a-token-of-some-length")
    monkeypatch.setenv("STREAM_AL_WORKER__WEB_PORT", str(busy_port))
    monkeypatch.setenv("STREAM_AL_REDIS__URL", "redis://127.0.0.1:1/0")
    assert main(["worker", "--oracle", "web", "--quiet"]) == 2
    err = _one_line(capsys)
    assert f"127.0.0.1:{busy_port}" in err and "STREAM_AL_WORKER__WEB_PORT" in err, err


def test_a_warm_start_whose_labels_differ_in_type_from_the_stream_s_names_the_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    history.write_text("a,b,class\n" + "".join(f"0.{i},0.{i},{i % 2}\n" for i in range(50)))
    args = ["evaluate", "--stream", "river:Phishing", "--n-events", "300", "--seeds", "1"]
    args += ["--warm-start", f"csv:{history}", "--target", "class", "--quiet"]
    assert main(args) == 2
    err = _one_line(capsys)
    assert "bool" in err and "str" in err and "'0'" in err, err
