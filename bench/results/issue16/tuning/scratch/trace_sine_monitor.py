"""Sine-abrupt (labels flip at 3,750 and 11,250, the boundary moves at 7,500) at budget 0.05:
the drift monitor of today's default and of random sampling on the same learner, with labels
0 or 500 events late (session 50; a trace, nothing decided). Each time the monitor detects a
rise or cuts its window on a fall, and every 500 events: its window and its error estimate.
Run from the repository's root (seed, then delay; seed 44 shows the miss):

    .venv/bin/python bench/results/issue16/tuning/scratch/trace_sine_monitor.py 44 500
"""

from __future__ import annotations

import glob
import heapq
import sys

sys.path.insert(0, "bench")
import tune

from stream_al.evaluation.prequential import QUERY_RANDOM

seed, delay = int(sys.argv[1]), int(sys.argv[2])
data = tune._load(glob.glob(f"/root/.cache/stream-al/bench-streams/sine-abrupt-*-s{seed}.csv")[0])
for name in ("nb-first-d05", "nb-first-d05-random"):
    learner = tune.spec_of(tune.SETTINGS[name]).build(seed, budget=0.05)
    due: list = []  # the prequential loop of stream_al.evaluation.prequential, without jitter
    correct, last = 0, (0, 0)
    print(f"== {name}, seed {seed}, delay {delay}")
    for i, (x, y) in enumerate(data):
        while due and due[0][0] <= i:
            _, _, dx, dy, dp, dr = heapq.heappop(due)
            learner.learn(dx, dy, dp, dr)
        d = learner.decide(x)
        correct += d.prediction == y
        if d.queried:
            job = (i + delay, i, x, y, d.prediction, d.reason == QUERY_RANDOM)
            if delay:
                heapq.heappush(due, job)
            else:
                learner.learn(*job[2:])
        monitor = learner._monitor
        state = (monitor.detections, monitor.improvements)
        if state != last or (i + 1) % 500 == 0:
            what = "rise" if state[0] != last[0] else "fall" if state != last else ""
            print(
                f"{i + 1:>6} {what:<4} window {monitor.width:>3} labels, "
                f"error {monitor.error_rate:.2f}, served {learner.served_name}"
            )
            last = state
    print(f"accuracy {correct / len(data):.3f}, drifts {learner.n_drifts}")
