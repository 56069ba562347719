"""A stopping rule: stop buying labels that no longer improve the model.

Only labels asked at random (the random slice of ``split``, or ``random``) estimate the
model's accuracy without bias: uncertainty-picked labels are the hard cases by design.
The rule keeps the accuracy over the last ``window`` random-slice labels and its best
value so far; once ``after`` labels (of any kind) have gone by without that accuracy
beating its best by ``min_gain``, it stops. While stopped, only random-slice queries go
on (so a drift can still show), and a drift, labeled or label-free, resumes asking.

Examples
--------
>>> rule = StoppingRule(after=50, window=20)
>>> for i in range(200):
...     rule.observe(correct=i % 4 != 0, random_slice=True)  # 75% accuracy, flat
>>> rule.stopped, rule.stops
(True, 1)
>>> rule.resume()
>>> rule.stopped
False

"""

from __future__ import annotations

from collections import deque

__all__ = ["StoppingRule"]


class StoppingRule:
    """Stop when random-slice accuracy has not improved for ``after`` labels.

    Parameters
    ----------
    after
        Labels without improvement before asking stops.
    window
        Random-slice labels the accuracy estimate is taken over.
    min_gain
        How much better than its best the accuracy must get to count as an improvement.

    """

    def __init__(self, after: int, window: int = 100, min_gain: float = 0.0):
        if after < 1:
            raise ValueError(f"the stopping rule needs after >= 1 labels, got {after}")
        if window < 1:
            raise ValueError(f"the stopping rule needs a window of >= 1 labels, got {window}")
        self.after = after
        self.min_gain = min_gain
        self._recent: deque[bool] = deque(maxlen=window)
        self._best = -1.0
        self._since_best = 0
        self.stopped = False
        self.stops = 0

    def observe(self, correct: bool, random_slice: bool) -> None:
        """One learned label: whether the prediction made when it was asked was right."""
        if self.stopped:
            if random_slice:
                self._recent.append(correct)
            return
        self._since_best += 1
        if random_slice:
            self._recent.append(correct)
            if len(self._recent) == self._recent.maxlen:
                accuracy = sum(self._recent) / len(self._recent)
                if accuracy > self._best + self.min_gain:
                    self._best, self._since_best = accuracy, 0
        if self._since_best >= self.after and self._best >= 0:
            self.stopped = True
            self.stops += 1

    def resume(self) -> None:
        """Ask again (a drift): the best accuracy so far no longer says anything."""
        self.stopped = False
        self._best = -1.0
        self._since_best = 0
        self._recent.clear()

    @property
    def accuracy(self) -> float | None:
        """Accuracy over the recent random-slice labels, None before any."""
        return sum(self._recent) / len(self._recent) if self._recent else None
