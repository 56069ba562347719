"""What the Redis store does when Redis is not what it expects (docs/design.md, "Delivery
and state"): a server that lost its data, credentials it refuses, entries it cannot read.

- A reply that names a missing consumer group (``NOGROUP``) means Redis lost its data
  (restarted without persistence, or flushed): :func:`recreating_groups` makes the store
  recreate its groups and raise :class:`~stream_al.errors.StoreReset`, which serve
  survives (it restarts its learner from the newest checkpoint it finds) and a worker
  waits out like an outage.
- Refused credentials are not an outage: :func:`credentials_refused` turns them into a
  :class:`~stream_al.errors.ConfigurationError` naming the setting (exit 2).
- A label-stream entry that is not a UTF-8 ``label`` field is read as
  :class:`~stream_al.io.base.Unreadable` (:func:`label_entry`), for a dead letter.

Examples
--------
>>> label_entry({b"label": b'{"id": "a"}'})
'{"id": "a"}'
>>> label_entry({b"label": b"\\xff"}).reason.startswith("label is not UTF-8 text")
True
>>> print(label_entry({b"answer": b"cat"}).reason)
label-stream entry has no 'label' field (fields: 'answer')

"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import redis

from stream_al.errors import ConfigurationError, StoreReset
from stream_al.io.base import Unreadable

__all__ = ["credentials_refused", "label_entry", "lenient", "recreating_groups"]

C = TypeVar("C", bound=type)


class _Groups(Protocol):
    def ensure_groups(self) -> None: ...


def lenient(value: bytes) -> str:
    """Bytes as text, whatever they hold (undecodable bytes as ``\\xNN``)."""
    return value.decode("utf-8", errors="backslashreplace")


def label_entry(fields: dict[bytes, bytes] | None) -> str | Unreadable:
    """A label-stream entry's ``label`` field as text, or why it cannot be read."""
    if fields is None:
        return Unreadable("label-stream entry deleted before serve read it", "")
    raw = fields.get(b"label")
    if raw is None:
        names = ", ".join(repr(lenient(k)) for k in fields) or "none"
        shown = {lenient(k): lenient(v) for k, v in fields.items()}
        return Unreadable(f"label-stream entry has no 'label' field (fields: {names})", str(shown))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable(f"label is not UTF-8 text: {exc}", lenient(raw))


def credentials_refused(message: str) -> ConfigurationError:
    """Redis refused the password (or the user's permissions): a setting to fix."""
    return ConfigurationError(
        f"{message}: Redis refused the credentials; check STREAM_AL_REDIS__PASSWORD (and a "
        "user name in STREAM_AL_REDIS__URL)"
    )


def recreating_groups(cls: C) -> C:
    """A class decorator for the Redis store: where a public method meets a missing
    consumer group (``NOGROUP``), the store's groups are recreated and
    :class:`~stream_al.errors.StoreReset` is raised."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: _Groups, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_groups()
                raise StoreReset(
                    f"redis answered without stream-al's consumer groups ({exc}): it lost "
                    "its data; the groups are recreated"
                ) from exc

        return call

    for name, attr in list(vars(cls).items()):
        if callable(attr) and not name.startswith("_"):
            setattr(cls, name, wrap(attr))
    return cls
