"""The README is the front door: what it says must hold on a fresh clone. The commands it
marks runnable are run by tests/integration/test_quickstart.py; these check the rest."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
