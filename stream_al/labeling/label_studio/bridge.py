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
  skipped (cancelled) annotation gives the item back to the queue for another labeler,
  and the bridge, meeting it again, holds it, gives it back unseen at the worker's pace
  and finally drops it (as a worker does: docs/design.md, "Labeling").

Labelers are kept from slips as on the web page (:mod:`stream_al.labeling.classes`): the
project the bridge manages lists each class with its number key, in the session's order
(a class keeps its key), the model's predictions rank the tasks but are not shown as
pre-annotations (nothing is pre-selected), and a class the model has never seen is
typed only after choosing :data:`~stream_al.labeling.label_studio.api.NEW_CLASS` (the
confirmation); a typed label without it is not written (the item goes back, as a skip).
A fixed class list (``STREAM_AL_WORKER__CLASSES``) leaves out the new-class choice.

An item the bridge holds stays with it across restarts (same worker name): it gets the
item back, finds its task in the project (by ``stream_al_id``) and never imports a second
one. The label is the annotation's choice (the project's first ``Choices``), else the text
typed in its first ``TextArea`` (a new class, confirmed); the annotator is
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

import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from stream_al.errors import LabelStudioError
from stream_al.io.base import WorkerQueue, check_tier
from stream_al.labeling.base import GiveBacks, unreadable_item
from stream_al.labeling.classes import SessionClasses
from stream_al.labeling.label_studio.api import (
    NEW_CLASS,
    Answer,
    LabelNames,
    LabelStudioClient,
    label_config,
    label_names,
    task_answer,
    task_payload,
    task_votes,
    webhook_task_ids,
)
from stream_al.labeling.oracles import coerce_label
from stream_al.runtime.backoff import Backoff
from stream_al.runtime.health import http_server
from stream_al.schemas import loads

__all__ = [
    "KEEP_SECONDS",
    "SECRET_HEADER",
    "BridgeStats",
    "LabelStudioBridge",
    "WebhookReceiver",
]

log = logging.getLogger("stream_al.labeling.label_studio.bridge")

SECRET_HEADER = "X-Stream-Al-Secret"
"""The header Label Studio sends the webhook secret in (set on the webhook it registers)."""
KEEP_SECONDS = 1.0
"""How often held items are marked as worked on: well below any sensible claim idle time."""
_MAX_WEBHOOK_BYTES = 8 * 1024 * 1024


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
            payload = loads(body)
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
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:  # read(-1) would wait for the caller to close
                self._answer(HTTPStatus.BAD_REQUEST)
                return
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
    dropped: int = 0


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
    classes
        A fixed class list (``STREAM_AL_WORKER__CLASSES``); None: the model's classes, and
        confirmed new ones.

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
        classes: list[str] | None = None,
    ):
        check_tier(tier)
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
        # Items taken and not yet given a task (their import failed): retried first.
        self._taken: dict[str, _Open] = {}
        self._users: dict[int, str] = {}
        # Each class as the model predicts it (True, 3, "cat"), for labels given on items
        # that came without a prediction: Label Studio's choices are text.
        self._typed: dict[str, Any] = {}
        self._signalled: set[int] = set()
        # Consensus items: the annotations already written as votes, and by whom, per item
        # (a later copy of the item must not count them again).
        self._votes: OrderedDict[str, dict[int, str]] = OrderedDict()
        self._overlap = 1
        self.classes = SessionClasses(classes)
        # Items given back after a skip, given back unseen when met again, held until
        # they may go back (the worker's pace, not the fills'): entry id -> (when it
        # may go back, item id, the entry as queued).
        self._skipped = GiveBacks()
        self._holding: dict[str, tuple[float, str, str]] = {}
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
            config = label_config(self.classes.names, closed=self.classes.closed)
            project = found or self.client.create_project(self.title, config)
            self.project_id = int(project["id"])
            log.info(
                "%s project %d (%s)", "using" if found else "created", project["id"], self.title
            )
        self.names = label_names(str(project.get("label_config") or ""))
        for name in self.names.classes:
            self.classes.add(name)  # the project's classes keep their keys
        self._write_config(str(project.get("label_config") or ""))
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

    @property
    def open_tasks(self) -> int:
        """Tasks imported into Label Studio and not answered yet."""
        return len(self._open)

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
        backoff = Backoff(initial=1.0, factor=2.0, maximum=30.0)  # Label Studio away
        # Items Redis gave a run that failed before their reply came (a run ends with a
        # Redis error): read again now, not once they sit idle (claim_idle_seconds).
        self.queue.take_own_again(self.name)
        wait = 0.0
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
                backoff.reset()
                wait = 0.0
            except LabelStudioError as exc:
                wait = backoff.next()
                log.warning("%s; retrying in %.0f s", exc, wait)
                took = False
            done = self.stats.labeled + self.stats.skipped
            if max_items is not None and done >= max_items:
                break
            if took or self._open or self._holding:  # held skips still go back, or end
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                break
            self._wake.wait(wait or self._tick())
        self._give_back_held()
        return self.stats

    def _tick(self) -> float:
        """How long to wait for a webhook call: ``tick_seconds``, or until the first held
        skip may go back."""
        if not self._holding:
            return self.tick_seconds
        first = min(due for due, _, _ in self._holding.values())
        return max(0.001, min(self.tick_seconds, first - self.clock()))

    # -- steps --------------------------------------------------------------------------

    def _take_signalled(self) -> list[int]:
        with self._lock:
            ids, self._signalled = self._signalled, set()
        return [i for i in ids if i in self._open]

    def _fill(self) -> bool:
        """Take new items while there is room, and give each its task; whether any came.

        Held skips whose time has come go back first; items taken before a failure (of
        Label Studio or Redis) get their tasks first."""
        self._give_back_due()
        if self._taken:
            self._attach()
        room = self.max_open_tasks - len(self._open)
        if room <= 0:
            return False
        entries = self.queue.take(
            self.name, room, 0, tier=self.tier, stale_seconds=self.stale_seconds
        )
        for entry_id, raw in entries:
            if entry_id in self._held:
                continue  # one of ours, claimed back after it sat idle
            problem = unreadable_item(raw)
            if problem is not None:
                log.warning("queue entry %s dropped unlabeled: %s: %.200s", entry_id, problem, raw)
                self.stats.unreadable += 1
                self.queue.complete(entry_id, None)
                continue
            item = loads(raw)
            item_id = item["id"]
            if item_id in self._skipped:
                self._pass_on(entry_id, raw, item_id)
                continue
            self._taken.setdefault(item_id, _Open(item)).entries.append(entry_id)
            if item.get("prediction") is not None:
                self._typed.setdefault(str(item["prediction"]), item["prediction"])
            self._held.add(entry_id)
        if self._taken:
            self._attach()
        return bool(entries)

    def _pass_on(self, entry_id: str, raw: str, item_id: str) -> None:
        """An item skipped in Label Studio comes again: held until it may go back, then
        given back unseen, or dropped once it has been going back for a minute (nobody
        else took it; :class:`~stream_al.labeling.base.GiveBacks`, as the worker does).
        Given back at each fill, it went back every second, and at every webhook call
        in between, where the worker waits gaps doubling to 4 s."""
        now, due = self.clock(), self._skipped.due(item_id)
        if now < due:
            self._holding[entry_id] = (due, item_id, raw)
            self._held.add(entry_id)  # kept from other workers meanwhile, as a task is
            return
        if self._skipped.act(item_id, now):
            self.queue.release(entry_id, raw)
            return
        self._skipped.discard(item_id)
        self.stats.dropped += 1
        self.queue.drop(entry_id, item_id)

    def _unhold(self, entry_id: str) -> tuple[str, str]:
        """Let go of a held skip; its item id and the entry as queued."""
        _, item_id, raw = self._holding.pop(entry_id)
        self._held.discard(entry_id)
        return item_id, raw

    def _give_back_due(self) -> None:
        """The held skips whose time has come: given back, or dropped."""
        now = self.clock()
        for entry_id in [e for e, (due, _, _) in self._holding.items() if due <= now]:
            item_id, raw = self._unhold(entry_id)
            if item_id in self._skipped:
                self._pass_on(entry_id, raw, item_id)
            else:  # forgotten (the newest 10,000 are kept): back for anybody
                self.queue.release(entry_id, raw)

    def _give_back_held(self) -> None:
        """A run that ends gives the held skips back now, for the other labelers (a
        bridge that stops would otherwise keep them until another worker claims them)."""
        for entry_id, (_, _, raw) in list(self._holding.items()):
            self.queue.release(entry_id, raw)
            self._unhold(entry_id)

    def _attach(self) -> None:
        """Tasks for the items taken (``_taken``): the task already in the project (a
        restart, an item taken over from another worker, or an import whose reply was
        lost), else a new one. An item leaves ``_taken`` once it has its task, so a
        failure part way leaves the rest to be attached by the next call."""
        assert self.project_id is not None
        new = self._taken
        by_item = {str(o.item["id"]): o for o in self._open.values()}
        for item_id in [i for i in new if i in by_item]:
            by_item[item_id].entries += new.pop(item_id).entries  # a copy of an open item
        if not new:
            return
        existing: dict[str, dict[str, Any]] = {}
        for task in self.client.tasks_by_item(self.project_id, list(new)):
            item_id = str((task.get("data") or {}).get("stream_al_id"))
            if item_id in new and (item_id not in existing or task["id"] < existing[item_id]["id"]):
                existing[item_id] = task
        for item_id, task in existing.items():
            self._open[int(task["id"])] = new.pop(item_id)
            self._finish(int(task["id"]), task)  # annotated while nobody held it?
        to_create = list(new.values())
        if to_create:
            self._ensure_overlap(max(_votes_needed(o.item) for o in to_create))
            self._learn_classes([o.item for o in to_create])
            names = self._names()
            payloads = [task_payload(o.item, o.entries[0], names) for o in to_create]
            task_ids = self.client.import_tasks(self.project_id, payloads)
            if len(task_ids) != len(to_create):
                # Which id is whose is unknown: the next try looks the tasks up by item.
                raise LabelStudioError(
                    f"label studio answered {len(task_ids)} task ids for {len(to_create)} "
                    f"tasks imported into project {self.project_id}; looking them up again"
                )
            for task_id, opened in zip(task_ids, to_create, strict=True):
                self._open[task_id] = opened
            new.clear()
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
        """Add the classes the model learned since to a project config the bridge wrote
        (after the classes it has: each keeps its key)."""
        for item in items:
            self.classes.observe(item)
        self._write_config()

    def _write_config(self, current: str | None = None) -> None:
        """Write the session's classes to a project the bridge manages, unless its config
        (``current``, or the one read last) says the same already; the predictions then
        stop pre-selecting the model's guess."""
        names = self._names()
        config = label_config(self.classes.names, closed=self.classes.closed)
        if current is not None:
            same = config == current
        else:
            same = names.classes == tuple(self.classes.names)
        if not names.managed or same:
            return
        assert self.project_id is not None
        self.client.update_project(
            self.project_id, label_config=config, show_collab_predictions=False
        )
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
                # Kept (with any copy taken meanwhile) if the import fails.
                self._taken.setdefault(
                    str(opened.item["id"]), _Open(opened.item)
                ).entries += opened.entries
                self._attach()
            else:
                self._finish(task_id, task)

    def _user(self, user_id: int) -> str:
        if user_id not in self._users:
            self._users[user_id] = self.client.user_email(user_id)
        return self._users[user_id]

    def _typed_label(self, text: str, item: dict[str, Any]) -> Any:
        value = coerce_label(text, item)
        return self._typed.get(value, value) if isinstance(value, str) else value

    def _refusal(self, answer: Answer) -> str | None:
        """Why an answer's label is not written (None: it is)."""
        assert answer.label is not None
        closed = self.classes.check(answer.label) if self.classes.closed else None
        if closed is not None or answer.how in ("choice", "new"):
            return closed
        if self.classes.known(answer.label) or self._names().choices is None:
            return None  # a known class typed, or a project with a text box only
        return f"{answer.label!r} was typed without choosing {NEW_CLASS!r} (the confirmation)"

    def _label(self, item: dict[str, Any], answer: Answer) -> str | None:
        if answer.label is None:
            return None
        refused = self._refusal(answer)
        if refused is not None:
            log.warning("item %s: %s: not written, given back", item["id"], refused)
            return None
        if answer.how == "new" and not self.classes.known(answer.label):
            self.classes.add(answer.label)  # confirmed: it takes the next key
            self._write_config()
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
            if label is None:  # this copy goes back, for another annotator's vote
                self.queue.release(opened.entries[0], json.dumps(opened.item))
                self.stats.skipped += 1
            else:
                self.queue.complete(opened.entries[0], label)
                self.stats.labeled += 1
            self._held.discard(opened.entries.pop(0))
            done[annotation_id] = answer.annotator
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
            if label is None:  # skipped: back to the queue, for another labeler
                self.queue.release(opened.entries[0], json.dumps(opened.item))
            else:
                self.queue.complete(opened.entries[0], label)
            self._held.discard(opened.entries.pop(0))
        del self._open[task_id]
        if label is None:
            self.stats.skipped += 1
            self._skipped.add(str(opened.item["id"]), due=self.clock())
        else:
            self.stats.labeled += 1
