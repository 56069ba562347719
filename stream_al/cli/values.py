"""How the command line reads flag values.

Each function turns a flag's text into a value or raises
:class:`argparse.ArgumentTypeError` saying what is wrong; argparse prints that as
``argument --budget: ...`` on one line and exits with code 2.

Examples
--------
>>> budget("0.05"), factor("1.5"), at_least(1)("3"), strategy_param("k=1.5")
(0.05, 1.5, 3, ('k', 1.5))
>>> at_least(1)("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be at least 1, got 0
>>> non_negative("inf")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a finite number, got 'inf'

"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from stream_al.config.servers import topic_name
from stream_al.core.budget import validate_budget
from stream_al.core.strategies import StrategyParam

__all__ = [
    "at_least",
    "budget",
    "choice",
    "factor",
    "http_url",
    "kafka_topic",
    "non_negative",
    "output_path",
    "positive",
    "strategy_param",
]


def budget(text: str) -> float:
    """A label budget: a fraction of the events in (0, 1]."""
    try:
        return validate_budget(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be a fraction in (0, 1], e.g. 0.1 for 10% of events; got {text!r}"
        ) from None


def _finite(text: str, expected: str) -> float:
    """``text`` as a finite number (nan and inf are no setting's value)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def factor(text: str) -> float:
    """A multiplier >= 1 (1 changes nothing)."""
    value = _finite(text, "a number >= 1")
    if value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a factor >= 1 (1 = no boost), got {text!r}")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    value = _finite(text, "a number >= 0")
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _finite(text, "a number > 0")
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def http_url(text: str) -> str:
    """An http(s) URL with a host, e.g. serve's metrics endpoint."""
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.split("/")[0]:
        raise argparse.ArgumentTypeError(
            f"expected an http:// URL, e.g. http://127.0.0.1:9400/metrics, got {text!r}"
        )
    return text


def kafka_topic(text: str) -> str:
    """A name Kafka takes for a topic."""
    try:
        return topic_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_path(text: str) -> str:
    """A file to write: not a directory, under a directory that exists and is writable or
    can be made in one. Checked before the command works, not after.

    >>> output_path("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '/' is a directory: give a file path to write

    """
    path = Path(text)
    if not text or path.is_dir():
        what = "is a directory" if text else "is empty"
        raise argparse.ArgumentTypeError(f"{text!r} {what}: give a file path to write")
    existing = next(p for p in path.absolute().parents if p.exists())
    try:  # what the command will do there (os.access says yes to root everywhere)
        os.rmdir(tempfile.mkdtemp(dir=existing))
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot write {text!r}: {existing}: {exc.strerror or exc}"
        ) from None
    return text


def strategy_param(text: str) -> tuple[str, StrategyParam]:
    """``NAME=VALUE``: one parameter of the query strategy; the value a number, ``true`` or
    ``false``, or names separated by commas (a bandit's ``arms``).

    >>> strategy_param("stratified=true"), strategy_param("arms=random,split")
    (('stratified', True), ('arms', ['random', 'split']))

    """
    name, sep, value = (part.strip() for part in text.partition("="))
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE, e.g. k=1.5 or arms=random,split, got {text!r}"
        )
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        number = float(value)
    except ValueError:
        names = [n.strip() for n in value.split(",")]
        if not all(names):
            raise argparse.ArgumentTypeError(f"an empty name in {text!r}") from None
        return name, names
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {value!r}")
    return name, number


def at_least(minimum: int) -> Callable[[str], int]:
    """A reader of whole numbers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def choice(registry: Sequence[str], what: str) -> Callable[[str], str]:
    """A reader of one name of ``registry``; a wrong one is answered with the list.

    Unlike argparse's ``choices``, the help does not list the names (a registry can be
    long): ``stream-al models`` and ``stream-al strategies`` do.
    """

    def parse(text: str) -> str:
        if text not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; choose one of: {', '.join(registry)}"
            )
        return text

    return parse
