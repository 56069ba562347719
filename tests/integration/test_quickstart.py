"""The README's runnable blocks, verbatim, on a copy of the clone: its own .venv (made by
the quickstart's `./scripts/setup`), its own Kafka and Redis (`scripts/services up` in the
copy, stopped by its `scripts/services down`), and the accuracy of serve's predictions
above the majority-class rate while the stream still arrives.

A block is runnable when the line before its ```bash fence is ``<!-- runnable -->``. The
blocks run in README order as one bash script in the copy's root. The test adds to the
environment only a free port for serve's metrics (9400 may be taken on a shared machine);
it removes the STREAM_AL_* settings and the services' variables of the test session.
Needs what the quickstart needs (Python, Java 17 and Maven, redis-server, and the package
index or pip's cache for the install); without them it is skipped, or fails under CI=true.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy_support import missing
from tests.integration.deployment import ROOT, free_port

MARKER = "<!-- runnable -->"
TIMEOUT_S = 1200  # a first install (a minute or more) and Kafka's start are in it
STATUS = re.compile(
    r"events (?P<events>[\d,]+) \(.*learned (?P<learned>[\d,]+)"
    # on the randomly asked items when the strategy asks some at random (unbiased), else on
    # every labeled item (harder by design: beating the majority class there is conservative)
    r" · accuracy (?P<accuracy>[\d.]+)% on (?:randomly asked|labeled) items"
)


def runnable_blocks(readme: str) -> list[str]:
    """The README's bash blocks marked runnable, in order."""
    return re.findall(re.escape(MARKER) + r"\n```bash\n(.*?)```", readme, re.S)


def _missing() -> str | None:
    for tool in ("java", "mvn", "redis-server", "git"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """The repository's files (tracked, and new ones not ignored: the working tree under
    test) copied to a fresh directory, as a clone would have them."""
    why = _missing()
    if why is not None:
        missing(f"the quickstart test needs it: {why}")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    target = tmp_path / "clone"
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    yield target
    # Whatever the script did, the copy's servers stop (by the pids scripts/services keeps).
    subprocess.run([str(target / "scripts" / "services"), "down"], cwd=target, check=False)


def _environment(clone: Path) -> dict[str, str]:
    drop = ("STREAM_AL_", "KAFKA_BOOTSTRAP", "REDIS_URL", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    bin_dir = str(Path(sys.executable).parent)
    # The session's own venv off PATH: the quickstart must find stream-al in the clone's.
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != bin_dir)
    env["STREAM_AL_METRICS__PORT"] = str(free_port())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _majority_rate(path: Path) -> float:
    with path.open(newline="") as f:
        classes = Counter(row["class"] for row in csv.DictReader(f))
    return max(classes.values()) / sum(classes.values())


def test_the_readme_quickstart_runs_as_written_and_learns_while_the_stream_arrives(
    clone: Path,
) -> None:
    blocks = runnable_blocks((clone / "README.md").read_text())
    assert len(blocks) >= 3, "the README marks its quickstart runnable"
    script = clone / "readme.sh"
    # -e: a failing command fails the test (-u would trip on venv's activate script).
    script.write_text("set -eo pipefail\n" + "\n".join(blocks))
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=clone,
        env=_environment(clone),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its background jobs are in its process group
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    logs = "".join(
        f"\n----- {p.name} -----\n{p.read_text(errors='replace')[-3000:]}"
        for p in (clone / "serve.log", clone / "worker.log")
        if p.exists()
    )
    assert proc.returncode == 0, output[-6000:] + logs

    total = sum(1 for _ in (clone / "examples" / "sea.csv").open()) - 1
    majority = _majority_rate(clone / "examples" / "sea.csv")
    lines = [m.groupdict() for m in STATUS.finditer(output)]
    assert lines, output[-4000:]
    during = [
        line
        for line in lines
        if int(line["events"].replace(",", "")) < total
        and int(line["learned"].replace(",", "")) > 0
    ]
    assert during, f"no status line while the stream arrived:\n{output[-4000:]}"
    best = max(float(line["accuracy"]) / 100 for line in during)
    assert best > majority, f"accuracy {best:.3f} never beat the majority class {majority:.3f}"
    final = lines[-1]
    assert int(final["events"].replace(",", "")) == total
