"""The store request that queues one item for labeling: what the pending record keeps
(what learning the label needs) and what the queue item carries (what a labeler sees)."""

from __future__ import annotations

import functools
from typing import Any

from stream_al.core.routing import Routing
from stream_al.io.base import EnqueueRequest
from stream_al.io.votes import ESCALATION
from stream_al.schemas import dumps, query_item_json

__all__ = ["queue_request"]


def queue_request(
    *,
    item_id: str,
    features: dict[str, Any],
    prediction: Any,
    proba: dict[Any, float],
    score: float,
    reason: str,
    threshold: float | None,
    strategy: str,
    enqueued_at: float,
    model_version: int,
    routing: Routing,
    label_ttl: float,
    explanation: dict[str, Any] | None = None,
    source: str = "stream",
) -> EnqueueRequest:
    """The store request that queues one item for labeling (see :meth:`LabelStore.enqueue`).

    The pending record keeps what learning the label needs; the queue item carries what a
    labeler sees. ``source`` says where the item came from: ``"stream"`` (a live event)
    or ``"pool"`` (``stream-al select`` on a historical pool).
    """
    tier, band, slot = routing.route(score)
    votes = routing.votes(tier)
    pending_fields: dict[str, Any] = {
        "features": features,
        "prediction": prediction,
        "score": score,
        "reason": reason,
        "enqueued_at": enqueued_at,
        "model_version": model_version,
        "source": source,
    }
    item_json = functools.partial(
        query_item_json,
        item_id=item_id,
        features=features,
        prediction=prediction,
        proba=proba,
        score=score,
        strategy=strategy,
        threshold=threshold,
        reason=reason,
        enqueued_at=enqueued_at,
        model_version=model_version,
        explanation=explanation,
        source=source,
    )
    item = item_json(tier=tier, priority=band, votes_needed=votes)
    if votes > 1:
        # The item and record an escalation writes, but for the votes so far: the store's
        # script splices those in as text, where re-encoding the features in Lua (cjson,
        # 14 significant digits) changed the numbers the expert saw and the model learned.
        to = ESCALATION
        expert_item = item_json(
            tier=to.tier,
            priority=to.priority,
            votes_needed=to.votes_needed,
            escalation=True,
        )
        escalated = {"votes_needed": to.votes_needed, "tier": to.tier, "slot": to.slot}
        expert_record = dumps(pending_fields | escalated | {"queue_item": expert_item})
        pending_fields |= {"votes_needed": votes, "tier": tier, "slot": slot, "queue_item": item}
        pending_fields |= {"expert_item": expert_item, "expert_record": expert_record}
    return EnqueueRequest(item_id, dumps(pending_fields), item, label_ttl, slot, copies=votes)
