"""The classes a person may answer during a labeling session, each with one number key.

Slips become training data, so the ways of labeling by hand (the terminal, the web page,
the Label Studio bridge) share three rules (docs/design.md, "Labeling"):

- **One key per class for the whole session.** A class gets its number when it is first
  seen (the classes of the first item sorted, each later one after them), never by
  probability: key 1 is the same class on every item.
- **A new class needs a confirmation.** A label the model has never seen (not among the
  classes of an item's probabilities, nor confirmed earlier in the session) is a typo
  until the labeler confirms it; then it gets the next key.
- **A fixed class list closes the set** (``STREAM_AL_WORKER__CLASSES``): the keys follow
  its order from the start, and any other label is refused.

Examples
--------
>>> classes = SessionClasses()
>>> classes.observe({"proba": {"1": 0.8, "0": 0.2}})
>>> classes.keys()
[(1, '0'), (2, '1')]
>>> classes.check("yes")
"'yes' is a class the model has never seen (it knows 0, 1): confirm it to add it"
>>> classes.add("yes")
>>> classes.observe({"proba": {"0": 0.5, "1": 0.1, "yes": 0.4}})  # keys do not move
>>> classes.keys()
[(1, '0'), (2, '1'), (3, 'yes')]
>>> closed = SessionClasses(fixed=["cat", "dog"])
>>> closed.check("cta"), closed.check("dog")
("'cta' is not one of the classes: cat, dog (STREAM_AL_WORKER__CLASSES)", None)

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["CLASSES_SETTING", "SessionClasses"]

CLASSES_SETTING = "STREAM_AL_WORKER__CLASSES"


class SessionClasses:
    """The classes of one labeling session, in key order (see the module docstring).

    Parameters
    ----------
    fixed
        The only classes a labeler may answer, in key order; None: the model's classes,
        and new ones after a confirmation.

    """

    def __init__(self, fixed: Sequence[str] | None = None) -> None:
        self.fixed = tuple(str(c) for c in fixed) if fixed else None
        self._order: list[str] = list(self.fixed or ())

    @property
    def closed(self) -> bool:
        """Whether the set is fixed (no new class can be added)."""
        return self.fixed is not None

    def observe(self, item: dict[str, Any]) -> None:
        """Learn the classes an item's probabilities and prediction name (the model's)."""
        if self.closed:
            return
        seen = {str(c) for c in (item.get("proba") or {})}
        if item.get("prediction") is not None:
            seen.add(str(item["prediction"]))
        self._order += sorted(seen - set(self._order))

    def add(self, label: Any) -> None:
        """A confirmed new class: it takes the next key."""
        text = str(label)
        if text not in self._order and not self.closed:
            self._order.append(text)

    def known(self, label: Any) -> bool:
        return str(label) in self._order

    def check(self, label: Any) -> str | None:
        """None when ``label`` may be written as it is; else why not (to show the labeler):
        a class outside the fixed list, or a new class that needs a confirmation."""
        text = str(label)
        if text in self._order:
            return None
        if self.closed:
            return (
                f"{text!r} is not one of the classes: {', '.join(self._order)} ({CLASSES_SETTING})"
            )
        knows = f"it knows {', '.join(self._order)}" if self._order else "it knows no class yet"
        return f"{text!r} is a class the model has never seen ({knows}): confirm it to add it"

    def keys(self) -> list[tuple[int, str]]:
        """``(number key, class)`` for every class of the session, in key order."""
        return list(enumerate(self._order, 1))

    @property
    def names(self) -> list[str]:
        return list(self._order)
