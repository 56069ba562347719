"""The web labeling page: ``stream-al worker --oracle web``.

The worker serves one small page (standard library only, no build step) that shows the
next item of its tier: the features, the model's prediction and probabilities, and why
the item was asked. The labeler answers with a button or its number key, skips with
``s`` and undoes the last answer with ``u`` while it has not been written yet (the worker
holds each answer ``undo_seconds`` before writing it). Each class keeps its number key
for the whole session, in class order, not by probability, and nothing is pre-selected
(:class:`~stream_al.labeling.classes.SessionClasses`). A typed label the model has never
seen is written only once the labeler confirms it (``a``, or the button; ``Esc``
cancels); with a fixed class list any other label is refused. The page also shows the
queue depth, the labeler's own pace and the worker's progress.

Every request needs the access token: ``?token=...`` on the page's address (it is then
kept in a cookie for the API calls) or an ``Authorization: Bearer ...`` header. Bind to
127.0.0.1 (the default) unless a proxy with TLS sits in front.

:class:`WebOracle` is an :class:`~stream_al.labeling.base.Oracle` with an undo window:
:meth:`WebOracle.label` shows an item and blocks until the labeler answers, skips, undoes
(:data:`~stream_al.labeling.base.UNDO`), the given timeout passes
(:data:`~stream_al.labeling.base.TIMEOUT`) or the worker stops.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stream_al.labeling.base import QUIT, SKIP, TIMEOUT, UNDO, Oracle, Signal
from stream_al.labeling.classes import SessionClasses
from stream_al.labeling.oracles import coerce_label
from stream_al.runtime.health import http_server
from stream_al.schemas import label_problem, label_size_problem, loads

__all__ = ["WebOracle"]

PACE_S = 300.0
"""The labeler's pace is the answers of the last five minutes (fewer at first)."""


class WebOracle(Oracle):
    """Labels from a person in a browser (see the module docstring).

    Parameters
    ----------
    token
        The access token every request must carry.
    host, port
        Where the page is served (port 0 picks a free one; see :attr:`port`).
    undo_seconds
        How long an answer can be taken back before the worker writes it.
    depth
        Returns the label queue's depth, shown on the page.
    classes
        The session's classes (a fixed list, or the model's and the confirmed new ones).
    clock
        Monotonic seconds (the labeler's pace is measured on it).

    """

    name = "web"

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 8600,
        undo_seconds: float = 5.0,
        depth: Callable[[], int] | None = None,
        classes: SessionClasses | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if len(token) < 8:
            raise ValueError("the web oracle needs an access token of at least 8 characters")
        self.token = token
        self.undo_seconds = undo_seconds
        self.depth = depth or (lambda: -1)
        self.classes = classes or SessionClasses()
        self._progress = ""
        self._lock = threading.Condition()
        self._item: dict[str, Any] | None = None
        self._answers: deque[Any] = deque()
        self._can_undo = False
        self._stopping = False
        self._clock = clock
        self._answered = 0  # answers (and skips) of the session
        self._first: float | None = None  # when the first came
        self._recent: deque[float] = deque()  # when those of the last PACE_S came
        self._server, self._thread = http_server(host, port, _handler(self))
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/?token={self.token}"

    def stop(self) -> None:
        """Make a waiting :meth:`label` return ``QUIT`` (the worker is stopping)."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()

    def close(self) -> None:
        """Stop, and shut the page's server down."""
        self.stop()
        self._server.shutdown()
        self._server.server_close()

    # -- the worker's side ---------------------------------------------------------------

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        """Show ``item``; its label, ``SKIP``, ``UNDO`` or ``TIMEOUT``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self.classes.observe(item)
            self._item = item
            self._lock.notify_all()
            while not self._answers:
                if self._stopping:
                    return QUIT
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return TIMEOUT
                self._lock.wait(left if left is not None else 1.0)
            answer = self._answers.popleft()
            self._item = None
        if isinstance(answer, str):
            answer = coerce_label(answer, item)  # "1" is the class 1 when the classes are ints
        return answer

    def holding(self, can_undo: bool) -> None:
        """The worker holds (True) or has written (False) the last answer."""
        with self._lock:
            self._can_undo = can_undo

    def progress(self, line: str) -> None:
        with self._lock:
            self._progress = line

    # -- the page's side ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._forget(now)
            # Over the last PACE_S, or since the first answer (a minute at least).
            since = PACE_S if self._first is None else min(PACE_S, max(60.0, now - self._first))
            return {
                "item": self._item,
                "can_undo": self._can_undo,
                "queue_depth": self.depth(),
                "answered": self._answered,
                "per_minute": round(len(self._recent) * 60.0 / since, 1),
                "classes": self.classes.keys(),
                "closed": self.classes.closed,
                "progress": self._progress,
            }

    def answer(self, value: Any, confirm: bool = False) -> dict[str, Any]:
        """Pass an answer on to the worker: ``{"accepted": True}``, or why not: no item is
        shown, or (``problem``) the label is not a class of the session, and whether a
        confirmation (``confirm``) would add it."""
        with self._lock:
            if self._item is None:
                return {"accepted": False, "problem": "no item is shown"}
            if not isinstance(value, Signal):
                # A number for int classes becomes an int the model may not take (20 digits).
                problem = label_problem(coerce_label(value, self._item))
                if problem is not None:
                    return {"accepted": False, "problem": problem, "confirm": False}
                problem = self.classes.check(value)
                if problem is not None and (self.classes.closed or not confirm):
                    return {
                        "accepted": False,
                        "problem": problem,
                        "confirm": not self.classes.closed,
                    }
                self.classes.add(value)
            self._answers.append(value)
            if value is not UNDO:
                now = self._clock()
                self._answered += 1
                self._first = now if self._first is None else self._first
                self._recent.append(now)
                self._forget(now)
            self._lock.notify_all()
            return {"accepted": True}

    def _forget(self, now: float) -> None:
        while self._recent and now - self._recent[0] > PACE_S:
            self._recent.popleft()

    def authorized(self, header: str | None, cookie: str | None, query: str | None) -> bool:
        given = query or ""
        if header and header.startswith("Bearer "):
            given = header[len("Bearer ") :]
        elif cookie and not given:
            jar: SimpleCookie = SimpleCookie(cookie)
            given = jar["stream_al_token"].value if "stream_al_token" in jar else ""
        return hmac.compare_digest(given.encode(), self.token.encode())


def _handler(oracle: WebOracle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "stream-al"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the worker logs what matters

        def _authorized(self) -> bool:
            query = parse_qs(urlsplit(self.path).query).get("token", [None])[0]
            ok = oracle.authorized(
                self.headers.get("Authorization"), self.headers.get("Cookie"), query
            )
            if not ok:
                self._send(HTTPStatus.UNAUTHORIZED, "text/plain", b"a valid token is needed\n")
            return ok

        def _send(
            self, status: HTTPStatus, kind: str, body: bytes, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if not self._authorized():
                return
            path = urlsplit(self.path).path
            if path == "/":
                cookie = f"stream_al_token={oracle.token}; HttpOnly; SameSite=Strict; Path=/"
                self._send(
                    HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode(), {"Set-Cookie": cookie}
                )
            elif path == "/api/state":
                body = json.dumps(oracle.state(), default=str).encode()
                self._send(HTTPStatus.OK, "application/json", body)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def do_POST(self) -> None:
            if not self._authorized():
                return
            path = urlsplit(self.path).path
            try:
                length = max(0, min(int(self.headers.get("Content-Length") or 0), 65_536))
                body = loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"the body must be JSON\n")
                return
            if not isinstance(body, dict):
                self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"the body must be an object\n")
                return
            if path == "/api/answer":
                if "label" not in body:  # the path exists: "not found" misled a client
                    why = 'the body needs a label: {"label": "a class name"}\n'
                    self._send(HTTPStatus.BAD_REQUEST, "text/plain", why.encode())
                    return
                value: Any = body["label"]
                # Text, as the page sends: the worker writes it as the model's classes are
                # written (coerce_label), whatever JSON type a client gave.
                if type(value) is bool:
                    value = "true" if value else "false"
                elif type(value) is int:
                    value = str(value)
                elif not isinstance(value, str) or not value:
                    why = "the label must be text, a class name\n"
                    self._send(HTTPStatus.BAD_REQUEST, "text/plain", why.encode())
                    return
                problem = label_size_problem(value)
                if problem is not None:  # serve's model would refuse it: say so now
                    self._send(HTTPStatus.BAD_REQUEST, "text/plain", f"{problem}\n".encode())
                    return
            elif path == "/api/skip":
                value = SKIP
            elif path == "/api/undo":
                value = UNDO
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
                return
            answer = oracle.answer(value, confirm=body.get("confirm") is True)
            status = HTTPStatus.OK if answer["accepted"] else HTTPStatus.CONFLICT
            self._send(status, "application/json", json.dumps(answer).encode())

    return Handler


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stream-al: label</title>
<style>
 body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem;
      background:#fff;color:#111}
 h1{font-size:1.2rem;margin:.2rem 0}
 table{border-collapse:collapse;margin:.5rem 0}
 td{padding:.1rem .8rem .1rem 0;border-bottom:1px solid #ddd}
 .why{color:#333;background:#f3f3f3;padding:.4rem .6rem;border-radius:4px}
 button{font-size:1rem;margin:.25rem .4rem .25rem 0;padding:.45rem .9rem;border:2px solid #114;
        background:#fff;color:#114;border-radius:4px;cursor:pointer}
 button:focus{outline:3px solid #f90;outline-offset:2px}
 .status{color:#333;font-size:.9rem}
 kbd{border:1px solid #888;border-radius:3px;padding:0 .3rem;font-size:.85rem}
 #confirm{border:2px solid #b50;background:#fff4e5;padding:.5rem .8rem;border-radius:4px}
 #problem{color:#900}
</style></head>
<body>
<h1>Label the item</h1>
<p class="status" id="status" aria-live="polite">loading…</p>
<div id="item"></div>
<div id="choices" role="group" aria-label="labels"></div>
<form id="typed"><label for="label">or type a label</label>
<input id="label" autocomplete="off"> <button type="submit">Send</button></form>
<p id="problem" role="alert"></p>
<div id="confirm" hidden role="alertdialog" aria-labelledby="confirm-text">
<p id="confirm-text"></p>
<button id="confirm-add">Add it <kbd>a</kbd></button>
<button id="confirm-cancel">Cancel <kbd>Esc</kbd></button></div>
<p><button id="skip" accesskey="s">Skip <kbd>s</kbd></button>
<button id="undo" disabled>Undo last <kbd>u</kbd></button></p>
<script>
const $ = (id) => document.getElementById(id);
let current = null, classes = [], pending = null;  // pending: a new class to confirm
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body || {})});
  const answer = await r.json().catch(() => ({}));
  $("problem").textContent = "";
  if (!answer.accepted && answer.confirm) ask(body.label, answer.problem);
  else if (!answer.accepted && answer.problem) $("problem").textContent = answer.problem;
  await refresh();
  return r.ok;
}
function ask(label, problem) {  // a class the model has never seen: confirm or cancel
  pending = label;
  $("confirm-text").textContent = problem;
  $("confirm").hidden = false;
}
function settle(add) {
  const label = pending;
  pending = null; $("confirm").hidden = true;
  if (add && current) post("/api/answer", {label: label, confirm: true});
}
function text(s) {
  const d = document.createElement("span"); d.textContent = s; return d.innerHTML;
}
function render(state) {
  $("status").textContent = `queue ${state.queue_depth} · you: ${state.answered} answered, ` +
                            `${state.per_minute} per minute` +
                            (state.progress ? ` · worker: ${state.progress}` : "");
  $("undo").disabled = !state.can_undo;
  classes = state.classes.map((c) => c[1]);  // one key per class for the session
  const item = state.item;
  if (!item) { current = null; $("item").innerHTML = "<p>Waiting for the next item…</p>";
               $("choices").innerHTML = ""; return; }
  if (current && current.id === item.id && current.enqueued_at === item.enqueued_at &&
      $("choices").childElementCount === classes.length) return;
  current = item;
  const proba = item.proba || {};
  const said = item.prediction === null ? "nothing yet" : String(item.prediction);
  let html = `<p>item <strong>${text(item.id)}</strong> · the model says <strong>` +
             `${text(said)}</strong></p><table>`;
  for (const [k, v] of Object.entries(item.features || {})) {
    html += `<tr><td>${text(k)}</td><td>${text(String(v))}</td></tr>`;
  }
  html += "</table>";
  const why = item.explanation || {};
  html += `<p class="why">asked by ${text(item.strategy)} (${text(item.reason)}), ` +
          `${text(why.measure || "")} uncertainty ${Number(item.score).toFixed(3)}` +
          (why.top_features
            ? `; pushed most by ${why.top_features.map((f) => text(f[0])).join(", ")}` : "") +
          "</p>";
  $("item").innerHTML = html;
  $("choices").innerHTML = "";
  for (const [key, c] of state.classes) {
    const b = document.createElement("button");
    const p = proba[c] === undefined ? "" : ` (${Math.round(proba[c] * 100)}%)`;
    b.textContent = `${c}${p} `;
    b.dataset.label = c;
    const k = document.createElement("kbd"); k.textContent = String(key); b.appendChild(k);
    b.onclick = () => post("/api/answer", {label: c});
    $("choices").appendChild(b);
  }
  $("typed").hidden = state.closed;
  $("label").value = "";
  if (document.activeElement && document.activeElement !== document.body) {
    document.activeElement.blur();  // nothing pre-selected: Enter answers nothing
  }
}
async function refresh() {
  const r = await fetch("/api/state");
  if (r.ok) render(await r.json());
}
$("typed").onsubmit = (e) => {
  e.preventDefault();
  const value = $("label").value.trim();
  if (current && value) post("/api/answer", {label: value});
  $("label").blur();
};
$("confirm-add").onclick = () => settle(true);
$("confirm-cancel").onclick = () => settle(false);
$("skip").onclick = () => post("/api/skip");
$("undo").onclick = () => post("/api/undo");
document.addEventListener("keydown", (e) => {
  if (pending !== null) {  // only the confirmation's own keys
    if (e.key === "a") settle(true);
    else if (e.key === "Escape") settle(false);
    e.preventDefault();
    return;
  }
  if (e.target.tagName === "INPUT") {  // typing a label, not a shortcut
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const n = parseInt(e.key, 10);
  if (current && n >= 1 && n <= classes.length) post("/api/answer", {label: classes[n - 1]});
  else if (e.key === "s" && current) post("/api/skip");
  else if (e.key === "u") post("/api/undo");
});
refresh(); setInterval(refresh, 700);
</script>
</body></html>
"""
