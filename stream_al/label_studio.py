"""The Label Studio bridge: ``stream-al worker --oracle label-studio``.

People label in `Label Studio <https://labelstud.io>`_; the bridge keeps the label queue
and a Label Studio project in step:

- it takes queued items (up to ``max_open_tasks`` held at once) and imports each as a
  task: the features (a table), the model's prediction as a Label Studio *prediction*
  and ``stream_al_id``; the task's ``meta`` holds the queue entry id. The prediction's
  ``score`` is the model's confidence in it, so the project's *Uncertainty sampling*
  (lowest score first) serves the least certain items first;
- Label Studio calls the bridge's webhook when an annotation is created or updated. The
  webhook only *signals*: the bridge reads the task back from Label Studio and writes the
  label from its annotation, so a forged call can write nothing;
- every ``poll_seconds`` it reads the tasks of the items it holds and finishes every one
  that has an annotation: a lost webhook (or none configured) loses no label;
- a label is written and its queue item acknowledged in one step
  (:meth:`~stream_al.io.base.WorkerQueue.complete`), only once the annotation exists; a
  skipped (cancelled) annotation drops the item unlabeled.

An item the bridge holds stays with it across restarts (same worker name): it gets the
item back, finds its task in the project (by ``stream_al_id``) and never imports a second
one. The label is the annotation's choice (the project's first ``Choices``), else the text
typed in its first ``TextArea`` (a class the model does not know yet); the annotator is
``label-studio:<the user's email>``.

Consensus: an item that needs k votes (``crowd_votes``/``expert_votes`` above 1) is one
task; a project the bridge manages is set to k annotations per task (Label Studio's
*overlap*), and each annotation by a different annotator is one vote, written as the label
of one copy of the item. The service then learns the majority or escalates the item.

Authentication: a personal access token (a JWT; newer Label Studio) is exchanged for a
short-lived access token (``POST /api/token/refresh/``) and refreshed when it expires; any
other token is a legacy API token (``Authorization: Token ...``).

Standard library only (``urllib.request``, ``http.server``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from stream_al.health import http_server
from stream_al.io.base import TIERS, WorkerQueue
from stream_al.worker import coerce_label

if TYPE_CHECKING:
    from stream_al.config import Settings

__all__ = [
    "MODEL_VERSION",
    "SECRET_HEADER",
    "Answer",
    "BridgeStats",
    "LabelNames",
    "LabelStudioBridge",
    "LabelStudioClient",
    "LabelStudioError",
    "WebhookReceiver",
    "auth_scheme",
    "classes_of",
    "confidence",
    "is_jwt",
    "label_config",
    "label_names",
    "run_bridge",
    "task_answer",
    "task_payload",
    "webhook_task_ids",
]

log = logging.getLogger("stream_al.label_studio")

MODEL_VERSION = "stream-al"
"""The ``model_version`` of every prediction and of the project: Label Studio's
uncertainty sampling only ranks predictions of the project's current model version."""
SECRET_HEADER = "X-Stream-Al-Secret"
# How often held items are marked as worked on: well below any sensible claim_idle_seconds.
KEEP_SECONDS = 1.0
"""The header Label Studio sends the webhook secret in (set on the webhook it registers)."""
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
_MAX_WEBHOOK_BYTES = 8 * 1024 * 1024
_CHUNK = 50  # task ids or item ids per list request (they travel in the query string)


class LabelStudioError(Exception):
    """Label Studio is unreachable or refused a request (one line, says what to fix)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _TokenRefused(LabelStudioError):
    """The token was refused; the message says so already."""


# -- pure parts -----------------------------------------------------------------------------


def is_jwt(token: str) -> bool:
    """Whether ``token`` is a JSON Web Token (a personal access token of newer Label Studio).

    >>> is_jwt("eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln"), is_jwt("a1b2c3")
    (True, False)

    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


def auth_scheme(token: str) -> str:
    """``Bearer`` (after a refresh) for a personal access token, ``Token`` for a legacy one."""
    return "Bearer" if is_jwt(token) else "Token"


def classes_of(items: Iterable[dict[str, Any]]) -> list[str]:
    """The classes the model knows, as text, from the items' probabilities and predictions.

    >>> classes_of([{"proba": {"b": 0.6, "a": 0.4}, "prediction": "b"}, {"prediction": "c"}])
    ['a', 'b', 'c']

    """
    found: set[str] = set()
    for item in items:
        found.update(str(k) for k in (item.get("proba") or {}))
        if item.get("prediction") is not None:
            found.add(str(item["prediction"]))
    return sorted(found)


@dataclass(frozen=True)
class LabelNames:
    """The control tags of a project's labeling config the bridge reads and writes."""

    to_name: str
    choices: str | None = None
    text: str | None = None
    classes: tuple[str, ...] = ()
    managed: bool = False  # a config the bridge wrote (it may add classes to it)


def label_config(classes: Sequence[str]) -> str:
    """The labeling config of a project the bridge creates: the model's view (a header),
    the features (a table), one choice per known class and a box for a new class.

    >>> "<Choice value=\\"yes\\"/>" in label_config(["no", "yes"])
    True

    """
    lines = [
        "<View>",
        '  <Header value="$model_says"/>',
        '  <Table name="features" value="$features"/>',
    ]
    if classes:
        lines.append('  <Choices name="label" toName="features" choice="single-radio">')
        lines += [f"    <Choice value={quoteattr(str(c))}/>" for c in classes]
        lines.append("  </Choices>")
    lines += [
        '  <TextArea name="other" toName="features" maxSubmissions="1"',
        '            placeholder="or type a label the model does not know yet"/>',
        "</View>",
    ]
    return "\n".join(lines)


def label_names(config: str) -> LabelNames:
    """Which tags of ``config`` hold the label: the first ``Choices`` and ``TextArea``.

    >>> names = label_names(label_config(["a", "b"]))
    >>> names.choices, names.text, names.to_name, names.classes, names.managed
    ('label', 'other', 'features', ('a', 'b'), True)

    """
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as exc:
        raise LabelStudioError(f"the project's labeling config is not XML: {exc}") from None
    choices = next(root.iter("Choices"), None)
    text = next(root.iter("TextArea"), None)
    if choices is None and text is None:
        raise LabelStudioError(
            "the project's labeling config has no Choices or TextArea to take a label from"
        )
    first = choices if choices is not None else text
    assert first is not None
    to_name = first.get("toName", "")
    classes = () if choices is None else tuple(c.get("value", "") for c in choices.iter("Choice"))
    table = next(root.iter("Table"), None)
    managed = (
        table is not None
        and table.get("name") == "features"
        and to_name == "features"
        and (choices is None or choices.get("name") == "label")
        and text is not None
        and text.get("name") == "other"
    )
    return LabelNames(
        to_name=to_name,
        choices=None if choices is None else choices.get("name"),
        text=None if text is None else text.get("name"),
        classes=classes,
        managed=managed,
    )


def confidence(item: dict[str, Any]) -> float:
    """The model's confidence in its prediction (Label Studio's prediction ``score``).

    >>> confidence({"prediction": True, "proba": {"True": 0.7, "False": 0.3}})
    0.7
    >>> confidence({"prediction": None, "proba": {}, "score": 0.25})
    0.75

    """
    proba = item.get("proba") or {}
    p = proba.get(str(item.get("prediction")))
    if p is None:
        p = 1.0 - float(item.get("score") or 0.0)
    return min(1.0, max(0.0, float(p)))


def _model_says(item: dict[str, Any]) -> str:
    prediction = item.get("prediction")
    says = "no prediction yet" if prediction is None else f"model says {prediction}"
    if prediction is not None:
        says += f" ({confidence(item):.0%})"
    score = item.get("score")
    if score is not None:
        says += f"; uncertainty {float(score):.3f}"
    if item.get("strategy"):
        says += f"; asked by {item['strategy']}: {item.get('reason', '')}".rstrip(": ")
    return says


def task_payload(item: dict[str, Any], entry_id: str, names: LabelNames) -> dict[str, Any]:
    """The Label Studio task of a queued item, with the model's prediction if it has one.

    >>> task = task_payload({"id": "e1", "features": {"x": 1}, "prediction": "a",
    ...     "proba": {"a": 0.6, "b": 0.4}, "score": 0.4}, "1-0", label_names(label_config("ab")))
    >>> task["data"]["stream_al_id"], task["meta"], task["predictions"][0]["score"]
    ('e1', {'stream_al_entry': '1-0'}, 0.6)

    """
    data = {
        "stream_al_id": str(item["id"]),
        "features": dict(item.get("features") or {}),
        "model_says": _model_says(item),
        "uncertainty": item.get("score"),
        "tier": item.get("tier", "crowd"),
    }
    task: dict[str, Any] = {"data": data, "meta": {"stream_al_entry": entry_id}}
    prediction = item.get("prediction")
    result: list[dict[str, Any]] = []
    base = {"to_name": names.to_name}
    if prediction is not None and names.choices and str(prediction) in names.classes:
        value = {"choices": [str(prediction)]}
        result = [{**base, "from_name": names.choices, "type": "choices", "value": value}]
    elif prediction is not None and names.text:
        value = {"text": [str(prediction)]}
        result = [{**base, "from_name": names.text, "type": "textarea", "value": value}]
    if result:
        task["predictions"] = [
            {"model_version": MODEL_VERSION, "score": confidence(item), "result": result}
        ]
    return task


@dataclass(frozen=True)
class Answer:
    """What the annotation of a task says: a label (None: skipped) and who gave it."""

    label: str | None
    annotator: str


def _who(completed_by: Any, users: Callable[[int], str]) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    if isinstance(completed_by, int):
        return users(completed_by)
    return str(completed_by)


def _result_label(result: Sequence[dict[str, Any]], names: LabelNames) -> str | None:
    for kind, name, key in (
        ("choices", names.choices, "choices"),
        ("textarea", names.text, "text"),
    ):
        for region in result:
            if region.get("type") != kind or (name and region.get("from_name") != name):
                continue
            values = [str(v).strip() for v in (region.get("value") or {}).get(key) or []]
            if values and values[0]:
                return values[0]
    return None


def task_answer(
    task: dict[str, Any], names: LabelNames, users: Callable[[int], str] = str
) -> Answer | None:
    """The answer a task's annotations give, None while it has none.

    The newest annotation that was not cancelled gives the label; only cancelled ones (or
    a submitted annotation with nothing in it) mean the labeler skipped the item.

    >>> names = label_names(label_config(["a", "b"]))
    >>> region = {"type": "choices", "from_name": "label", "value": {"choices": ["b"]}}
    >>> task_answer({"annotations": [{"id": 3, "result": [region], "completed_by": 7}]}, names)
    Answer(label='b', annotator='7')
    >>> task_answer({"annotations": [{"id": 4, "was_cancelled": True, "result": []}]}, names)
    Answer(label=None, annotator='None')
    >>> task_answer({"annotations": []}, names) is None
    True

    """
    annotations = sorted(task.get("annotations") or [], key=lambda a: a.get("id") or 0)
    if not annotations:
        return None
    kept = [a for a in annotations if not a.get("was_cancelled")]
    chosen = kept[-1] if kept else annotations[-1]
    label = _result_label(chosen.get("result") or [], names) if kept else None
    return Answer(label, _who(chosen.get("completed_by"), users))


def task_votes(
    task: dict[str, Any], names: LabelNames, users: Callable[[int], str] = str
) -> list[tuple[int, Answer]]:
    """Every annotation of a task as ``(annotation id, answer)``, oldest first: the votes
    of a consensus item (a cancelled annotation is a skip).

    >>> names = label_names(label_config(["a", "b"]))
    >>> vote = lambda i, who, c: {"id": i, "completed_by": who, "result": [{"type": "choices",
    ...     "from_name": "label", "value": {"choices": [c]}}]}
    >>> task_votes({"annotations": [vote(9, 2, "b"), vote(5, 1, "a")]}, names)
    [(5, Answer(label='a', annotator='1')), (9, Answer(label='b', annotator='2'))]

    """
    votes = []
    for a in sorted(task.get("annotations") or [], key=lambda a: a.get("id") or 0):
        cancelled = bool(a.get("was_cancelled"))
        label = None if cancelled else _result_label(a.get("result") or [], names)
        votes.append((int(a.get("id") or 0), Answer(label, _who(a.get("completed_by"), users))))
    return votes


def webhook_task_ids(payload: dict[str, Any]) -> list[int]:
    """The ids of the tasks a Label Studio webhook call is about (annotation actions only).

    >>> webhook_task_ids({"action": "ANNOTATION_CREATED", "task": {"id": 5},
    ...                   "annotation": {"id": 9, "task": 5}})
    [5]
    >>> webhook_task_ids({"action": "PROJECT_UPDATED", "project": {"id": 1}})
    []

    """
    if payload.get("action") not in WEBHOOK_ACTIONS:
        return []
    found: list[int] = []
    for key in ("task", "annotation"):
        value = payload.get(key)
        for record in value if isinstance(value, list) else [value]:
            if not isinstance(record, dict):
                continue
            task_id = record.get("id") if key == "task" else record.get("task")
            if isinstance(task_id, dict):
                task_id = task_id.get("id")
            if isinstance(task_id, int) and task_id not in found:
                found.append(task_id)
    return found


# -- Label Studio's REST API ----------------------------------------------------------------


class LabelStudioClient:
    """The few calls of Label Studio's REST API the bridge needs.

    Parameters
    ----------
    url
        Where Label Studio answers, e.g. ``http://127.0.0.1:8080``.
    token
        A personal access token (JWT) or a legacy API token (see the module docstring).
    timeout
        Seconds before a request gives up.

    """

    def __init__(self, url: str, token: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._access: str | None = None

    def _open(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):  # Label Studio's JSON error
                detail = str(json.loads(detail).get("detail") or detail)
            where = urllib.parse.urlsplit(request.full_url).path
            raise LabelStudioError(
                f"Label Studio answered {exc.code} to {request.get_method()} {where}: "
                f"{' '.join(detail.split())[:200]}",
                status=exc.code,
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioError(f"cannot reach Label Studio at {self.url}: {reason}") from None
        return json.loads(body) if body.strip() else None

    def _refresh(self) -> str:
        request = urllib.request.Request(
            f"{self.url}/api/token/refresh/",
            data=json.dumps({"refresh": self.token}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            return str(self._open(request)["access"])
        except LabelStudioError as exc:
            if exc.status in (400, 401, 403):
                raise _TokenRefused(
                    f"Label Studio at {self.url} refused the personal access token ({exc}); "
                    "set STREAM_AL_WORKER__LABEL_STUDIO_TOKEN to a valid one",
                    status=401,
                ) from None
            raise

    def _authorization(self) -> str:
        if auth_scheme(self.token) == "Token":
            return f"Token {self.token}"
        if self._access is None:
            self._access = self._refresh()
        return f"Bearer {self._access}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """``method path`` with a JSON ``body``; the decoded JSON answer."""
        url = f"{self.url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Authorization", self._authorization())
            request.add_header("Content-Type", "application/json")
            try:
                return self._open(request)
            except LabelStudioError as exc:
                # An access token lives minutes: on a 401, refresh it once and retry.
                if exc.status == 401 and attempt == 1 and auth_scheme(self.token) == "Bearer":
                    self._access = None
                    continue
                raise
        raise AssertionError("unreachable")

    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to (checks the URL and the token)."""
        try:
            return dict(self.call("GET", "/api/current-user/whoami"))
        except LabelStudioError as exc:
            if exc.status == 401 and not isinstance(exc, _TokenRefused):
                raise _TokenRefused(
                    f"Label Studio at {self.url} refused the token ({exc}); set "
                    "STREAM_AL_WORKER__LABEL_STUDIO_TOKEN to a personal access token (or a "
                    "legacy token, if the server allows them)",
                    status=401,
                ) from None
            raise

    def user_email(self, user_id: int) -> str:
        """A user's email (their id as text if Label Studio does not say)."""
        try:
            return str(self.call("GET", f"/api/users/{user_id}/").get("email") or user_id)
        except LabelStudioError:
            return str(user_id)

    def project(self, project_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/projects/{project_id}/"))

    def find_project(self, title: str) -> dict[str, Any] | None:
        """The oldest project titled ``title``, if any."""
        page = 1
        while True:
            try:
                answer = self.call("GET", "/api/projects/", query={"page": page, "page_size": 100})
            except LabelStudioError as exc:
                if exc.status == 404:
                    return None
                raise
            found = [p for p in answer.get("results") or [] if p.get("title") == title]
            if found:
                return dict(min(found, key=lambda p: int(p["id"])))
            if not answer.get("next"):
                return None
            page += 1

    def create_project(self, title: str, config: str) -> dict[str, Any]:
        body = {
            "title": title,
            "label_config": config,
            "sampling": "Uncertainty sampling",
            "model_version": MODEL_VERSION,
            "description": "Items stream-al asks about (stream-al worker --oracle label-studio)",
        }
        return dict(self.call("POST", "/api/projects/", body))

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        return dict(self.call("PATCH", f"/api/projects/{project_id}/", fields))

    def import_tasks(self, project_id: int, tasks: Sequence[dict[str, Any]]) -> list[int]:
        """Create ``tasks``; their ids, in order."""
        answer = self.call(
            "POST", f"/api/projects/{project_id}/import", list(tasks), {"return_task_ids": "true"}
        )
        ids = [int(i) for i in answer.get("task_ids") or []]
        if len(ids) != len(tasks):
            raise LabelStudioError(f"Label Studio created {len(ids)} of {len(tasks)} tasks")
        return ids

    def tasks(
        self, project_id: int, query: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The project's tasks (with their annotations) that ``query`` selects, page by page."""
        params: dict[str, Any] = {"project": project_id, "fields": "all", "page_size": 100}
        if query:
            params["query"] = json.dumps(query)
        page, seen = 1, 0
        while True:
            try:
                answer = self.call("GET", "/api/tasks/", query={**params, "page": page})
            except LabelStudioError as exc:
                if exc.status == 404:  # past the last page
                    return
                raise
            tasks = answer.get("tasks") or []
            yield from tasks
            seen += len(tasks)
            if not tasks or seen >= int(answer.get("total") or 0):
                return
            page += 1

    def tasks_by_id(self, project_id: int, task_ids: Sequence[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(task_ids), _CHUNK):
            chunk = [int(t) for t in task_ids[i : i + _CHUNK]]
            query = {"selectedItems": {"all": False, "included": chunk}}
            out += self.tasks(project_id, query)
        return out

    def tasks_by_item(self, project_id: int, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The tasks whose ``stream_al_id`` is one of ``item_ids``."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(item_ids), _CHUNK):
            items = [
                {
                    "filter": "filter:tasks:data.stream_al_id",
                    "operator": "equal",
                    "type": "String",
                    "value": item_id,
                }
                for item_id in item_ids[i : i + _CHUNK]
            ]
            out += self.tasks(project_id, {"filters": {"conjunction": "or", "items": items}})
        return out

    def ensure_webhook(self, project_id: int, url: str, headers: dict[str, str]) -> int:
        """Register (or update) the project's webhook to ``url``; its id."""
        body = {
            "project": project_id,
            "url": url,
            "send_payload": True,
            "send_for_all_actions": False,
            "actions": list(WEBHOOK_ACTIONS),
            "headers": headers,
            "is_active": True,
        }
        for hook in self.call("GET", "/api/webhooks/", query={"project": project_id}) or []:
            if hook.get("url") == url and hook.get("project") == project_id:
                self.call("PATCH", f"/api/webhooks/{hook['id']}/", body)
                return int(hook["id"])
        return int(self.call("POST", "/api/webhooks/", body)["id"])


# -- the webhook endpoint -------------------------------------------------------------------


class WebhookReceiver:
    """An HTTP endpoint Label Studio posts annotation events to; each call only passes the
    task ids on to ``notify`` (the bridge reads the tasks back itself).

    Parameters
    ----------
    notify
        Called with the task ids of each accepted call (from the server's thread).
    host, port
        Where to listen (port 0 picks a free one; see :attr:`port`).
    secret
        If set, a call must carry it in the ``X-Stream-Al-Secret`` header (else 401).

    """

    def __init__(
        self,
        notify: Callable[[list[int]], None],
        host: str = "127.0.0.1",
        port: int = 8601,
        secret: str | None = None,
    ):
        self.notify = notify
        self.secret = secret
        self._server, self._thread = http_server(host, port, _webhook_handler(self))
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accept(self, headers: Any, body: bytes) -> HTTPStatus:
        """Check and pass on one call; the HTTP status to answer with."""
        if self.secret is not None:
            given = str(headers.get(SECRET_HEADER) or "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                return HTTPStatus.UNAUTHORIZED
        try:
            payload = json.loads(body)
        except ValueError:
            return HTTPStatus.BAD_REQUEST
        if isinstance(payload, dict):
            ids = webhook_task_ids(payload)
            if ids:
                self.notify(ids)
        return HTTPStatus.OK


def _webhook_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: HTTPStatus) -> None:
            body = json.dumps({"status": status.phrase}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # a liveness check for whoever sets the webhook up
            self._answer(HTTPStatus.OK)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_WEBHOOK_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return
            self._answer(receiver.accept(self.headers, self.rfile.read(length)))

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("webhook: " + format, *args)

    return Handler


# -- the bridge -----------------------------------------------------------------------------


@dataclass
class BridgeStats:
    created: int = 0
    labeled: int = 0
    skipped: int = 0
    unreadable: int = 0


def _votes_needed(item: dict[str, Any]) -> int:
    return int(item.get("votes_needed") or 1)


@dataclass
class _Open:
    """A task in Label Studio and the queue entries (copies of one item) it answers."""

    item: dict[str, Any]
    entries: list[str] = field(default_factory=list)


class LabelStudioBridge:
    """Keeps the label queue and a Label Studio project in step (see the module docstring).

    Parameters
    ----------
    queue
        The label queue.
    client
        Label Studio's API.
    name
        This worker's consumer name (stable across restarts to get its items back).
    project
        The project's id; None: the project titled ``title``, created if there is none.
    title
        See ``project``.
    max_open_tasks
        Items held (tasks waiting for an annotation) at most.
    poll_seconds
        How often the held items' tasks are read back (the safety net for the webhook).
    tier
        Which tier's items to take.
    stale_seconds
        Items queued longer ago are dropped unlabeled; None keeps all.
    tick_seconds
        How often the queue is looked at for new items (a webhook call wakes it at once).

    """

    def __init__(
        self,
        queue: WorkerQueue,
        client: LabelStudioClient,
        name: str,
        project: int | None = None,
        title: str = "stream-al",
        max_open_tasks: int = 100,
        poll_seconds: float = 30.0,
        tier: str = "crowd",
        stale_seconds: float | None = None,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; choose one of: {', '.join(TIERS)}")
        self.queue = queue
        self.client = client
        self.name = name
        self.project_id = project
        self.title = title
        self.max_open_tasks = max_open_tasks
        self.poll_seconds = poll_seconds
        self.tier = tier
        self.stale_seconds = stale_seconds
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.stats = BridgeStats()
        self.names: LabelNames | None = None
        self._open: dict[int, _Open] = {}  # task id -> what it answers
        self._held: set[str] = set()  # entry ids held
        self._users: dict[int, str] = {}
        # Each class as the model predicts it (True, 3, "cat"), for labels given on items
        # that came without a prediction: Label Studio's choices are text.
        self._typed: dict[str, Any] = {}
        self._signalled: set[int] = set()
        # Consensus items: the annotations already written as votes, and by whom, per item
        # (a later copy of the item must not count them again).
        self._votes: OrderedDict[str, dict[int, str]] = OrderedDict()
        self._overlap = 1
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._receiver: WebhookReceiver | None = None

    # -- life cycle ---------------------------------------------------------------------

    def connect(
        self,
        webhook_url: str | None = None,
        webhook_host: str = "127.0.0.1",
        webhook_port: int = 8601,
        webhook_secret: str | None = None,
    ) -> None:
        """Check the token, find or create the project and, with ``webhook_url``, serve the
        webhook and register it with the project. Raises :class:`LabelStudioError`."""
        user = self.client.whoami()
        log.info("label studio %s: signed in as %s", self.client.url, user.get("email"))
        if self.project_id is not None:
            project = self.client.project(self.project_id)
        else:
            found = self.client.find_project(self.title)
            project = found or self.client.create_project(self.title, label_config([]))
            self.project_id = int(project["id"])
            log.info(
                "%s project %d (%s)", "using" if found else "created", project["id"], self.title
            )
        self.names = label_names(str(project.get("label_config") or ""))
        self._overlap = int(project.get("maximum_annotations") or 1)
        if webhook_url:
            self._receiver = WebhookReceiver(
                self.signal, host=webhook_host, port=webhook_port, secret=webhook_secret
            )
            headers = {SECRET_HEADER: webhook_secret} if webhook_secret else {}
            self.client.ensure_webhook(self.project_id, webhook_url, headers)
            log.info("webhook %s (served on %s:%d)", webhook_url, webhook_host, self.webhook_port)

    @property
    def webhook_port(self) -> int | None:
        return None if self._receiver is None else self._receiver.port

    def signal(self, task_ids: list[int]) -> None:
        """The webhook's news: these tasks have new annotations (read them soon)."""
        with self._lock:
            self._signalled.update(task_ids)
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def stopped(self) -> bool:
        return self._stop

    def close(self) -> None:
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None

    def run(self, max_items: int | None = None, idle_exit: float | None = None) -> BridgeStats:
        """Work until stopped, ``max_items`` finished, or nothing held nor queued for
        ``idle_exit`` seconds. Items still held stay with this worker."""
        idle_since = next_poll = next_keep = time.monotonic()
        backoff = 0.0
        while not self._stop:
            self._wake.clear()
            if self._held and time.monotonic() >= next_keep:
                # Held items wait on people for hours: keep other workers from taking
                # them over as abandoned (claim_idle_seconds).
                self.queue.keep(self.name, sorted(self._held))
                next_keep = time.monotonic() + KEEP_SECONDS
            try:
                took = self._fill()
                self._sync(self._take_signalled())
                if time.monotonic() >= next_poll:
                    self._sync(list(self._open))
                    next_poll = time.monotonic() + self.poll_seconds
                backoff = 0.0
            except LabelStudioError as exc:
                backoff = min(max(backoff * 2, 1.0), 30.0)
                log.warning("%s; retrying in %.0f s", exc, backoff)
                took = False
            done = self.stats.labeled + self.stats.skipped
            if max_items is not None and done >= max_items:
                break
            if took or self._open:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                break
            self._wake.wait(backoff or self.tick_seconds)
        return self.stats

    # -- steps --------------------------------------------------------------------------

    def _take_signalled(self) -> list[int]:
        with self._lock:
            ids, self._signalled = self._signalled, set()
        return [i for i in ids if i in self._open]

    def _fill(self) -> bool:
        """Take new items while there is room, and give each its task; whether any came."""
        room = self.max_open_tasks - len(self._open)
        if room <= 0:
            return False
        entries = self.queue.take(
            self.name, room, 0, tier=self.tier, stale_seconds=self.stale_seconds
        )
        fresh: dict[str, _Open] = {}
        for entry_id, raw in entries:
            if entry_id in self._held:
                continue  # one of ours, claimed back after it sat idle
            try:
                item = json.loads(raw)
                item_id = str(item["id"])
            except (ValueError, TypeError, KeyError):
                self.stats.unreadable += 1
                self.queue.complete(entry_id, None)
                continue
            fresh.setdefault(item_id, _Open(item)).entries.append(entry_id)
            if item.get("prediction") is not None:
                self._typed.setdefault(str(item["prediction"]), item["prediction"])
            self._held.add(entry_id)
        if fresh:
            self._attach(fresh)
        return bool(entries)

    def _attach(self, fresh: dict[str, _Open]) -> None:
        """Tasks for newly taken items: the task already in the project (a restart, or an
        item taken over from another worker), else a new one."""
        assert self.project_id is not None
        by_item = {str(o.item["id"]): o for o in self._open.values()}
        new: dict[str, _Open] = {}
        for item_id, opened in fresh.items():
            if item_id in by_item:  # another copy of an item with an open task
                by_item[item_id].entries += opened.entries
            else:
                new[item_id] = opened
        if not new:
            return
        existing: dict[str, dict[str, Any]] = {}
        for task in self.client.tasks_by_item(self.project_id, list(new)):
            item_id = str((task.get("data") or {}).get("stream_al_id"))
            if item_id in new and (item_id not in existing or task["id"] < existing[item_id]["id"]):
                existing[item_id] = task
        for item_id, task in existing.items():
            self._open[int(task["id"])] = new[item_id]
            self._finish(int(task["id"]), task)  # annotated while nobody held it?
        to_create = [o for i, o in new.items() if i not in existing]
        if to_create:
            self._ensure_overlap(max(_votes_needed(o.item) for o in to_create))
            self._learn_classes([o.item for o in to_create])
            names = self._names()
            payloads = [task_payload(o.item, o.entries[0], names) for o in to_create]
            for task_id, opened in zip(
                self.client.import_tasks(self.project_id, payloads), to_create, strict=True
            ):
                self._open[task_id] = opened
            self.stats.created += len(to_create)
            log.info("%d task(s) created in project %d", len(to_create), self.project_id)

    def _ensure_overlap(self, votes: int) -> None:
        """Ask Label Studio for ``votes`` annotations per task (a project the bridge
        manages; an existing one is the team's to set, and is only warned about)."""
        if votes <= self._overlap:
            return
        assert self.project_id is not None
        if not self._names().managed:
            log.warning(
                "items need %d votes but project %d takes %d annotation(s) per task: set "
                "its overlap in Label Studio",
                votes,
                self.project_id,
                self._overlap,
            )
            self._overlap = votes  # said once
            return
        self.client.update_project(
            self.project_id, maximum_annotations=votes, overlap_cohort_percentage=100
        )
        self._overlap = votes
        log.info("project %d: %d annotations per task (consensus)", self.project_id, votes)

    def _names(self) -> LabelNames:
        if self.names is None:
            raise LabelStudioError("not connected to Label Studio (call connect first)")
        return self.names

    def _learn_classes(self, items: list[dict[str, Any]]) -> None:
        """Add the classes the model learned since to a project config the bridge wrote."""
        names = self._names()
        known = set(names.classes)
        classes = classes_of(items)
        if not names.managed or set(classes) <= known:
            return
        assert self.project_id is not None
        config = label_config(sorted(known | set(classes)))
        self.client.update_project(self.project_id, label_config=config)
        self.names = label_names(config)

    def _sync(self, task_ids: list[int]) -> None:
        """Read these open tasks back and finish the annotated ones."""
        if not task_ids:
            return
        assert self.project_id is not None
        found = {int(t["id"]): t for t in self.client.tasks_by_id(self.project_id, task_ids)}
        for task_id in task_ids:
            if task_id not in self._open:
                continue
            task = found.get(task_id)
            if task is None:  # deleted in Label Studio: give the item a new task
                log.warning(
                    "task %d is gone from project %d; creating it again", task_id, self.project_id
                )
                opened = self._open.pop(task_id)
                self._attach({str(opened.item["id"]): opened})
            else:
                self._finish(task_id, task)

    def _user(self, user_id: int) -> str:
        if user_id not in self._users:
            self._users[user_id] = self.client.user_email(user_id)
        return self._users[user_id]

    def _typed_label(self, text: str, item: dict[str, Any]) -> Any:
        value = coerce_label(text, item)
        return self._typed.get(value, value) if isinstance(value, str) else value

    def _label(self, item: dict[str, Any], answer: Answer) -> str | None:
        if answer.label is None:
            return None
        record = {
            "id": item["id"],
            "label": self._typed_label(answer.label, item),
            "annotator": f"label-studio:{answer.annotator}",
            "ts": self.clock(),
            "tier": item.get("tier", self.tier),
        }
        return json.dumps(record)

    def _finish_votes(self, task_id: int, task: dict[str, Any]) -> None:
        """A consensus item: each new annotator's annotation is the label of one copy."""
        opened = self._open[task_id]
        item_id = str(opened.item["id"])
        done = self._votes.setdefault(item_id, {})
        self._votes.move_to_end(item_id)
        while len(self._votes) > 10_000:
            self._votes.popitem(last=False)
        for annotation_id, answer in task_votes(task, self._names(), self._user):
            if not opened.entries:
                break
            if annotation_id in done or answer.annotator in done.values():
                continue  # counted already, or a second annotation by the same person
            label = self._label(opened.item, answer)
            self.queue.complete(opened.entries[0], label)
            self._held.discard(opened.entries.pop(0))
            done[annotation_id] = answer.annotator
            if label is None:
                self.stats.skipped += 1
            else:
                self.stats.labeled += 1
        if not opened.entries:
            del self._open[task_id]

    def _finish(self, task_id: int, task: dict[str, Any]) -> None:
        """Write the label of an annotated task and acknowledge its items (one step each)."""
        if _votes_needed(self._open[task_id].item) > 1:
            self._finish_votes(task_id, task)
            return
        answer = task_answer(task, self._names(), self._user)
        if answer is None:
            return
        opened = self._open[task_id]
        label = self._label(opened.item, answer)
        while opened.entries:  # a Redis failure halfway leaves the rest open, for a retry
            self.queue.complete(opened.entries[0], label)
            self._held.discard(opened.entries.pop(0))
        del self._open[task_id]
        if label is None:
            self.stats.skipped += 1
        else:
            self.stats.labeled += 1


def run_bridge(
    settings: Settings, max_items: int | None = None, idle_exit: float | None = None
) -> int:
    """``stream-al worker --oracle label-studio``: run the bridge until a signal (or
    ``max_items`` / ``idle_exit``); raises ``ConfigurationError`` on a bad start."""
    from stream_al.health import Health
    from stream_al.serve import (
        ConfigurationError,
        _install_signals,
        _retrying,
        _store,
        rerun_until_done,
    )

    w = settings.worker
    if w.label_studio_token is None:
        raise ConfigurationError(
            "the label-studio oracle needs an API token: set STREAM_AL_WORKER__LABEL_STUDIO_TOKEN "
            "(Label Studio: Account & Settings > Personal Access Token)"
        )
    client = LabelStudioClient(w.label_studio_url, w.label_studio_token.get_secret_value())
    store = _store(settings, w.name, w.claim_idle_seconds)
    bridge = LabelStudioBridge(
        store,
        client,
        w.name,
        project=w.label_studio_project,
        title=w.label_studio_title,
        max_open_tasks=w.label_studio_max_open_tasks,
        poll_seconds=w.label_studio_poll_seconds,
        tier=w.tier,
        stale_seconds=w.stale_seconds,
    )
    secret = w.label_studio_webhook_secret
    try:
        bridge.connect(
            w.label_studio_webhook_url,
            w.label_studio_webhook_host,
            w.label_studio_webhook_port,
            secret.get_secret_value() if secret else None,
        )
    except (LabelStudioError, OSError) as exc:
        bridge.close()
        raise ConfigurationError(str(exc)) from None
    _install_signals(bridge.stop)
    try:
        if _retrying("redis", store.ensure_groups_ok, Health(), bridge.stopped) is None:
            return 0
        stats = rerun_until_done(lambda: bridge.run(max_items=max_items, idle_exit=idle_exit))
    finally:
        bridge.close()
    log.info(
        "label-studio bridge %s: %d tasks created, %d labeled, %d skipped, %d still open",
        w.name,
        stats.created,
        stats.labeled,
        stats.skipped,
        len(bridge._open),
    )
    return 0
