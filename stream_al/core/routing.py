"""Where a queried item goes: its tier (``crowd`` or ``expert``), its priority band, and how
many labels (votes) it needs.

A queue *slot* names one of the label queues: the tier, then the band (``""`` is the
crowd's normal band). Workers read a tier's two slots, the high band first.

>>> Routing(expert_threshold=0.8, priority_threshold=0.5).route(0.6)
('crowd', 'high', 'high')
>>> tier_slots("expert")
('expert:high', 'expert')

"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TIERS", "Routing", "check_tier", "queue_slot", "tier_slots"]

TIERS = ("crowd", "expert")
"""Who labels an item: ``expert`` for the hardest (highest scores), ``crowd`` for the rest."""


def check_tier(tier: str) -> str:
    """``tier`` if it is one of :data:`TIERS`; else a ``ValueError`` that lists them."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of: {', '.join(TIERS)}")
    return tier


def queue_slot(tier: str = "crowd", high: bool = False) -> str:
    """The queue an item goes to: its tier and priority band.

    >>> queue_slot(), queue_slot("crowd", high=True), queue_slot("expert", high=True)
    ('', 'high', 'expert:high')

    """
    check_tier(tier)
    parts = ([] if tier == "crowd" else [tier]) + (["high"] if high else [])
    return ":".join(parts)


def tier_slots(tier: str) -> tuple[str, str]:
    """A tier's two queues, the high-priority band first."""
    return queue_slot(tier, high=True), queue_slot(tier)


@dataclass(frozen=True)
class Routing:
    """Where a queried item goes: its tier (expert or crowd) and priority band.

    Parameters
    ----------
    expert_threshold
        Items scoring at least this go to the expert tier; None sends all to crowd.
    priority_threshold
        Items scoring at least this go to their tier's high band, served first.
    crowd_votes, expert_votes
        Labels (from different annotators) an item of the tier needs; the majority is
        learned, a tie or too little agreement sends the item to one expert.

    >>> Routing(expert_threshold=0.8, priority_threshold=0.5).route(0.6)
    ('crowd', 'high', 'high')
    >>> Routing(expert_threshold=0.8).route(0.9)
    ('expert', 'normal', 'expert')

    """

    expert_threshold: float | None = None
    priority_threshold: float | None = None
    crowd_votes: int = 1
    expert_votes: int = 1

    def votes(self, tier: str) -> int:
        return self.expert_votes if tier == "expert" else self.crowd_votes

    def route(self, score: float) -> tuple[str, str, str]:
        """``(tier, band, queue slot)`` for an item's score."""
        expert = self.expert_threshold is not None and score >= self.expert_threshold
        high = self.priority_threshold is not None and score >= self.priority_threshold
        tier = "expert" if expert else "crowd"
        return tier, "high" if high else "normal", queue_slot(tier, high)
