"""What a learner has learned each feature to be (a number or text), and its labels.

River's models take numbers and text side by side, but not for the same feature: a tree
that splits on ``salary <= 50000`` cannot compare the text ``"abc"`` with it, and a
naive-Bayes leaf squares a number's distance to a mean (``1e308`` squared overflows, a
400-digit integer does not even convert to a float). So the learner holds each feature to
the kind of the first value it *learned* for it (numbers and booleans are numbers, strings
are text) and refuses, with a reason that names the feature, an event or an example that
gives it the other kind. The kinds come from the train log alone, so every replica refuses
the same examples.

Labels likewise keep the kind of the first one learned: text, an integer or a boolean.
River's models sort their classes, so one label ``1`` learned among ``"yes"`` and ``"no"``
would leave a model that can predict nothing again, and ``true`` among ``0`` and ``1`` is
the class ``1`` to Python. A label of another kind is refused with its reason, before
anything learns it.

The names themselves are bounded: a model learns at most ``cap`` of them
(:data:`MAX_MODEL_FEATURES` by default), the first the learned examples give; names beyond
are left out of examples and, once the cap is reached, of events (see
:class:`FeatureKinds`). A name that changes per event (an id in a key) otherwise grows
every leaf, scaler and checkpoint without end.

Numbers must also be finite and at most :data:`MAX_MAGNITUDE` in size: the message
contract refuses larger ones at intake (``stream_al.schemas``), and :meth:`check_example`
refuses them in examples that did not come through it (an older train log, a pool file).

Examples
--------
>>> kinds = FeatureKinds()
>>> _ = kinds.learn({"salary": 52_000, "city": "Oslo"})
>>> kinds.check({"salary": 61_000.5, "city": "Rome", "new": "anything"})  # no complaint
>>> def refusal(check, x):
...     try:
...         check(x)
...     except InvalidExample as exc:
...         return str(exc)
>>> refusal(kinds.check, {"salary": "abc", "city": "Rome"})
"feature 'salary' is text ('abc'), but the model has learned it as a number"
>>> refusal(kinds.check_example, {"salary": 10**400, "city": "Rome"})
"feature 'salary' is a number beyond 1e+100 in size (an integer of 401 digits)"
>>> kinds.learn_label("yes")
>>> kinds.check_label("no")  # no complaint
>>> refusal(kinds.check_label, 1)
'label 1 is an integer, but the model has learned its classes as text: send every label as text'

"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from stream_al.core.types import Features

__all__ = [
    "MAX_CLASSES",
    "MAX_LABEL_BYTES",
    "MAX_LABEL_CHARS",
    "MAX_MAGNITUDE",
    "MAX_MODEL_FEATURES",
    "FeatureKinds",
    "IdLikeText",
    "InvalidExample",
    "InvalidFeatures",
    "InvalidLabel",
    "label_problem",
    "label_size_problem",
    "number_problem",
]

MAX_MAGNITUDE = 1e100
"""The largest size of a numeric feature: squares and sums of squares of such numbers
(naive Bayes, Welford's variance, a scaler) stay far inside a float's range."""


class InvalidExample(ValueError):
    """An event, example or label the model cannot take; the message says what to fix."""


class InvalidFeatures(InvalidExample):
    """An event or example the model cannot take; the message names the feature."""


class InvalidLabel(InvalidExample):
    """A label the model cannot learn: not text, an integer or a boolean, or of another
    kind than the labels learned."""


# The kinds a label may have, by its exact type (bool is a subclass of int in Python).
_LABEL_KINDS = {str: "text", int: "an integer", bool: "a boolean"}


MAX_LABEL_CHARS = 256
"""The longest label text. Every prediction carries every class's probability: one label
of 100 kB would make every later prediction as large, and a few such labels more than a
Kafka message may be (1 MB by default), so that no prediction could be delivered."""

MAX_LABEL_BYTES = 512
"""The most bytes a label's text takes in a prediction's JSON (UTF-8, control characters
escaped): 256 characters of a script UTF-8 writes in 3 or 4 bytes, or escaped, would
make :data:`MAX_CLASSES` classes' names alone 1 to 1.5 MB; with 512, a prediction naming
every class stays under about 550 kB."""


MAX_CLASSES = 1_000
"""The most classes a model learns. Each is named in every prediction, and a label column
that is really an id (``--target id``) makes a class of every label: predictions grew by
each, and with the model slowed down until no prediction fit in a Kafka message."""


MAX_MODEL_FEATURES = 10_000
"""The default cap on the distinct feature names a model learns. Every tree leaf keeps a
splitter per name, a pipeline's scaler and a linear model a weight: a name that changes per
event (``{"user_8812": 1}``) grew the model, each event's time and the checkpoint without
end (measured: 100,000 events at budget 0.1, 42.9 us per event against 16.4 and a
checkpoint 15 times as large). Far above any real schema; the setting
``STREAM_AL_LEARNER__MAX_MODEL_FEATURES`` raises it."""


def label_size_problem(y: Any) -> str | None:
    """Why ``y`` is too large to name a class (None: it is not).

    >>> label_size_problem("yes"), label_size_problem(2**63)
    (None, 'an integer label is a signed 64-bit integer (-2**63 to 2**63 - 1), got one of 64 bits')
    >>> cjk = "\N{CJK UNIFIED IDEOGRAPH-732B}" * 200  # 3 bytes each in UTF-8
    >>> print(label_size_problem(cjk))  # doctest: +NORMALIZE_WHITESPACE
    a label is a class name of at most 512 bytes in JSON (UTF-8, control characters
    escaped), got 600 in 200 characters

    """
    if type(y) is str:
        if len(y) > MAX_LABEL_CHARS:
            return f"a label is a class name of at most {MAX_LABEL_CHARS} characters, got {len(y)}"
        # A character takes at most 6 bytes in JSON (an escaped control character).
        if 6 * len(y) > MAX_LABEL_BYTES:
            size = len(json.dumps(y, ensure_ascii=False).encode("utf-8", "replace")) - 2
            if size > MAX_LABEL_BYTES:
                return (
                    f"a label is a class name of at most {MAX_LABEL_BYTES} bytes in JSON "
                    f"(UTF-8, control characters escaped), got {size} in {len(y)} characters"
                )
    if type(y) is int and not -(2**63) <= y < 2**63:
        return (
            "an integer label is a signed 64-bit integer (-2**63 to 2**63 - 1), "
            f"got one of {y.bit_length()} bits"
        )
    return None


def label_problem(y: Any) -> str | None:
    """Why ``y`` cannot name a class (None: it can): not text, an integer or a boolean
    (a JSON number with a fraction, null, a list), or too large (:func:`label_size_problem`).

    >>> label_problem("yes"), label_problem(True)
    (None, None)
    >>> label_problem(1.5)
    'label 1.5 is float: a label is text, an integer or a boolean'
    >>> label_problem("")
    'an empty label names no class'

    """
    if type(y) not in _LABEL_KINDS:
        return f"label {y!r:.40} is {type(y).__name__}: a label is text, an integer or a boolean"
    if y == "":  # a blank cell read as text: a CSV's is "no label", the web page refuses it
        return "an empty label names no class"
    return label_size_problem(y)


def number_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a numeric feature (None: it can).

    >>> number_problem(1.5), number_problem(True), number_problem(float("nan"))
    (None, None, 'not a finite number (nan)')
    >>> number_problem(-2e150)
    'a number beyond 1e+100 in size (-2e+150)'

    """
    if type(value) is bool:
        return None
    if type(value) is int:
        if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return None
        digits = len(str(abs(value))) if abs(value) < 10**4000 else "thousands of"
        return f"a number beyond {MAX_MAGNITUDE:g} in size (an integer of {digits} digits)"
    if type(value) is float:
        if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return None
        if not math.isfinite(value):
            return f"not a finite number ({value})"
        return f"a number beyond {MAX_MAGNITUDE:g} in size ({value:g})"
    return f"neither a number nor text ({type(value).__name__})"


class FeatureKinds:
    """Per feature, whether the learned examples gave it numbers or text; at most ``cap``
    features.

    :meth:`check` runs for every event: for a model that learned no text and an event
    without text, one pass over the values' types (about 0.3 us for 9 features);
    :meth:`check_example` and :meth:`learn` run for labels only.

    Features are admitted in the order the learned examples first give them, until
    ``cap`` are known: :meth:`learn` returns an example without the names beyond the cap,
    and once it is reached (:attr:`full`), :meth:`known_only` takes them out of the events
    to predict. The admitted names come from the learned examples alone, so every replica
    and every replay admits the same ones; they are pickled with the kinds.

    >>> kinds = FeatureKinds(cap=2)
    >>> kinds.learn({"age": 41, "city": "Oslo", "user_8812": 1})
    {'age': 41, 'city': 'Oslo'}
    >>> kinds.full, kinds.known_only({"age": 35, "user_9034": 1})
    (True, {'age': 35})

    """

    __slots__ = ("cap", "classes", "full", "known", "label", "numeric", "text")

    def __init__(self, cap: int = MAX_MODEL_FEATURES) -> None:
        self.numeric: set[Any] = set()
        self.text: set[Any] = set()
        self.known: set[Any] = set()  # numeric | text: the names admitted
        self.cap = cap
        self.full = False  # as many names known as the cap: no more are admitted
        self.label: str | None = None  # the labels' kind (a value of _LABEL_KINDS)
        self.classes: set[Any] = set()  # at most MAX_CLASSES

    def __reduce__(self) -> tuple[Any, ...]:
        numeric, text = sorted(self.numeric, key=repr), sorted(self.text, key=repr)
        classes = sorted(self.classes, key=repr)
        return (_restore, (numeric, text, self.label, classes, self.cap))

    def check(self, x: Mapping[Any, Any]) -> None:
        """Raise :class:`InvalidFeatures` if a feature of ``x`` has the other kind than
        the one learned (features never learned may be anything)."""
        text = self.text
        if not text:  # the usual model: only text where it learned a number can clash
            for value in x.values():
                if type(value) is str:
                    break
            else:
                return  # no text at all: nothing to clash (one pass, no lookups)
        numeric = self.numeric
        for name, value in x.items():
            if type(value) is str:
                if name in numeric:
                    raise InvalidFeatures(_other_kind(name, value, "a number"))
            elif name in text:
                raise InvalidFeatures(_other_kind(name, value, "text"))

    def check_example(self, x: Any) -> None:
        """:meth:`check`, and that ``x`` maps names to numbers (finite, at most
        :data:`MAX_MAGNITUDE`) or text: what a train-log example must hold."""
        if not isinstance(x, Mapping) or not x:
            raise InvalidFeatures(f"features must be a non-empty object, not {x!r:.80}")
        for name, value in x.items():
            if type(value) is not str:
                problem = number_problem(value)
                if problem is not None:
                    raise InvalidFeatures(f"feature {name!r} is {problem}")
        self.check(x)

    def learn(self, x: Features) -> Features:
        """Remember the kind of the features ``x`` gives first, while fewer than ``cap``
        are known; returns ``x`` without the names beyond the cap (``x`` itself when it has
        none: the usual case costs one set operation)."""
        known = self.known
        if known.issuperset(x):
            return x
        room = self.cap - len(known)
        beyond: set[Any] = set()
        for name, value in x.items():  # in the example's order: every replica's
            if name in known:
                continue
            if room <= 0:
                beyond.add(name)
                continue
            known.add(name)
            (self.text if type(value) is str else self.numeric).add(name)
            room -= 1
        self.full = room <= 0
        if not beyond:
            return x
        return {name: value for name, value in x.items() if name not in beyond}

    def known_only(self, x: Features) -> Features:
        """``x`` without the names that were not admitted (``x`` itself when it has none).
        Names never learned change no prediction; once the cap is reached they are taken
        out all the same, so that no model state (a pipeline's scaler) grows with them."""
        known = self.known
        if known.issuperset(x):
            return x
        return {name: value for name, value in x.items() if name in known}

    def set_cap(self, cap: int) -> None:
        """Admit names up to ``cap`` from now on; names admitted already are kept (a model
        cannot unlearn them), so a lower cap only stops new ones."""
        self.cap = cap
        self.full = len(self.known) >= cap

    def check_label(self, y: Any) -> None:
        """Raise :class:`InvalidLabel` if ``y`` is not text, an integer or a boolean, empty
        or too large to name a class, or not of the kind of the labels learned."""
        problem = label_problem(y)
        if problem is not None:
            raise InvalidLabel(problem)
        kind = _LABEL_KINDS[type(y)]
        if self.label is not None and kind != self.label:
            raise InvalidLabel(
                f"label {y!r:.40} is {kind}, but the model has learned its classes as "
                f"{self.label}: send every label as {self.label}"
            )
        if len(self.classes) >= MAX_CLASSES and y not in self.classes:
            raise InvalidLabel(
                f"label {y!r:.40} would be class {len(self.classes) + 1:,}, beyond the "
                f"{MAX_CLASSES:,} a model learns: is the label column an id?"
            )

    def learn_label(self, y: Any) -> None:
        """Remember the kind of the first label learned, and the classes."""
        if self.label is None:
            self.label = _LABEL_KINDS.get(type(y))
        self.classes.add(y)


class IdLikeText:
    """Text features whose values do not repeat: an id among the features.

    A tree splits on such a feature (each value "explains" its one label perfectly) and
    then sends every new event, whose value it has never seen, down one path: measured, a
    row-number feature took the accuracy on an Agrawal stream from 87.4% to 71.6%. Each
    text feature is judged once, on the first ``after`` examples that have it: found when
    at least ``share`` of its values were distinct. At most ``tracked`` names are ever
    judged, so memory stays bounded whatever the stream sends.

    >>> ids = IdLikeText(after=3)
    >>> [ids.learn({"uid": f"u{i}", "colour": "red", "x": 1.0}) for i in range(4)]
    [[], [], ['uid'], []]

    """

    def __init__(self, after: int = 200, share: float = 0.95, tracked: int = 1_000) -> None:
        self.after, self.share, self.tracked = after, share, tracked
        # judged next: (examples, hashes of the values: a long text is not kept)
        self._values: dict[Any, tuple[int, set[int]]] = {}
        self._judged: set[Any] = set()

    def learn(self, x: Mapping[Any, Any]) -> list[Any]:
        """Count the text features of ``x``; returns those this example shows id-like."""
        found = []
        for name, value in x.items():
            if type(value) is not str or name in self._judged:
                continue
            seen = self._values.get(name)
            if seen is None:
                if len(self._values) + len(self._judged) >= self.tracked:
                    continue
                seen = (0, set())
            n, values = seen[0] + 1, seen[1]
            values.add(hash(value))
            if n < self.after:
                self._values[name] = (n, values)
                continue
            if len(values) >= self.share * n:
                found.append(name)
            self._judged.add(name)
            self._values.pop(name, None)
        return found


def _restore(
    numeric: list[Any],
    text: list[Any],
    label: str | None = None,
    classes: Iterable[Any] = (),
    cap: int = MAX_MODEL_FEATURES,
) -> FeatureKinds:
    # ``label`` is missing from kinds pickled before labels had a kind: the next label sets
    # it; ``classes`` from kinds pickled before they were counted: counted from now on;
    # ``cap`` from kinds pickled before there was one: the default (serve sets its own).
    kinds = FeatureKinds(cap)
    kinds.numeric, kinds.text, kinds.label = set(numeric), set(text), label
    kinds.known = kinds.numeric | kinds.text
    kinds.full = len(kinds.known) >= cap
    kinds.classes = set(classes)
    return kinds


def _other_kind(name: Any, value: Any, learned: str) -> str:
    given = f"text ({value!r:.40})" if type(value) is str else f"a number ({value!r:.40})"
    return f"feature {name!r} is {given}, but the model has learned it as {learned}"
