"""Everything that defines a learner but its seed (:class:`LearnerSpec`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from stream_al.core.budget import BudgetUnit, every_label
from stream_al.core.candidates import challenged
from stream_al.core.drift import DriftReaction
from stream_al.core.feature_kinds import MAX_MODEL_FEATURES
from stream_al.core.learner import ActiveLearner
from stream_al.core.pending import LateLabels
from stream_al.core.shaping import Shaping
from stream_al.core.uncertainty import AUTO

__all__ = ["LearnerSpec"]


@dataclass(frozen=True)
class LearnerSpec:
    """Everything that defines a learner but its seed: builds learners and their references.

    >>> spec = LearnerSpec(model="gaussian-nb", strategy="variable-uncertainty", budget=0.05)
    >>> spec.build(seed=1).strategy_name, spec.build(seed=1, strategy="random").strategy_name
    ('variable-uncertainty', 'random')

    """

    model: str = "auto"
    strategy: str = "variable-uncertainty"
    budget: float = 0.1
    window: int = 1000
    unit: BudgetUnit = "events"
    uncertainty: str = AUTO
    drift: DriftReaction = field(default_factory=DriftReaction)
    model_params: Mapping[str, Any] = field(default_factory=dict)
    strategy_params: Mapping[str, Any] = field(default_factory=dict)
    shaping: Shaping = field(default_factory=Shaping)
    stop_after: int = 0
    late_labels: LateLabels = field(default_factory=LateLabels)
    importance_weights: bool = False
    max_model_features: int = MAX_MODEL_FEATURES

    def build(
        self,
        seed: int | None = 0,
        *,
        strategy: str | None = None,
        budget: float | None = None,
        drift: DriftReaction | None = None,
    ) -> ActiveLearner:
        """A fresh learner; the overrides build the reference runs (random, full labels)."""
        name = strategy or self.strategy
        learner = ActiveLearner(
            self.model,
            name,
            budget if budget is not None else self.budget,
            window=self.window,
            unit=self.unit,
            uncertainty=self.uncertainty,
            drift=drift if drift is not None else self.drift,
            seed=seed,
            model_params=self.model_params,
            strategy_params=self.strategy_params if name == self.strategy else None,
            shaping=self.shaping,
            stop_after=self.stop_after,
            late_labels=self.late_labels,
            importance_weights=self.importance_weights,
            max_model_features=self.max_model_features,
        )
        learner.spec = replace(
            self,
            strategy=name,
            budget=learner.budget.budget,
            drift=learner.drift,
            strategy_params=self.strategy_params if name == self.strategy else {},
        )
        return learner

    def differences(self, other: LearnerSpec) -> list[str]:
        """What ``other`` sets otherwise, as ``name: ours -> theirs``; an ``auto`` setting
        counts as what it means at the spec's budget.

        >>> LearnerSpec(budget=0.1).differences(LearnerSpec(budget=0.05, strategy="split"))
        ['strategy: variable-uncertainty -> split', 'budget: 0.1 -> 0.05']
        >>> LearnerSpec(drift=DriftReaction(delta=0.05)).differences(LearnerSpec())
        []

        """
        mine, others = self._resolved(), other._resolved()
        changed = []
        for f in fields(self):
            ours, theirs = getattr(mine, f.name), getattr(others, f.name)
            if ours != theirs:
                changed.append(f"{f.name}: {ours} -> {theirs}")
        return changed

    def _resolved(self) -> LearnerSpec:
        """This spec with its ``auto`` drift delta and candidate challengers as the learner
        resolves them at its budget (a checkpoint made before they were ``auto`` holds
        their values)."""
        labels_all = every_label(self.budget)
        drift = replace(self.drift, delta=self.drift.adwin_delta(labels_all))
        params = dict(self.model_params)
        if self.model == "auto":
            params["challengers"] = challenged(params.get("challengers", "auto"), labels_all)
        return replace(self, drift=drift, model_params=params)

    def full_labels(self, seed: int | None = 0) -> ActiveLearner:
        """The ceiling: the plain model learning every label, no drift reaction."""
        return self.build(seed, strategy="random", budget=1.0, drift=DriftReaction(enabled=False))
