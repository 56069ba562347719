"""What a warm start is worth: the same live stream at the same budget, cold and
warm-started (``stream-al evaluate --warm-start SPEC``; the specs are
:mod:`stream_al.data.histories`'s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from stream_al.core.learner import ActiveLearner
from stream_al.core.types import Example
from stream_al.data.histories import History, WarmStart, load_history, warm_learner
from stream_al.evaluation.prequential import evaluate

if TYPE_CHECKING:
    from stream_al.config import KafkaSettings

__all__ = ["check_label_types", "evaluate_warm_start"]


def _types(examples: Sequence[Example]) -> dict[str, list[Any]]:
    """The label types of ``examples``, each with a few of its labels."""
    found: dict[str, list[Any]] = {}
    for _, y in examples:
        seen = found.setdefault(type(y).__name__, [])
        if len(seen) < 3 and y not in seen:
            seen.append(y)
    return found


def check_label_types(history: Sequence[Example], live: Sequence[Example], source: str) -> None:
    """Refuse a history whose labels are of other types than the live stream's (a model
    given ``"1"`` and ``True`` learns two classes, and cannot even sort them).

    >>> check_label_types([({}, "0"), ({}, "1")], [({}, False), ({}, True)], "csv:h.csv")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... labels of type str ('0', '1'), the stream's are of type bool (False, True)...

    """
    ours, theirs = _types(history), _types(live[:1000])
    if not theirs or set(ours) <= set(theirs):
        return

    def say(found: dict[str, list[Any]]) -> str:
        return "; ".join(
            f"{name} ({', '.join(repr(v) for v in sorted(values, key=str))})"
            for name, values in found.items()
        )

    raise ValueError(
        f"the warm start {source} has labels of type {say(ours)}, the stream's are of type "
        f"{say(theirs)}: give the history the stream's labels, as the stream writes them"
    )


def evaluate_warm_start(
    data_for_seed: Callable[[int], Sequence[Example]],
    spec: Any,
    warm: WarmStart,
    *,
    key: bytes | None = None,
    kafka: KafkaSettings | None = None,
    cost_key: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The prequential report of ``spec`` on the live stream, cold and warm-started.

    Both runs see the same live events at the same budget (with ``first:N`` the live
    stream is what follows the first N events). The cold report is returned with a
    ``warm_start`` section: the source, the history size and the warm run's accuracy,
    label fraction and references, and ``gain``, warm minus cold accuracy.
    """
    history: History | None = None
    if warm.kind in ("csv", "topic"):
        history = load_history(warm, kafka)
        if not history.examples:
            raise ValueError(f"{history.describe(warm.spec)}: nothing to learn")

    def live(seed: int) -> Sequence[Example]:
        data = data_for_seed(seed)
        if warm.kind != "first":
            return data
        if warm.first >= len(data):
            raise ValueError(
                f"--warm-start {warm.spec} leaves no live events: the stream has "
                f"{len(data):,} events"
            )
        return data[warm.first :]

    def history_for(seed: int) -> History | None:
        if warm.kind != "first":
            return history
        return History(data_for_seed(seed)[: warm.first])

    if history is not None:
        check_label_types(history.examples, live(0), warm.spec)

    described: list[str] = []

    def warm_up(learner: ActiveLearner, seed: int) -> None:
        h = history_for(seed)
        if h is not None and cost_key is not None:  # the cost is no feature (as when live)
            h = History([({k: v for k, v in x.items() if k != cost_key}, y) for x, y in h.examples])
        described.append(warm_learner(learner, warm, h, key))

    cold = evaluate(live, spec, cost_key=cost_key, **options)
    hot = evaluate(live, spec, cost_key=cost_key, warm=warm_up, **options)
    first_history = history_for(0)
    cold["warm_start"] = {
        "source": warm.spec,
        "history_events": len(first_history.examples) if first_history else None,
        "skipped": first_history.skipped if first_history else 0,
        "summary": described[0] if described else "",
        **{k: hot[k] for k in ("accuracy", "accuracy_ci95", "label_fraction", "labels")},
        "accuracy_per_seed": hot["accuracy_per_seed"],
        "gain": hot["accuracy"] - cold["accuracy"],
        "drifts": hot["drifts"],
        "baseline": hot["baseline"],
        "full_labels": hot["full_labels"],
        "curve": hot["curve"],
    }
    return cold
