"""The Label Studio bridge against a real Label Studio server, with serve on real Kafka and
Redis: tasks with predictions, labels by webhook and by polling, skips, a restart that
creates no duplicate task, and queue items acknowledged only once their label is written.

The server comes from `scripts/label-studio install` (.services/label-studio-venv), or the
`label-studio` command named by STREAM_AL_LABEL_STUDIO; without one the test is skipped,
and fails under CI (CI=true).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import missing
from tests.integration.deployment import ROOT, Deployment, free_port, stream_records, wait_for

EMAIL = "annotator@example.com"
START_TIMEOUT_S = 240.0  # a first start migrates its database: about a minute here


@dataclass(frozen=True)
class LabelStudio:
    """A running Label Studio server and the tokens of its one user."""

    url: str
    token: str  # the legacy API token
    log: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text.strip() else None

    def project(self, title: str) -> dict[str, Any] | None:
        found = self.api("GET", "/api/projects/?page_size=1000")["results"]
        return next((p for p in found if p["title"] == title), None)

    def tasks(self, project: int) -> list[dict[str, Any]]:
        answer = self.api("GET", f"/api/tasks/?project={project}&fields=all&page_size=1000")
        return list(answer["tasks"])

    def annotate(self, task: int, label: str | None, by: int | None = None) -> None:
        """Submit an annotation choosing ``label`` (as user ``by``, default the token's
        own); None skips the task."""
        if label is None:
            body: dict[str, Any] = {"result": [], "was_cancelled": True}
        else:
            region = {"from_name": "label", "to_name": "features", "type": "choices"}
            body = {"result": [{**region, "value": {"choices": [label]}}]}
        if by is not None:
            body["completed_by"] = by
        self.api("POST", f"/api/tasks/{task}/annotations", body)


def _command() -> str | None:
    for candidate in (
        os.environ.get("STREAM_AL_LABEL_STUDIO"),
        str(ROOT / ".services" / "label-studio-venv" / "bin" / "label-studio"),
        shutil.which("label-studio"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """A Label Studio server on a free loopback port, its data in a temporary directory;
    stopped (its process group, by pid) and removed at the end of the session."""
    command = _command()
    if command is None:
        missing("Label Studio is not installed: run `scripts/label-studio install`")
    data = tmp_path_factory.mktemp("label-studio")
    port, token = free_port(), secrets.token_hex(20)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        # The bridge's webhook listens on 127.0.0.1, which Label Studio's SSRF guard refuses.
        "SSRF_PROTECTION_ENABLED": "false",
    }
    log = data / "label-studio.log"
    args = [command, "start", "--internal-host", "127.0.0.1", "--port", str(port)]
    # Hex, not token_urlsafe: a password starting with "-" reads as an option to argparse.
    args += ["--no-browser", "--username", EMAIL, "--password", secrets.token_hex(12)]
    args += ["--user-token", token, "--enable-legacy-api-token"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: _healthy(url) or proc.poll() is not None,
            START_TIMEOUT_S,
            interval=1.0,
            what="Label Studio to answer /health",
        )
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        yield LabelStudio(url, token, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


def _held(deployment: Deployment, consumer: str) -> int:
    """Queue items ``consumer`` holds unacknowledged (crowd tier)."""
    summary = deployment.redis().xpending(f"{deployment.prefix}:queue", "workers")
    for found in summary.get("consumers") or []:
        name = found["name"]
        if (name.decode() if isinstance(name, bytes) else name) == consumer:
            return int(found["pending"])
    return 0


def _learned(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The labels in the train log, by item id (with the item's ``prediction``)."""
    out = {}
    for entry in deployment.store().read_train_log(None, 100_000):
        label = json.loads(entry.label)
        out[str(label["id"])] = {**label, "prediction": json.loads(entry.item).get("prediction")}
    return out


def _bridge(deployment: Deployment, ls: LabelStudio, title: str, **settings: str) -> Any:
    env = deployment.env(
        **{
            "STREAM_AL_WORKER__NAME": "ls-bridge",
            "STREAM_AL_WORKER__LABEL_STUDIO_URL": ls.url,
            "STREAM_AL_WORKER__LABEL_STUDIO_TITLE": title,
            "STREAM_AL_WORKER__LABEL_STUDIO_MAX_OPEN_TASKS": "4",
            **settings,
        }
    )
    return deployment._start(["worker", "--oracle", "label-studio"], "bridge", env, None)


def _webhook_bridge(
    deployment: Deployment, ls: LabelStudio, title: str, hook_port: int, secret: str
) -> Any:
    """A bridge told of annotations by Label Studio's webhook (and no polling to speak
    of), on the legacy token."""
    return _bridge(
        deployment,
        ls,
        title,
        STREAM_AL_WORKER__LABEL_STUDIO_TOKEN=ls.token,
        STREAM_AL_WORKER__LABEL_STUDIO_POLL_SECONDS="3600",
        STREAM_AL_WORKER__LABEL_STUDIO_WEBHOOK_URL=f"http://127.0.0.1:{hook_port}/",
        STREAM_AL_WORKER__LABEL_STUDIO_WEBHOOK_PORT=str(hook_port),
        STREAM_AL_WORKER__LABEL_STUDIO_WEBHOOK_SECRET=secret,
    )


def test_the_bridge_through_a_real_label_studio(
    deployment: Deployment, tmp_path: Path, label_studio: LabelStudio
) -> None:
    ls = label_studio
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "0.2"
    truth_file = tmp_path / "truth.csv"
    records = stream_records("synth:sea-drift", 500, truth_file)
    truth = dict(row.split(",") for row in truth_file.read_text().splitlines()[1:])
    serve = deployment.serve()

    # The model learns first from a file worker, so the bridge's items carry predictions.
    deployment.produce_raw(records[:300])
    wait_for(lambda: len(deployment.predictions()) >= 300, 60, what="300 predictions")
    first = deployment.worker(truth_file, "w1", "--idle-exit", "3")
    assert first.popen.wait(timeout=120) == 0, first.output()
    store = deployment.store()
    wait_for(lambda: store.queue_depth() == 0, 30, what="the first items labeled")
    deployment.produce_raw(records[300:])
    wait_for(lambda: store.queue_depth() >= 12, 60, what="items for the bridge")

    # A bridge with a webhook (and no polling to speak of), on the legacy token.
    title, hook_port, secret = f"stream-al {deployment.prefix}", free_port(), "hook-secret-1"
    bridge = _webhook_bridge(deployment, ls, title, hook_port, secret)
    project = wait_for(lambda: ls.project(title), 60, what="the project")
    assert project["sampling"] == "Uncertainty sampling"
    assert project["show_collab_predictions"] is False  # predictions rank, never pre-select
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 4 and t, 60, what="4 tasks"
    )
    assert len(tasks) == 4 and _held(deployment, "ls-bridge") == 4
    for task in tasks:
        [prediction] = task["predictions"]
        assert prediction["model_version"] == "stream-al" and 0.0 <= prediction["score"] <= 1.0
        [region] = prediction["result"]
        assert region["value"]["choices"][0] in ("True", "False")
        assert task["data"]["stream_al_id"] in truth and task["meta"]["stream_al_entry"]
    [hook] = ls.api("GET", f"/api/webhooks/?project={project['id']}")
    assert hook["headers"] == {"X-Stream-Al-Secret": secret}

    # Two labels and a skip, delivered by the webhook.
    t1, t2, t3, t4 = tasks
    ids = {t["id"]: t["data"]["stream_al_id"] for t in tasks}
    learned_before = serve.metric("stream_al_labels_total", outcome="learned")
    ls.annotate(t1["id"], truth[ids[t1["id"]]])
    ls.annotate(t2["id"], truth[ids[t2["id"]]])
    ls.annotate(t3["id"], None)
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="learned") >= learned_before + 2,
        60,
        what="two labels learned",
    )
    labels = _learned(deployment)
    for task in (t1, t2):
        label = labels[ids[task["id"]]]
        assert label["annotator"] == f"label-studio:{EMAIL}"
        assert str(label["label"]) == truth[ids[task["id"]]]
        assert type(label["label"]) is type(label["prediction"])  # a class, not its text
    assert ids[t3["id"]] not in labels  # skipped: dropped from the queue, never learned
    # The bridge fills up again: three new tasks.
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 7 and t, 60, what="7 tasks"
    )
    assert len(tasks) == 7

    # The webhook goes away; an annotation given now reaches nobody yet, and its item
    # stays held (unacknowledged) until its label is written.
    ls.api("DELETE", f"/api/webhooks/{hook['id']}/")
    ls.annotate(t4["id"], truth[ids[t4["id"]]])
    assert _held(deployment, "ls-bridge") == 4
    assert bridge.terminate(timeout=20) == 0, bridge.output()
    assert _held(deployment, "ls-bridge") == 4  # a stopped bridge keeps its items

    # Restart: a personal access token (JWT), no webhook, polling every second.
    pat = ls.api("POST", "/api/token/")["token"]
    restarted = _bridge(
        deployment,
        ls,
        title,
        STREAM_AL_WORKER__LABEL_STUDIO_TOKEN=pat,
        STREAM_AL_WORKER__LABEL_STUDIO_POLL_SECONDS="1",
    )
    wait_for(lambda: ids[t4["id"]] in _learned(deployment), 60, what="the label given offline")
    assert _learned(deployment)[ids[t4["id"]]]["annotator"] == f"label-studio:{EMAIL}"
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 8 and t, 60, what="8 tasks"
    )
    items = [t["data"]["stream_al_id"] for t in tasks]
    assert len(items) == len(set(items)) == 8, "a task was created twice"

    # A label only polling can find (no webhook is registered any more).
    assert ls.api("GET", f"/api/webhooks/?project={project['id']}") == []
    open_tasks = [t for t in tasks if not t["annotations"] and t["cancelled_annotations"] == 0]
    polled = open_tasks[0]
    item = polled["data"]["stream_al_id"]
    ls.annotate(polled["id"], truth[item])
    wait_for(lambda: item in _learned(deployment), 60, what="the polled label learned")
    # Unanswered tasks' items are still in the queue, held by the bridge.
    wait_for(lambda: len(ls.tasks(project["id"])) >= 9, 60, what="the bridge refilled")
    unanswered = [t for t in ls.tasks(project["id"]) if not t["annotations"]]
    assert _held(deployment, "ls-bridge") == len(unanswered) == 4
    assert restarted.terminate(timeout=20) == 0, restarted.output()
    assert "Traceback" not in bridge.output() + restarted.output()


def test_a_bad_token_or_address_is_a_usage_error(
    deployment: Deployment, label_studio: LabelStudio
) -> None:
    for url, token, says in (
        (label_studio.url, "not-the-token", "refused the token"),
        (f"http://127.0.0.1:{free_port()}", label_studio.token, "cannot reach Label Studio"),
    ):
        proc = _bridge(
            deployment,
            label_studio,
            "never",
            STREAM_AL_WORKER__LABEL_STUDIO_URL=url,
            STREAM_AL_WORKER__LABEL_STUDIO_TOKEN=token,
        )
        assert proc.popen.wait(timeout=60) == 2
        assert says in proc.output() and "Traceback" not in proc.output()


def test_consensus_items_take_one_vote_per_label_studio_annotator(
    deployment: Deployment, tmp_path: Path, label_studio: LabelStudio
) -> None:
    ls = label_studio
    deployment.settings["STREAM_AL_SERVICE__CROWD_VOTES"] = "2"
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "0.2"
    truth_file = tmp_path / "truth.csv"
    records = stream_records("synth:sea-drift", 200, truth_file, seed=3)
    truth = dict(row.split(",") for row in truth_file.read_text().splitlines()[1:])
    serve = deployment.serve()
    deployment.produce_raw(records)
    store = deployment.store()
    wait_for(lambda: store.queue_depth() >= 8, 60, what="consensus items queued in copies")

    # Room for two tasks: the second item's second copy comes only once a task closes.
    title = f"stream-al votes {deployment.prefix}"
    bridge = _bridge(
        deployment,
        ls,
        title,
        STREAM_AL_WORKER__LABEL_STUDIO_TOKEN=ls.token,
        STREAM_AL_WORKER__LABEL_STUDIO_POLL_SECONDS="1",
        STREAM_AL_WORKER__LABEL_STUDIO_MAX_OPEN_TASKS="2",
    )
    project = wait_for(lambda: ls.project(title), 60, what="the project")
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 2 and t, 60, what="2 tasks"
    )
    assert ls.api("GET", f"/api/projects/{project['id']}/")["maximum_annotations"] == 2
    second = ls.api("POST", "/api/users/", {"email": "second@example.com", "username": "second"})
    agree, split = tasks[:2]
    item_agree, item_split = agree["data"]["stream_al_id"], split["data"]["stream_al_id"]
    right = truth[item_agree]
    ls.annotate(agree["id"], right)
    ls.annotate(agree["id"], right, by=second["id"])
    ls.annotate(split["id"], truth[item_split])
    ls.annotate(split["id"], "True" if truth[item_split] == "False" else "False", by=second["id"])

    wait_for(lambda: item_agree in _learned(deployment), 60, what="the agreed item learned")
    learned = _learned(deployment)[item_agree]
    voters = {f"label-studio:{EMAIL}", "label-studio:second@example.com"}
    assert str(learned["label"]) == right and learned["annotator"] == "consensus"
    assert set(learned["votes"]) == voters  # one vote per Label Studio annotator
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="escalated") >= 1,
        60,
        what="the split vote sent to an expert",
    )
    assert item_split not in _learned(deployment)
    expert = [
        json.loads(fields[b"item"])
        for _, fields in deployment.redis().xrange(f"{deployment.prefix}:queue:expert:high")
    ]
    [escalated] = [i for i in expert if i["id"] == item_split]
    assert set(escalated["escalated"]) == voters
    assert serve.metric("stream_al_labels_total", outcome="duplicate") == 0  # no vote twice
    assert bridge.terminate(timeout=20) == 0, bridge.output()


def test_label_studio_keys_each_class_and_writes_a_new_class_only_once_confirmed(
    deployment: Deployment, label_studio: LabelStudio
) -> None:
    from stream_al.labeling.label_studio.api import NEW_CLASS

    ls = label_studio
    store = deployment.store()
    store.ensure_groups()
    for i, proba in enumerate(({"b": 0.8, "a": 0.2}, {"a": 0.6, "b": 0.4}, {"b": 0.5, "a": 0.5})):
        item = {"id": f"k{i}", "features": {"x": i}, "prediction": max(proba, key=proba.get)}
        item["proba"] = proba
        assert store.enqueue(f"k{i}", json.dumps(item), json.dumps(item), 600)
    title = f"stream-al keys {deployment.prefix}"
    bridge = _bridge(
        deployment,
        ls,
        title,
        STREAM_AL_WORKER__LABEL_STUDIO_TOKEN=ls.token,
        STREAM_AL_WORKER__LABEL_STUDIO_POLL_SECONDS="1",
    )
    project = wait_for(lambda: ls.project(title), 60, what="the project")
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 3 and t, 60, what="3 tasks"
    )
    config = ls.api("GET", f"/api/projects/{project['id']}/")["label_config"]
    for choice in ('value="a" hotkey="1"', 'value="b" hotkey="2"', f'"{NEW_CLASS}" hotkey="0"'):
        assert choice in config  # class order, not probability order
    by_item = {t["data"]["stream_al_id"]: t["id"] for t in tasks}
    typed = {"from_name": "other", "to_name": "features", "type": "textarea"}
    new = {"from_name": "label", "to_name": "features", "type": "choices"}
    # A typed label without the new-class choice is a typo: not written, given back.
    ls.api(
        "POST",
        f"/api/tasks/{by_item['k0']}/annotations",
        {"result": [{**typed, "value": {"text": ["maybe"]}}]},
    )
    # Chosen, then typed: a confirmed new class, written, and it gets the next key.
    ls.api(
        "POST",
        f"/api/tasks/{by_item['k1']}/annotations",
        {
            "result": [
                {**new, "value": {"choices": [NEW_CLASS]}},
                {**typed, "value": {"text": ["c"]}},
            ]
        },
    )
    ls.annotate(by_item["k2"], "a")

    def labels() -> dict[str, Any]:
        entries = deployment.redis().xrange(f"{deployment.prefix}:labels")
        return {json.loads(f[b"label"])["id"]: json.loads(f[b"label"])["label"] for _, f in entries}

    wait_for(lambda: len(labels()) >= 2, 60, what="two labels written")
    assert labels() == {"k1": "c", "k2": "a"}
    config = ls.api("GET", f"/api/projects/{project['id']}/")["label_config"]
    assert 'value="c" hotkey="3"' in config and 'value="a" hotkey="1"' in config
    assert bridge.terminate(timeout=20) == 0, bridge.output()
    assert "k0" in bridge.output() and "not written" in bridge.output()


def _added(deployment: Deployment) -> int:
    """Entries ever added to the crowd queue: each item queued, and each given back."""
    return int(deployment.redis().xinfo_stream(f"{deployment.prefix}:queue")["entries-added"])


def test_a_skipped_item_goes_back_at_the_workers_pace_while_webhook_calls_come(
    deployment: Deployment, label_studio: LabelStudio
) -> None:
    # The bridge gave a skipped item it met again back at each turn of its loop: each
    # second, and at each webhook call (an annotator's work on any task). A worker holds
    # it between give-backs, gaps of 0.25 s doubling to 4 s (docs/design.md, "Labeling").
    ls = label_studio
    store = deployment.store()
    store.ensure_groups()
    for item_id in ("s", "o"):
        item = {"id": item_id, "features": {"x": 1}, "prediction": "a"}
        item["proba"] = {"a": 0.6, "b": 0.4}
        assert store.enqueue(item_id, json.dumps(item), json.dumps(item), 600)
    title, hook_port, secret = f"stream-al pace {deployment.prefix}", free_port(), "pace"
    bridge = _webhook_bridge(deployment, ls, title, hook_port, secret)
    project = wait_for(lambda: ls.project(title), 60, what="the project")
    tasks = wait_for(
        lambda: (t := ls.tasks(project["id"])) and len(t) >= 2 and t, 60, what="2 tasks"
    )
    by_item = {t["data"]["stream_al_id"]: t["id"] for t in tasks}
    before = _added(deployment)
    ls.annotate(by_item["s"], None)  # skipped: Label Studio calls the webhook
    wait_for(lambda: _added(deployment) > before, 30, what="the skipped item given back")
    skipped = time.monotonic()
    # Calls as a busy project's annotators make them (the task still open: each is read
    # back, and writes nothing), 20 a second for 6 s.
    call = {"action": "ANNOTATION_UPDATED", "annotation": {"task": by_item["o"]}}
    while time.monotonic() - skipped < 6.0:
        request = urllib.request.Request(
            f"http://127.0.0.1:{hook_port}/",
            data=json.dumps(call).encode(),
            headers={"X-Stream-Al-Secret": secret, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        time.sleep(0.05)  # the calls' pace is what is tested, not a wait for a condition
    given_back = _added(deployment) - before - 1  # the skip's own give-back left out
    # At once, then after 0.25, 0.75, 1.75 and 3.75 s: 5 within the 6 s (8 with a margin
    # for the loop's own time); given back at each turn, 106 (measured).
    assert 1 <= given_back <= 8, given_back
    assert bridge.terminate(timeout=20) == 0, bridge.output()
    # The held skip went back at the stop: only the open task's item stays held.
    assert _held(deployment, "ls-bridge") == 1
    assert "Traceback" not in bridge.output()
