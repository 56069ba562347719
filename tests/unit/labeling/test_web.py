"""The web labeling page: the token, answers, skip and undo through a worker."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from stream_al.io.memory import MemoryStore
from stream_al.labeling.web import WebOracle
from stream_al.labeling.worker import Worker
from tests.integration.deployment import wait_for

TOKEN = "secret-token-123"


@pytest.fixture
def oracle() -> Iterator[WebOracle]:
    web = WebOracle(TOKEN, port=0, undo_seconds=1.0)
    yield web
    web.close()


def _call(
    web: WebOracle, path: str, body: dict[str, Any] | None = None, token: str | None = TOKEN
) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{web.port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read()) if path.startswith("/api/") else response.read()


def test_every_request_needs_the_token(oracle: WebOracle) -> None:
    for token in (None, "wrong-token-456"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _call(oracle, "/api/state", token=token)
        assert refused.value.code == 401
    assert _call(oracle, "/api/state")["item"] is None
    page = urllib.request.urlopen(f"http://127.0.0.1:{oracle.port}/?token={TOKEN}", timeout=5)
    assert b"Label the item" in page.read()
    assert "stream_al_token" in page.headers["Set-Cookie"]
    with pytest.raises(ValueError, match="at least 8"):
        WebOracle("short", port=0)


def _shown(web: WebOracle) -> str | None:
    item = _call(web, "/api/state")["item"]
    return None if item is None else str(item["id"])


def test_answers_skip_and_undo_reach_the_label_stream(oracle: WebOracle) -> None:
    store = MemoryStore()
    for item_id in ("a", "b", "c"):
        item = {"id": item_id, "features": {"x": 1}, "prediction": 0, "proba": {"0": 0.6, "1": 0.4}}
        store.enqueue(item_id, "{}", json.dumps(item), 600)
    # The skipped item goes back for another labeler for a second, then is dropped.
    worker = Worker(store, oracle, "web-1", batch=1, requeue_seconds=1.0)
    done = threading.Thread(target=worker.run, kwargs={"idle_exit": 3.0})
    done.start()
    wait_for(lambda: _shown(oracle) == "a", 10, what="a shown")
    assert _call(oracle, "/api/answer", {"label": "1"})["accepted"]
    wait_for(lambda: _shown(oracle) == "b", 10, what="b shown")
    assert _call(oracle, "/api/state")["can_undo"]
    _call(oracle, "/api/undo", {})
    wait_for(lambda: _shown(oracle) == "a", 10, what="a shown again")
    _call(oracle, "/api/answer", {"label": "0"})
    wait_for(lambda: _shown(oracle) == "b", 10, what="b shown again")
    _call(oracle, "/api/skip", {})
    wait_for(lambda: _shown(oracle) == "c", 10, what="c shown")
    _call(oracle, "/api/answer", {"label": "1"})
    done.join(15)
    assert not done.is_alive()
    labels = {json.loads(raw)["id"]: json.loads(raw) for _, raw in store._labels}
    assert labels["a"]["label"] == 0  # the undone answer was never written
    assert labels["c"]["label"] == 1  # "1" became the class 1 (the classes are ints)
    assert "b" not in labels
    assert worker.stats.labeled == 2 and worker.stats.skipped == 1
    assert store.queue_depth() == 0


def test_a_stopping_worker_does_not_hang_on_a_page_nobody_answers(oracle: WebOracle) -> None:
    store = MemoryStore()
    store.enqueue("a", "{}", json.dumps({"id": "a", "features": {}, "prediction": None}), 600)
    worker = Worker(store, oracle, "web-1", batch=1)
    done = threading.Thread(target=worker.run)
    done.start()
    wait_for(lambda: _shown(oracle) == "a", 10, what="a shown")
    worker.stop()
    done.join(5)
    assert not done.is_alive()
    assert store.queue_depth() == 1  # not answered: it stays with the worker


def _post_raw(web: WebOracle, path: str, data: bytes, length: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{web.port}{path}", data=data)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    if length is not None:
        request.add_header("Content-Length", length)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_an_api_client_s_labels_are_written_as_the_classes_are_and_others_refused(
    oracle: WebOracle,
) -> None:
    # A label of another JSON type than the model's classes would be dead-lettered by
    # serve; the page sends text, and a client's number or boolean is taken as text too.
    store = MemoryStore()
    items = {"a": "cat", "b": 0}
    for item_id, prediction in items.items():
        proba = {str(prediction): 1.0}
        item = {"id": item_id, "features": {"x": 1}, "prediction": prediction, "proba": proba}
        store.enqueue(item_id, "{}", json.dumps(item), 600)
    worker = Worker(store, oracle, "web-1", batch=1)
    done = threading.Thread(target=worker.run, kwargs={"idle_exit": 3.0})
    done.start()
    wait_for(lambda: _shown(oracle) == "a", 10, what="a shown")
    too_long = json.dumps({"label": "x" * 257}).encode()
    too_wide = json.dumps({"label": "\N{CJK UNIFIED IDEOGRAPH-732B}" * 200}).encode()
    for data in (
        b"[1]",
        b'{"label": [1]}',
        b'{"label": null}',
        b'{"label": ""}',
        b'{"label": 1.5}',
        b"{bad",
        too_long,
        too_wide,  # 200 characters, 600 bytes of JSON
    ):
        assert _post_raw(oracle, "/api/answer", data) == 400, data
    assert _post_raw(oracle, "/api/answer", b"{}", length="many") == 400
    assert _post_raw(oracle, "/api/answer", b'{"confirm": true}') == 400  # no label: was 404
    assert _call(oracle, "/api/answer", {"label": 7, "confirm": True})["accepted"]
    wait_for(lambda: _shown(oracle) == "b", 10, what="b shown")
    # 20 digits among integer classes: an int serve's model refuses, so the item would
    # have stayed pending unlabeled; refused here, the labeler answers again.
    digits = b'{"label": "12345678901234567890", "confirm": true}'
    assert _post_raw(oracle, "/api/answer", digits) == 409
    assert _call(oracle, "/api/answer", {"label": 1, "confirm": True})["accepted"]
    done.join(15)
    labels = {json.loads(raw)["id"]: json.loads(raw)["label"] for _, raw in store._labels}
    assert labels == {"a": "7", "b": 1}  # text among text classes, an integer among integers


def test_the_page_counts_every_answer_and_the_pace_of_the_first_minutes() -> None:
    # It showed at most 200 answered (the times it kept for the pace), and the pace as the
    # answers of the last 5 minutes over 5 minutes from the first answer: 7 answers in 10 s
    # read "1.4 per minute" beside the worker's 200.
    now = [1000.0]
    web = WebOracle(TOKEN, port=0, clock=lambda: now[0])
    try:
        item = {"id": "a", "features": {}, "proba": {"no": 0.5, "yes": 0.5}, "prediction": "no"}
        with web._lock:  # what label() does before it waits for the page
            web.classes.observe(item)
            web._item = item
        for _ in range(7):
            assert web.answer("yes")["accepted"]
            now[0] += 1.5
        state = web.state()
        assert (state["answered"], state["per_minute"]) == (7, 7.0)  # within its first minute
        now[0] += 120.0
        for _ in range(300):  # 300 in 5 minutes
            assert web.answer("no")["accepted"]
            now[0] += 1.0
        state = web.state()
        assert (state["answered"], state["per_minute"]) == (307, 60.0)
    finally:
        web.close()
