"""Shuttle (seed 0's file) at budget 0.02 without delay: today's budget against the spread loan
(patched in this process), accuracy per 1,000 events and the served tree's one leaf, whose
naive-Bayes-adaptive prediction follows whichever of majority class (MC) and naive Bayes (NB)
was right more often on the labels learned (session 49). Run from the repository's root:

    .venv/bin/python bench/results/issue16/tuning/scratch/trace_nba_leaf.py
"""

from __future__ import annotations

import glob
import math
import sys

sys.path.insert(0, "bench")
import tune

from stream_al.core import budget

today_init, today_allows = budget.EstimatedBudget.__init__, budget.EstimatedBudget.allows


def spread_init(self, *args, **kwargs):  # spread-loan.patch, events units
    today_init(self, *args, **kwargs)
    self._prior = 0.0


def spread_allows(self, cost=1.0):
    if (self._spent + self._prior) * self._decay + 0.5 > self._target * self.window:
        return False
    total = self._total + 1.0
    x = total / self.window
    loan = self.window * x * math.exp(1.0 - x)
    return self._boost_left > 0 or self._used <= self.budget * (total + loan)


data = tune._load(glob.glob("/root/.cache/stream-al/bench-streams/shuttle-*-s0.csv")[0])
for name, (init, allows) in {
    "today": (today_init, today_allows),
    "spread": (spread_init, spread_allows),
}.items():
    budget.EstimatedBudget.__init__, budget.EstimatedBudget.allows = init, allows
    learner = tune.spec_of(tune.SETTINGS["nb-first-d05"]).build(0, budget=0.02)
    correct = 0
    for i, (x, y) in enumerate(data):
        d = learner.decide(x)
        correct += d.prediction == y
        if d.queried:
            learner.learn(x, y, d.prediction, False)
        if (i + 1) % 1000 == 0:
            members = dict(zip(learner._candidates.names, learner._candidates.members, strict=True))
            leaf = members["hoeffding-tree-default"]._root
            print(
                f"{name} {i + 1:>6} served {learner.served_name}, accuracy {correct / 1000:.3f}, "
                f"leaves {members['hoeffding-tree-default'].n_leaves}, MC right "
                f"{leaf._mc_correct_weight:.0f}, NB right {leaf._nb_correct_weight:.0f}"
            )
            correct = 0
