"""Label Studio's REST API, and the shapes stream-al gives its tasks and reads back.

:class:`LabelStudioClient` speaks to the server (legacy token or personal access token,
see :func:`auth_scheme`); the pure functions build a project's labeling config, a task and
its prediction from a queue item, and read the label (or the votes) out of a task's
annotations. The bridge that keeps the queue and a project in step is
:mod:`stream_al.labeling.label_studio.bridge`.

Standard library only (``urllib.request``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from stream_al.errors import LabelStudioError
from stream_al.schemas import loads

__all__ = [
    "MODEL_VERSION",
    "NEW_CLASS",
    "WEBHOOK_ACTIONS",
    "Answer",
    "LabelNames",
    "LabelStudioClient",
    "auth_scheme",
    "classes_of",
    "confidence",
    "is_jwt",
    "label_config",
    "label_names",
    "task_answer",
    "task_payload",
    "task_votes",
    "webhook_task_ids",
]

log = logging.getLogger("stream_al.labeling.label_studio.bridge")

MODEL_VERSION = "stream-al"
"""The ``model_version`` of every prediction and of the project: Label Studio's
uncertainty sampling only ranks predictions of the project's current model version."""
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
_CHUNK = 50  # task ids or item ids per list request (they travel in the query string)


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
        header = loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
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
    new_choice: bool = False  # the config has the NEW_CLASS choice (it confirms typed text)


NEW_CLASS = "a new class: type it below"
"""The choice that confirms a typed class the model has never seen (docs/design.md,
"Labeling"): the box to type it in shows only once it is chosen."""


def label_config(classes: Sequence[str], closed: bool = False) -> str:
    """The labeling config of a project the bridge manages: the model's view (a header),
    the features (a table), one choice per class with its number key (the classes in the
    session's order: a class keeps its key) and, unless ``closed`` (a fixed class list),
    the :data:`NEW_CLASS` choice, which shows a box to type a new class in.

    >>> print(label_config(["no", "yes"]))  # doctest: +NORMALIZE_WHITESPACE
    <View>
      <Header value="$model_says"/>
      <Table name="features" value="$features"/>
      <Choices name="label" toName="features" choice="single-radio" required="true">
        <Choice value="no" hotkey="1"/>
        <Choice value="yes" hotkey="2"/>
        <Choice value="a new class: type it below" hotkey="0"/>
      </Choices>
      <TextArea name="other" toName="features" maxSubmissions="1"
                visibleWhen="choice-selected" whenTagName="label"
                whenChoiceValue="a new class: type it below"
                placeholder="a class the model has never seen"/>
    </View>

    """
    lines = [
        "<View>",
        '  <Header value="$model_says"/>',
        '  <Table name="features" value="$features"/>',
        '  <Choices name="label" toName="features" choice="single-radio" required="true">',
    ]
    keyed = [(c, str(n) if n <= 9 else "") for n, c in enumerate(classes, 1)]
    lines += [
        f"    <Choice value={quoteattr(str(c))}" + (f' hotkey="{key}"' if key else "") + "/>"
        for c, key in keyed
    ]
    if not closed:
        lines.append(f'    <Choice value={quoteattr(NEW_CLASS)} hotkey="0"/>')
    lines.append("  </Choices>")
    if not closed:
        lines += [
            '  <TextArea name="other" toName="features" maxSubmissions="1"',
            '            visibleWhen="choice-selected" whenTagName="label"',
            f"            whenChoiceValue={quoteattr(NEW_CLASS)}",
            '            placeholder="a class the model has never seen"/>',
        ]
    lines.append("</View>")
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
    values = [] if choices is None else [c.get("value", "") for c in choices.iter("Choice")]
    table = next(root.iter("Table"), None)
    managed = (
        table is not None
        and table.get("name") == "features"
        and to_name == "features"
        and (choices is None or choices.get("name") == "label")
        and (text is None or text.get("name") == "other")
    )
    return LabelNames(
        to_name=to_name,
        choices=None if choices is None else choices.get("name"),
        text=None if text is None else text.get("name"),
        classes=tuple(v for v in values if v != NEW_CLASS),
        managed=managed,
        new_choice=NEW_CLASS in values,
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
    """What the annotation of a task says: a label (None: skipped), who gave it and how:
    ``choice`` (one of the classes), ``new`` (typed after choosing :data:`NEW_CLASS`: a
    confirmed new class) or ``typed`` (typed without it)."""

    label: str | None
    annotator: str
    how: str = field(default="choice", repr=False)


def _who(completed_by: Any, users: Callable[[int], str]) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    if isinstance(completed_by, int):
        return users(completed_by)
    return str(completed_by)


def _result_label(result: Sequence[dict[str, Any]], names: LabelNames) -> tuple[str | None, str]:
    """The label an annotation's result gives, and how (see :class:`Answer`)."""

    def first(kind: str, name: str | None, key: str) -> str | None:
        for region in result:
            if region.get("type") != kind or (name and region.get("from_name") != name):
                continue
            values = [str(v).strip() for v in (region.get("value") or {}).get(key) or []]
            if values and values[0]:
                return values[0]
        return None

    chosen = first("choices", names.choices, "choices")
    typed = first("textarea", names.text, "text")
    if chosen == NEW_CLASS:
        return typed, "new"
    if chosen is not None:
        return chosen, "choice"
    return typed, "typed"


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
    label, how = _result_label(chosen.get("result") or [], names) if kept else (None, "choice")
    return Answer(label, _who(chosen.get("completed_by"), users), how)


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
        label, how = (None, "choice") if cancelled else _result_label(a.get("result") or [], names)
        who = _who(a.get("completed_by"), users)
        votes.append((int(a.get("id") or 0), Answer(label, who, how)))
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
                detail = str(loads(detail).get("detail") or detail)
            where = urllib.parse.urlsplit(request.full_url).path
            raise LabelStudioError(
                f"Label Studio answered {exc.code} to {request.get_method()} {where}: "
                f"{' '.join(detail.split())[:200]}",
                status=exc.code,
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioError(f"cannot reach Label Studio at {self.url}: {reason}") from None
        return loads(body) if body.strip() else None

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
            # The predictions rank the tasks; shown as pre-annotations they would pre-select
            # the model's guess for the labeler.
            "show_collab_predictions": False,
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
