"""The Redis keys of a deployment: their names under a prefix, and what each holds.

Keys (``P`` is the prefix, ``stream_al`` by default):

=============================  ===============================================================
``P:queue``                    label queue (crowd tier), a stream; workers read it in the
                               group ``workers``; ``P:queue:high`` its high-priority band,
                               ``P:queue:expert`` and ``P:queue:expert:high`` the expert tier's
``P:labels``                   labels from workers, a stream; serve replicas read it in the
                               group ``serve``
``P:train_log``                joined examples (fields ``item`` and ``label``), a stream
``P:pending:{id}``             the queried item's features and prediction, with a TTL
``P:pending_index``            sorted set of pending ids by expiry (to count them)
``P:labeled:{id}``             "this item was labeled" (so a repeated label is a duplicate
                               and a replayed event is not queued again), with a TTL
``P:dropped:{id}``             "the workers dropped this item unlabeled" (so a replayed
                               event is not asked again), until its pending item's expiry
``P:joined:{entry}``           the join's answer for label entry ``entry`` (outcome and
                               train-log id), kept ``claim_idle_seconds``: asked again, the
                               join answers the same and changes nothing
``P:checkpoint:{replica}``     hash: ``data`` (pickle), ``signature``, ``train_log_id``,
                               ``created_at``
``P:checkpoints``              set of the replicas with a checkpoint (found without a scan
                               of the keyspace, which the ``labeled`` keys make large)
``P:replica:{replica}``        what a serve replica says of itself (ready or not, and
                               why, since when), JSON, rewritten every few seconds with a
                               short TTL (a day once it stopped), for ``stream-al status``
``P:replicas``                 sorted set of the replicas by the time of their last state
                               (Redis's clock): one whose state expired is silent (killed,
                               hung, cut off from Redis); dropped after a day of silence
``P:lease:{replica}``          which serve process holds the replica id now: a random token
                               (with its host and pid), set only where absent, kept alive
                               every few seconds with a short TTL, deleted at a clean stop
``P:dead_letters``             labels that could not be used, with the reason, a stream
                               (and train-log entries no model can learn, once each)
``P:train_log_skipped``        set of the train-log entries skipped as unlearnable
``P:state_id``                 a random id set with the consumer groups: gone or changed,
                               Redis lost its data (restarted without persistence, flushed)
``P:audit``                    every query and every label (fields ``kind``, ``id``,
                               ``body``), a stream capped at ``audit_maxlen`` (0: none)
``P:queue_stats``              hash of worker counters: ``stale`` (items dropped too old),
                               ``skipped`` (items dropped after nobody would label them)
``P:votes:{id}``               consensus: one vote per annotator until the item has k
``P:agreement``                per annotator: ``{name}:total`` votes, ``{name}:agree`` with
                               the consensus
=============================  ===============================================================
"""

from __future__ import annotations

from stream_al.io.base import TIERS, tier_slots

__all__ = ["RedisKeys"]


class RedisKeys:
    """Key names under a prefix."""

    def __init__(self, prefix: str = "stream_al") -> None:
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self.labels = f"{prefix}:labels"
        self.train_log = f"{prefix}:train_log"
        self.pending_index = f"{prefix}:pending_index"
        self.dead_letters = f"{prefix}:dead_letters"
        self.train_log_skipped = f"{prefix}:train_log_skipped"
        self.state_id = f"{prefix}:state_id"
        self.audit = f"{prefix}:audit"
        self.agreement = f"{prefix}:agreement"
        self.queue_stats = f"{prefix}:queue_stats"
        self.queues = [self.slot(tier_slot) for tier in TIERS for tier_slot in tier_slots(tier)]

    @property
    def types(self) -> dict[str, str]:
        """The deployment's own keys (not an item's, nor a replica's checkpoint) and the
        Redis type stream-al keeps in each (as ``TYPE`` names it)."""
        return {
            **dict.fromkeys(self.queues, "stream"),
            self.labels: "stream",
            self.train_log: "stream",
            self.dead_letters: "stream",
            self.audit: "stream",
            self.pending_index: "zset",
            self.train_log_skipped: "set",
            self.checkpoints: "set",
            self.replicas: "zset",
            self.state_id: "string",
            self.queue_stats: "hash",
            self.agreement: "hash",
        }

    def slot(self, slot: str) -> str:
        """The stream of a queue slot (see :func:`~stream_al.io.base.queue_slot`)."""
        return f"{self.queue}:{slot}" if slot else self.queue

    def pending(self, item_id: str) -> str:
        return f"{self.prefix}:pending:{item_id}"

    def votes(self, item_id: str) -> str:
        return f"{self.prefix}:votes:{item_id}"

    def labeled(self, item_id: str) -> str:
        return f"{self.prefix}:labeled:{item_id}"

    def dropped(self, item_id: str) -> str:
        return f"{self.prefix}:dropped:{item_id}"

    def joined(self, label_entry_id: str) -> str:
        return f"{self.prefix}:joined:{label_entry_id}"

    def checkpoint(self, replica: str) -> str:
        return f"{self.prefix}:checkpoint:{replica}"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}:checkpoints"

    def replica_state(self, replica: str) -> str:
        return f"{self.prefix}:replica:{replica}"

    @property
    def replicas(self) -> str:
        return f"{self.prefix}:replicas"

    def lease(self, replica: str) -> str:
        return f"{self.prefix}:lease:{replica}"
