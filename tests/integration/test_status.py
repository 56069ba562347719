"""``stream-al status`` on real serve processes and a real Redis: every replica's state, as
the replica wrote it (ready, or not and why), and the replicas that went silent or stopped.

Before, status read one serve's ``/metrics`` only: with a replica unready (its broker
away, its loop stuck) it printed the same healthy-looking line as when all was well.
"""

from __future__ import annotations

import subprocess
import sys

from tests.integration.deployment import ROOT, Deployment, Proc, free_port, wait_for


def _status(deployment: Deployment, serve: Proc, *args: str) -> subprocess.CompletedProcess[str]:
    """``stream-al status`` against ``serve``'s metrics, as a user runs it."""
    url = f"http://127.0.0.1:{serve.metrics_port}"
    return subprocess.run(
        [sys.executable, "-m", "stream_al.cli", "status", "--url", url, *args],
        cwd=ROOT,
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_says_which_replica_is_not_ready_and_why_and_which_went_silent_or_stopped(
    deployment: Deployment,
) -> None:
    ready = deployment.serve("r1")
    nowhere = f"127.0.0.1:{free_port()}"  # Kafka at a port where nothing listens
    unready = deployment.serve("r2", wait_ready=False, STREAM_AL_KAFKA__BOOTSTRAP_SERVERS=nowhere)
    wait_for(lambda: nowhere in unready.readyz()[1], 60, what="r2's /readyz to name its broker")
    code, said = unready.readyz()
    assert code == 503 and said.startswith("not ready: ")

    def r2_state_names_its_broker() -> bool:
        states = {s.replica: s.state for s in deployment.store().replica_states()}
        r2 = states.get("r2")
        return r2 is not None and nowhere in r2.reason

    wait_for(r2_state_names_its_broker, 30, what="r2's state in redis")
    status = _status(deployment, ready, "--interval", "0.2")
    assert status.returncode == 1, status.stderr  # r2 is not ready: not an all-clear
    first, *replicas = status.stdout.splitlines()
    assert first.startswith("events 0 (")  # the line status printed before, as it was
    assert replicas[0] == "  replica r1: ready", status.stdout
    assert replicas[1].startswith("  replica r2: NOT READY for "), status.stdout
    assert replicas[1].endswith(f": {said.removeprefix('not ready: ')}"), (replicas, said)

    unready.kill()  # SIGKILL: no last word; its state expires
    wait_for(
        lambda: [s.state for s in deployment.store().replica_states()][1] is None,
        30,
        what="r2's state to expire",
    )
    status = _status(deployment, ready, "--interval", "0.2")
    assert status.returncode == 1, status.stderr
    assert "  replica r2: SILENT for " in status.stdout, status.stdout
    assert "(killed, hung, or cut off from redis)" in status.stdout

    assert ready.terminate() == 0
    # Nothing answers at r1's address now: status says so (exit 2), and what r1 said last.
    status = _status(deployment, ready, "--wait", "0")
    assert status.returncode == 2 and "nothing answers at" in status.stderr
    assert "  replica r1: stopped " in status.stdout, status.stdout
    assert "  replica r2: SILENT for " in status.stdout, status.stdout


def test_status_names_a_replica_state_written_by_hand_unreadable_and_goes_on(
    deployment: Deployment,
) -> None:
    # A state nested deeper than a parser goes (RecursionError) or a replica name that is
    # not UTF-8 in the list stopped status itself ("failed: ..."), every replica unsaid.
    ready = deployment.serve("r1")
    wait_for(
        lambda: [s.state.ready for s in deployment.store().replica_states() if s.state] == [True],
        30,
        what="r1's state: ready",
    )
    r, prefix = deployment.redis(), deployment.prefix
    now = r.time()[0]
    r.zadd(f"{prefix}:replicas", {"r8": now, b"r\xff9": now})
    r.set(f"{prefix}:replica:r8", "[" * 100_000)
    status = _status(deployment, ready, "--interval", "0.2")
    assert status.returncode == 1, status.stdout + status.stderr  # unreadable: no all-clear
    _, *replicas = status.stdout.splitlines()
    assert "  replica r1: ready" in replicas, status.stdout + status.stderr
    assert any(
        line.startswith("  replica r8: its state in redis cannot be read") for line in replicas
    ), status.stdout
    assert any(
        line.startswith("  replica r\\xff9: its state in redis cannot be read") for line in replicas
    ), status.stdout
