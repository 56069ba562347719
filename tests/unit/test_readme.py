"""The README is the front door: what it says must hold on a fresh clone. The commands it
marks runnable are run by tests/integration/test_quickstart.py; these check the rest."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_al.cli.parser import build_parser
from stream_al.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MARKER = "<!-- runnable -->"


def shell_blocks(text: str = README) -> list[tuple[bool, str]]:
    """Every ```bash block of the README: ``(marked runnable, its text)``."""
    found = re.finditer(r"(<!-- runnable -->\n)?```bash\n(.*?)```", text, re.S)
    return [(m.group(1) is not None, m.group(2)) for m in found]


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_the_quickstart_is_runnable_and_puts_stream_al_on_path_first() -> None:
    quickstart = _section("Quickstart: the service on your machine")
    runnable = [text for marked, text in shell_blocks(quickstart) if marked]
    assert len(runnable) >= 3
    first = runnable[0]
    assert first.index("scripts/setup") < first.index(". .venv/bin/activate")
    before = first.split(". .venv/bin/activate")[0]
    assert not any(line.startswith("stream-al") for line in before.splitlines())
    flow = "\n".join(runnable)
    assert "--rate" in flow and "stream-al status" in flow and "&" in flow
    assert flow.index("stream-al worker") < flow.index("stream-al status")


@pytest.mark.parametrize("marked", [True, False], ids=["runnable", "other"])
def test_no_readme_command_reads_a_file_a_clone_does_not_have(marked: bool) -> None:
    written = {"truth.csv", "model.salm", "evaluate.json", "serve.log", "worker.log"}
    for is_runnable, text in shell_blocks():
        if is_runnable != marked:
            continue
        for path in re.findall(r"(?:csv|file|model):([^\s\"'$)]+)", text):
            assert (ROOT / path).exists() or path in written, f"{path} in {text!r}"
        assert "../shared" not in text, text


def test_the_readme_installs_from_a_checkout_not_from_the_package_index() -> None:
    assert not re.search(r"pip install ['\"]?stream-al", README)
    assert "pip install -e '.[fast]'" in README


def test_the_image_tag_is_one_in_the_readme_compose_and_kubernetes() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    tag = f"stream-al:{version}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    images = {s["image"] for s in compose["services"].values() if "stream-al" in s["image"]}
    assert images == {tag}
    statefulset = yaml.safe_load((ROOT / "deploy" / "k8s" / "statefulset.yaml").read_text())
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["image"] == tag
    built = re.findall(r"docker build -f deploy/Dockerfile -t (\S+) \.", README)
    assert built and set(built) == {tag}
    assert "stream-al:latest" not in README


def test_the_image_pins_every_runtime_dependency() -> None:
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line}: a pin is name==version"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in [*project["dependencies"], *project["optional-dependencies"]["fast"]]:
        req = Requirement(text)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is not pinned in deploy/constraints.txt"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} breaks {text}"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "deploy/constraints.txt" in dockerfile and "-c constraints.txt" in dockerfile


def test_the_deploy_notes_say_compose_v2_and_how_to_start_label_studio() -> None:
    assert "Docker Compose v2" in _section("Deploy")
    assert "Compose" in (ROOT / "docker-compose.yml").read_text().split("name:")[0]
    label_studio = README[README.index("### Connecting Label Studio") :]
    for needed in ("label-studio start", "--username", "--password", "--user-token"):
        assert needed in label_studio, needed


def test_troubleshooting_names_the_five_likeliest_failures() -> None:
    items = [line for line in _section("Troubleshooting").splitlines() if line.startswith("- ")]
    assert len(items) >= 5


def test_the_commands_table_lists_every_command() -> None:
    parser = build_parser(Settings())
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    table = _section("Commands")
    for name in commands:
        assert f"`stream-al {name}" in table or f"`{name}`" in table, name


def test_what_a_skip_does_is_said_in_the_readme_and_the_design() -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    assert "skipped item goes back to the queue" in README
    assert "skipped item goes back to the queue" in design


def test_the_redis_keys_paragraph_names_every_key() -> None:
    from stream_al.io.redis_keys import RedisKeys

    keys = RedisKeys("stream_al")
    names = [v for v in vars(keys).values() if isinstance(v, str) and v != "stream_al"]
    names += [keys.pending("{id}"), keys.votes("{id}"), keys.labeled("{id}")]
    names.append(keys.joined("{entry}"))
    names += [keys.checkpoint("{replica}"), keys.checkpoints]
    names += [keys.replica_state("{replica}"), keys.replicas]
    names += keys.queues  # every tier and band
    start = README.index("Redis keys (prefix")
    paragraph = README[start : README.index("\n\n", start)]
    assert len(names) >= 15
    assert [name for name in names if f"`{name}`" not in paragraph] == []


# -- the lines Troubleshooting quotes ------------------------------------------------------
# A user finds an entry by the line their terminal or log shows, so each line quoted there
# is checked against the one the code makes (``...`` in a quote: what it leaves out). The
# lines made here are those a unit test can make as the program does; the rest are logged
# deep in a running serve or worker.

Fixtures = pytest.FixtureRequest


def _quote(fragment: str) -> str:
    """The one quote of Troubleshooting that holds ``fragment`` (its line breaks read as
    the spaces Markdown makes of them)."""
    section = re.sub(r"\s*\n\s*", " ", _section("Troubleshooting"))
    quotes = [quote for quote in re.findall(r"`([^`]+)`", section) if fragment in quote]
    assert len(quotes) == 1, f"{fragment!r} in {quotes}"
    return quotes[0]


def _shows(quote: str, message: str) -> bool:
    """Whether ``message`` says ``quote``: its parts in order, ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part.strip()) for part in quote.split("..."))
    return re.search(pattern, message, re.S) is not None


def _stderr_of(argv: list[str], fixtures: Fixtures) -> str:
    from stream_al.cli.main import main

    capsys = fixtures.getfixturevalue("capsys")
    capsys.readouterr()
    assert main(argv) == 2
    return str(capsys.readouterr().err)


def _unknown_setting(fixtures: Fixtures) -> str:
    fixtures.getfixturevalue("monkeypatch").setenv("STREAM_AL_LEARNER_BUDGET", "0.05")
    return _stderr_of(["settings"], fixtures)


def _connect_to_no_broker() -> None:
    """kafka-python's refusal as stream-al's Kafka client turns it (the default address)."""
    from kafka.errors import NoBrokersAvailable

    from stream_al.config import KafkaSettings
    from stream_al.io.kafka import _no_brokers

    with _no_brokers(KafkaSettings()):
        raise NoBrokersAvailable()


def _produce_with_no_broker(fixtures: Fixtures) -> str:
    monkeypatch = fixtures.getfixturevalue("monkeypatch")
    monkeypatch.setattr("stream_al.io.kafka.KafkaProducer", lambda **_: _connect_to_no_broker())
    return _stderr_of(["produce", "--stream", "synth:stagger", "--limit", "1"], fixtures)


def _waiting_for_kafka(fixtures: Fixtures) -> tuple[str, str]:
    """serve's log line, and the reason its replica gives, while no broker answers."""
    import logging

    from stream_al.runtime.backoff import retrying

    caplog = fixtures.getfixturevalue("caplog")
    reasons: list[str] = []
    with caplog.at_level(logging.WARNING, logger="stream_al.runtime"):
        retrying(
            "kafka",
            _connect_to_no_broker,
            stopping=lambda: bool(reasons),
            on_failure=reasons.append,
            sleep=lambda seconds: None,
        )
    return caplog.records[0].getMessage(), reasons[0]


def _serve_log(fixtures: Fixtures) -> str:
    return _waiting_for_kafka(fixtures)[0]


def _status_line(fixtures: Fixtures) -> str:
    from stream_al.cli.report import replica_line
    from stream_al.io.base import ReplicaSeen, ReplicaState

    reason = _waiting_for_kafka(fixtures)[1]
    return replica_line(ReplicaSeen("r1", ReplicaState(False, reason, 100.0, 147.0), 1.0))


def _port_taken() -> OSError:
    import errno

    return OSError(errno.EADDRINUSE, "Address already in use")


def _metrics_port_taken(fixtures: Fixtures) -> str:
    from stream_al.errors import ConfigurationError
    from stream_al.runtime.health import Health
    from stream_al.runtime.metrics import Metrics
    from stream_al.service import serve

    class Taken:
        def __init__(self, *args: object) -> None:
            pass

        def start(self) -> None:
            raise _port_taken()

    fixtures.getfixturevalue("monkeypatch").setattr(serve, "HealthServer", Taken)
    settings = Settings(metrics={"host": "127.0.0.1", "port": 9400})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as refused:
        serve._health_server(settings, Metrics.create(), Health())
    return str(refused.value)


def _web_port_taken(fixtures: Fixtures) -> str:
    from stream_al.errors import ConfigurationError
    from stream_al.labeling.run import _listening

    with (
        pytest.raises(ConfigurationError) as refused,
        _listening("127.0.0.1", 8600, "STREAM_AL_WORKER__WEB_PORT"),
    ):
        raise _port_taken()
    return str(refused.value)


def _no_checkpoint_key(fixtures: Fixtures) -> str:
    from stream_al.errors import ConfigurationError
    from stream_al.service.serve import _checkpoint_key

    with pytest.raises(ConfigurationError) as refused:
        _checkpoint_key(Settings(checkpoint={"key": None}))  # type: ignore[arg-type]
    return str(refused.value)


def _key_not_ours(fixtures: Fixtures) -> str:
    from types import SimpleNamespace

    from stream_al.io.base import WrongType
    from stream_al.io.redis import RedisStore
    from stream_al.io.redis_keys import RedisKeys

    store = SimpleNamespace(keys=RedisKeys("P"))
    wrong = WrongType("P:state_id", "hash", "string")
    return str(RedisStore._not_ours(store, [wrong]))  # type: ignore[arg-type]


def _framed_event(fixtures: Fixtures) -> str:
    from stream_al.service.loop import read_event

    reason = read_event(bytes([0, 0, 0, 0, 7]) + b'{"id": "e1"}', 65_536, 1_000)
    assert isinstance(reason, str)
    return reason


def _bad_signature(fixtures: Fixtures) -> str:
    from stream_al.core.learner import ActiveLearner
    from stream_al.errors import CheckpointError
    from stream_al.io.checkpoints import make_checkpoint, restore_checkpoint

    checkpoint = make_checkpoint(ActiveLearner("gaussian-nb"), "r1", "5-0", b"one", now=0.0)
    with pytest.raises(CheckpointError) as refused:
        restore_checkpoint(checkpoint, b"another")
    return str(refused.value)


def _label_of_another_kind(fixtures: Fixtures) -> str:
    from stream_al.core.feature_kinds import FeatureKinds, InvalidExample

    kinds = FeatureKinds()
    kinds.learn_label("yes")
    with pytest.raises(InvalidExample) as refused:
        kinds.check_label(1)
    return str(refused.value)


def _redis_refuses(reply: str) -> Any:
    def refuses(fixtures: Fixtures) -> str:
        import redis

        from stream_al.io.redis_faults import refusal

        exc = {
            "OOM": redis.exceptions.OutOfMemoryError("command not allowed when used memory > x"),
            "READONLY": redis.exceptions.ReadOnlyError("You can't write against a replica."),
            "MISCONF": redis.ResponseError("MISCONF Redis is configured to save RDB snapshots"),
        }[reply]
        return str(refusal(exc))

    return refuses


def _topics_missing(auto_create: bool | None) -> Any:
    def missing(fixtures: Fixtures) -> str:
        from stream_al.service.topics import EVENTS_SETTING, missing_topics_reason

        return missing_topics_reason({"NAME": EVENTS_SETTING}, "k:9092", auto_create, "denied")

    return missing


def _not_in_the_truth_file(fixtures: Fixtures) -> str:
    import logging

    from stream_al.labeling.oracles import FileOracle

    truth = fixtures.getfixturevalue("tmp_path") / "truth.csv"
    truth.write_text("id,label\n0,yes\n")
    caplog = fixtures.getfixturevalue("caplog")
    with caplog.at_level(logging.WARNING, logger="stream_al.worker"):
        FileOracle(truth).label({"id": "sea-00007"})
    return str(caplog.records[0].getMessage())


def _worker_progress(fixtures: Fixtures) -> str:
    from stream_al.labeling.worker import WorkerStats

    return WorkerStats(labeled=0, skipped=120, started=0.0).line(now=60.0)


QUOTED = {  # a fragment of the quote: what makes the line
    "did you mean STREAM_AL_LEARNER__BUDGET": _unknown_setting,
    "9092 ... STREAM_AL_KAFKA__BOOTSTRAP_SERVERS": _produce_with_no_broker,
    "waiting for kafka (": _serve_log,
    "NOT READY for": _status_line,
    "cannot listen on 127.0.0.1:9400": _metrics_port_taken,
    "cannot listen on 127.0.0.1:8600": _web_port_taken,
    "CHECKPOINT__KEY is not set": _no_checkpoint_key,
    "redis key P:state_id": _key_not_ours,
    "Invalid JSON": _framed_event,
    "has a bad signature": _bad_signature,
    "label 1 is an integer": _label_of_another_kind,
    "redis refuses writes": _redis_refuses("OOM"),
    "it is out of memory": _redis_refuses("OOM"),
    "it is a read-only replica": _redis_refuses("READONLY"),
    "it cannot write its snapshot": _redis_refuses("MISCONF"),
    "does not exist, and the broker does not create": _topics_missing(False),
    "--create --topic NAME": _topics_missing(False),
    "whether the broker creates topics": _topics_missing(None),
    "skipped": _worker_progress,
    "is not in the truth file": _not_in_the_truth_file,
}


@pytest.mark.parametrize("fragment", list(QUOTED))
def test_a_line_troubleshooting_quotes_is_the_line_the_code_makes(
    fragment: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("STREAM_AL_")]:
        monkeypatch.delenv(name)  # the defaults, as the quotes show them
    quote = _quote(fragment)
    message = QUOTED[fragment](request)
    assert _shows(quote, message), f"README quotes {quote!r}; the code says {message!r}"


def _commands_written() -> list[str]:
    """Every ``stream-al ...`` command the README writes: a line of a bash block (after
    its comment and ``VAR=value`` prefix) or an inline quote that starts with one."""
    found = []
    for _, block in shell_blocks():
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            for part in re.split(r";|&&|\||&|\$\(", line.split(" #")[0]):
                words = [w for w in part.split() if not re.match(r"[A-Z_]+=", w)]
                if words[:1] == ["stream-al"]:
                    found.append(" ".join(words))
    prose = re.sub(r"```.*?```", "", README, flags=re.S).replace("\n", " ")
    for quote in re.findall(r"`([^`]+)`", prose):
        words = [w for w in quote.split() if not re.match(r"[A-Z_]+=", w)]
        if words[:1] == ["stream-al"]:
            found.append(" ".join(words))
    return found


def test_every_flag_a_readme_command_gives_is_one_the_command_takes() -> None:
    import argparse

    def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    commands = _commands_written()
    assert len(commands) >= 30
    wrong = []
    for command in commands:
        parser, words = build_parser(Settings()), command.split()[1:]
        while words and words[0] in sub_commands(parser):
            parser = sub_commands(parser)[words.pop(0)]
        if words and re.fullmatch(r"[a-z][a-z-]*", words[0]) and sub_commands(parser):
            wrong.append(f"{command}: no command {words[0]}")
        flags = {flag for action in parser._actions for flag in action.option_strings}
        for word in words:
            flag = re.match(r"\[?(--?[a-z][\w-]*)", word)
            if flag and flag.group(1) not in flags:
                wrong.append(f"{command}: {parser.prog} has no {flag.group(1)}")
    assert wrong == []
