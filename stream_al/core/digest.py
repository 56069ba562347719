"""A digest of an object's state that is the same in every process.

``pickle`` bytes are not: a ``set`` of strings pickles in hash order, string hashes are
salted per process, and a dict filled by iterating a set inherits that order. Two replicas
(or a run and its recovery after a crash) holding the same model would get different
pickles. :func:`state_digest` walks the object instead: dicts and sets sorted by key,
objects by class name and attributes, floats exactly, random generators left out (see
below), everything else by its pickle.

Examples
--------
>>> state_digest({"b": {1, 2}, "a": [0.5]}) == state_digest({"b": {2, 1}, "a": [0.5]})
True
>>> state_digest([1.0]) == state_digest([1.0000001])
False

"""

from __future__ import annotations

import hashlib
import pickle
import random
from collections import deque
from typing import Any

__all__ = ["state_digest"]


def _feed(obj: Any, h: Any, seen: set[int]) -> None:
    if obj is None or isinstance(obj, bool | int | str | bytes):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
        return
    if isinstance(obj, float):
        h.update(f"f:{obj.hex()};".encode())
        return
    if id(obj) in seen:
        h.update(b"<cycle>;")
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        h.update(f"dict{len(obj)}(".encode())
        # Sorted: equal dicts are equal whatever their insertion order, which may come
        # from iterating a set (salted hash order) inside the model.
        for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0])):
            _feed(k, h, seen)
            _feed(v, h, seen)
        h.update(b")")
    elif isinstance(obj, list | tuple | deque):
        h.update(f"{type(obj).__name__}{len(obj)}(".encode())
        for item in obj:
            _feed(item, h, seen)
        h.update(b")")
    elif isinstance(obj, set | frozenset):
        h.update(f"set{len(obj)}(".encode())
        for item in sorted(obj, key=repr):
            _feed(item, h, seen)
        h.update(b")")
    elif isinstance(obj, random.Random):
        # Left out: River's Gaussian keeps an unseeded generator (seeded from the OS, so
        # different in every process) that prediction and learning never draw from.
        h.update(b"<rng>;")
    elif callable(obj) and not hasattr(obj, "__dict__"):
        h.update(f"fn:{getattr(obj, '__qualname__', type(obj).__name__)};".encode())
    elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        state = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                state[name] = getattr(obj, name)
        for k in sorted(state):
            h.update(k.encode() + b"=")
            _feed(state[k], h, seen)
        h.update(b")")
    else:
        h.update(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    seen.discard(id(obj))


def state_digest(obj: Any) -> str:
    """Hex SHA-256 of ``obj``'s state, independent of the process (see the module doc)."""
    h = hashlib.sha256()
    _feed(obj, h, set())
    return h.hexdigest()
