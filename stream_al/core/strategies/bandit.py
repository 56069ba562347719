"""Active learning by learning: a bandit chooses, event by event, which strategy asks.

No strategy wins on every stream: uncertainty sampling asks where the model hesitates
and so never where it is sure and wrong (a concept that changed where the model was
confident, a class it has not met), where random sampling does. Hsu and Lin (2015) let a
multi-armed bandit (EXP4.P) learn which of several strategies to follow from an unbiased
estimate of how well their questions do; with random sampling among the arms the mixture
cannot fall far below it. This is that idea on a stream.

**Advice and the draw.** On every event the budget gate lets through, each arm advises:
``q_k = 1`` if it would ask, else 0 (the ``random`` arm always would: it asks whatever
event its turn falls on). The bandit draws one arm with probabilities ``pi`` and asks if
that arm said so, so the event is asked with probability ``P = sum_k pi_k q_k``. Every
event the gate lets through has ``P >= pi_random > 0``: weighted by ``1 / P`` the labels
stand for the whole stream (Horvitz-Thompson), which is what makes the estimates below,
and a model learning with importance weights, unbiased. The question's reason is the
drawn arm's (``random`` for the random arm: an unbiased sample of the stream).

**Reward.** When a label comes back the bandit learns whether the model's prediction
when the item was asked was a mistake. For each arm it keeps, over the last ``memory``
labels, the importance-weighted rate of mistakes among the events that arm would ask,
``sum q_k m / P  /  sum q_k / P``: how often that arm's questions correct the model,
estimated from *every* label (each arm is judged on the events it would have asked,
whoever asked them). A label teaches most where the model is wrong; an arm whose
questions land where the model is already right is wasting them. (ALBL's own reward,
the importance-weighted accuracy of the model retrained after each query, needs the
model re-scored on every past label after every label, and on a few hundred labels the
difference it measures between arms is below its noise.)

**Weights.** ``pi_k = floor + (1 - K floor) softmax(rate_k / temperature)``: every arm
keeps at least ``floor`` of the draws (random sampling at least that share, whatever
happens), the rest goes to the arms whose questions find more mistakes. Before any
label, the arms share the draws equally.

References
----------
Hsu, W.-N., Lin, H.-T. (2015). Active Learning by Learning. AAAI 2015.

Beygelzimer, A., Langford, J., Li, L., Reyzin, L., Schapire, R. (2011). Contextual
Bandit Algorithms with Supervised Learning Guarantees (EXP4.P). AISTATS 2011.

Examples
--------
Variable uncertainty and random sampling; the model is wrong on 40% of the uncertain
events and 10% of the others, so the bandit leans towards variable uncertainty:

>>> import random
>>> rng = random.Random(0)
>>> bandit = StrategyBandit(seed=0)
>>> for _ in range(4_000):
...     confidence = rng.random()
...     asked, reason = bandit.ask(confidence, target=0.1)
...     if asked:
...         wrong = rng.random() < (0.4 if confidence < 0.5 else 0.1)
...         bandit.answered(bandit.question(), correct=not wrong)
>>> [round(p, 2) for p in bandit.shares]
[0.84, 0.16]

"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from stream_al.core.strategies.base import QUERY_RANDOM, SKIP_NOT_SAMPLED, QueryStrategy
from stream_al.core.types import ClassLabel

__all__ = ["StrategyBandit"]

RANDOM_ARM = "random"


class StrategyBandit(QueryStrategy):
    """Active learning by learning: a bandit over strategies, random always among them.

    Parameters
    ----------
    arms
        Strategy names (``stream-al strategies``); ``random`` is the arm that asks any
        event its turn falls on.
    floor
        The least share of the draws each arm keeps.
    temperature
        How sharply a higher mistake rate wins draws (a difference of ``temperature``
        multiplies an arm's weight by e).
    memory
        Labels after which an answer's weight in the mistake rates has fallen to ``1/e``.
    seed
        Seeds the draws (and the arms that draw random numbers).

    """

    name: ClassVar[str] = "bandit"
    learns_from_answers: ClassVar[bool] = True

    def __init__(
        self,
        arms: Sequence[str] = ("variable-uncertainty", RANDOM_ARM),
        floor: float = 0.1,
        temperature: float = 0.05,
        memory: int = 300,
        seed: int | None = None,
    ):
        from stream_al.core.strategies import make_strategy  # the registry holds this class

        arms = tuple(arms)
        if len(arms) < 2 or len(set(arms)) != len(arms) or self.name in arms:
            raise ValueError(f"a bandit needs two or more other strategies, got {arms!r}")
        if not 0.0 <= float(floor) <= 1.0 / len(arms):
            raise ValueError(f"bandit floor must be in [0, 1/{len(arms)}], got {floor!r}")
        if not float(temperature) > 0.0:
            raise ValueError(f"bandit temperature must be > 0, got {temperature!r}")
        if int(memory) < 1:
            raise ValueError(f"bandit memory must be at least 1 label, got {memory!r}")
        self.arms = arms
        self.floor = float(floor)
        self.temperature = float(temperature)
        self.memory = int(memory)
        self.seed = seed
        self._rng = random.Random(seed)
        self._strategies: list[QueryStrategy | None] = [
            None if name == RANDOM_ARM else make_strategy(name, seed=seed) for name in arms
        ]
        self._decay = 1.0 - 1.0 / self.memory
        self._mistakes = [0.0] * len(arms)  # decayed sums of q m / P
        self._weights = [0.0] * len(arms)  # decayed sums of q / P
        self._shares = [1.0 / len(arms)] * len(arms)
        self._advice: tuple[int, ...] = ()
        self._probability = 1.0

    @property
    def shares(self) -> list[float]:
        """Each arm's probability of being drawn now (``pi``)."""
        return list(self._shares)

    @property
    def probability(self) -> float:
        return self._probability

    @property
    def threshold(self) -> float | None:
        for strategy in self._strategies:
            if strategy is not None and strategy.threshold is not None:
                return strategy.threshold
        return None

    def observe(self, confidence: float) -> None:
        for strategy in self._strategies:
            if strategy is not None:
                strategy.observe(confidence)

    def ask(
        self, confidence: float, target: float, predicted: ClassLabel | None = None
    ) -> tuple[bool, str]:
        advice: list[int] = []
        reasons: list[str] = []
        for strategy in self._strategies:
            if strategy is None:
                advice.append(1)
                reasons.append(QUERY_RANDOM)
            else:
                asked, reason = strategy.ask(confidence, target, predicted)
                advice.append(1 if asked else 0)
                reasons.append(reason)
        shares = self._shares
        self._advice = tuple(advice)
        self._probability = sum(s for s, q in zip(shares, advice, strict=True) if q)
        drawn = self._draw(shares)
        if advice[drawn]:
            return True, reasons[drawn]
        # Not asked: the drawn arm's reason (a skipped random turn cannot happen).
        return False, reasons[drawn] if self._strategies[drawn] is not None else SKIP_NOT_SAMPLED

    def _draw(self, shares: Sequence[float]) -> int:
        u = self._rng.random()
        for k, share in enumerate(shares):
            u -= share
            if u < 0.0:
                return k
        return len(shares) - 1

    def question(self) -> Any:
        return self._advice, self._probability

    def answered(self, question: Any, correct: bool) -> None:
        advice, probability = question
        if len(advice) != len(self.arms) or probability <= 0.0:
            return
        decay, weight = self._decay, 1.0 / probability
        mistake = 0.0 if correct else weight
        for k, q in enumerate(advice):
            self._mistakes[k] *= decay
            self._weights[k] *= decay
            if q:
                self._mistakes[k] += mistake
                self._weights[k] += weight
        self._update_shares()

    def _update_shares(self) -> None:
        pairs = zip(self._mistakes, self._weights, strict=True)
        rates = [m / w if w > 0.0 else None for m, w in pairs]
        known = [r for r in rates if r is not None]
        if not known:
            return
        # An arm no label has judged yet counts as the average of those judged.
        mean = sum(known) / len(known)
        scores = [(mean if r is None else r) / self.temperature for r in rates]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        free = 1.0 - self.floor * len(exps)
        self._shares = [self.floor + free * e / total for e in exps]

    def __repr__(self) -> str:
        shares = ", ".join(f"{a}={s:.2f}" for a, s in zip(self.arms, self._shares, strict=True))
        return f"StrategyBandit({shares})"
