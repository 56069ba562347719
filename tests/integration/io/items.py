"""A queue request as serve makes it, for the store tests of this folder."""

from __future__ import annotations

import time
from typing import Any

from stream_al.core.routing import Routing
from stream_al.io.base import EnqueueRequest
from stream_al.service.routing import queue_request


def item_request(
    item_id: str, votes: int = 1, features: dict[str, Any] | None = None
) -> EnqueueRequest:
    """The request serve makes to queue ``item_id`` for ``votes`` crowd answers."""
    return queue_request(
        item_id=item_id,
        features=features or {"x": 1.0},
        prediction=True,
        proba={True: 0.6, False: 0.4},
        score=0.4,
        reason="uncertain",
        threshold=None,
        strategy="test",
        enqueued_at=time.time(),
        model_version=0,
        routing=Routing(crowd_votes=votes),
        label_ttl=600,
    )
