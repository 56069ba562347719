"""The embedded demo: the whole loop in one process, on the in-memory stores.

Events of a drifting stream go through the same :class:`~stream_al.service.loop.LabelLoop`
that ``serve`` runs; queried items wait in the label queue; a simulated labeler (the
stream's ground truth) answers each item some events later; labels are joined with the
pending features, appended to the train log and learned from it. Beside it, the same
stream is evaluated with random sampling at the same budget and with every label, so the
summary says what the labels bought.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream_al.config import LearnerSettings
from stream_al.core.types import ClassLabel
from stream_al.data.streams import StreamSpec
from stream_al.evaluation.prequential import RunResult, prequential
from stream_al.io.base import WorkerQueue
from stream_al.io.memory import MemoryStore
from stream_al.runtime.console import Progress
from stream_al.service.loop import LabelLoop

__all__ = ["DemoResult", "SimulatedLabeler", "run_demo"]


class SimulatedLabeler:
    """A labeler that knows the truth and answers each item ``delay`` events after taking it.

    With the loop stepping one event at a time (the demo's default), the label of event i
    is learned just before event i + delay is predicted: the same delay the prequential
    references use, so the comparison is like for like.

    Parameters
    ----------
    truth
        Item id -> label.
    queue
        Where items are taken from and labels given back.
    delay
        Events between taking an item and answering it.

    """

    def __init__(self, truth: dict[str, ClassLabel], queue: WorkerQueue, delay: int):
        self.truth = truth
        self.queue = queue
        self.delay = delay
        self._held: deque[tuple[int, str, str]] = deque()
        self.answered = 0

    def step(self, position: int, now: float) -> None:
        """Take new items and answer those due at stream ``position``."""
        for entry_id, raw in self.queue.take("simulated-labeler", 10_000, block_ms=0):
            # Taken right after the event at position - 1 was decided; its label must be
            # learned before the event at (position - 1) + delay is.
            self._held.append((position - 1 + self.delay, entry_id, json.loads(raw)["id"]))
        while self._held and self._held[0][0] <= position:
            _, entry_id, item_id = self._held.popleft()
            label = {
                "id": item_id,
                "label": self.truth[item_id],
                "annotator": "simulated",
                "ts": now,
            }
            self.queue.complete(entry_id, json.dumps(label))
            self.answered += 1


@dataclass
class DemoResult:
    """What the demo measured: the loop's own run and the two references."""

    stream: str
    run: RunResult
    random: RunResult
    full: RunResult
    dead_letters: int
    queue_left: int


def run_demo(
    settings: LearnerSettings,
    stream: StreamSpec,
    *,
    delay: int = 100,
    batch_size: int = 1,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DemoResult:
    """Run the embedded loop over ``stream`` and both references; see the module docstring."""
    started = clock()
    examples = list(stream.events(settings.seed))
    n = len(examples)
    truth: dict[str, ClassLabel] = {}
    store = MemoryStore()
    spec = settings.spec()
    loop = LabelLoop(spec.build(settings.seed), store=store, dead_letters=store)
    labeler = SimulatedLabeler(truth, store, delay)
    correct = 0
    curve: list[tuple[int, int, float]] = []
    every = max(1, n // 100)
    for start in range(0, n, batch_size):
        batch: list[tuple[str, str]] = []
        for i in range(start, min(start + batch_size, n)):
            x, y = examples[i]
            item_id = f"event-{i}"
            truth[item_id] = y
            event: dict[str, Any] = {"id": item_id, "features": {str(k): v for k, v in x.items()}}
            batch.append((f"demo:{i}", json.dumps(event)))
        decisions = loop.process_events(batch)
        for offset, decision in enumerate(decisions):
            i = start + offset
            if decision is not None and decision.prediction == examples[i][1]:
                correct += 1
            if (i + 1) % every == 0:
                curve.append((i + 1, loop.learner.n_queried, correct / (i + 1)))
        position = min(start + batch_size, n)
        labeler.step(position, time.time())
        loop.process_labels()
        loop.apply_train_log()
        if progress:
            learner = loop.learner
            progress.update(
                f"demo: {position:,}/{n:,} events  accuracy {100 * correct / position:.1f}%  "
                f"asked {learner.n_queried:,}  learned {learner.n_learned:,}  "
                f"drifts {learner.n_drifts}"
            )
    seconds = clock() - started
    if progress:
        progress.update("demo: random sampling and full labels on the same stream", force=True)
    random_run = prequential(examples, spec.build(settings.seed, strategy="random"), delay)
    full_run = prequential(examples, spec.full_labels(settings.seed), delay)
    if progress:
        progress.done()
    learner = loop.learner
    run = RunResult(n, correct, learner.n_queried, learner.n_drifts, seconds, curve)
    return DemoResult(
        stream=stream.spec,
        run=run,
        random=random_run,
        full=full_run,
        dead_letters=len(store.dead_letters),
        queue_left=store.queue_depth(),
    )
