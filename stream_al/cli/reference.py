"""Reference tables generated from the code: every setting and every metric.

``stream-al settings`` and ``stream-al metrics`` print them as Markdown; the README
carries the same tables and a test checks that it still does, so the documentation cannot
drift from the code.

Examples
--------
>>> rows = settings_rows()
>>> ("STREAM_AL_LEARNER__BUDGET", "0.1") in [(name, default) for name, default, _ in rows]
True
>>> "stream_al_events_total" in [name for name, _, _ in metric_rows()]
True

"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from stream_al.config import Settings, variable_name
from stream_al.runtime.metrics import Metrics

__all__ = ["markdown_table", "metric_rows", "settings_rows"]

# Defaults that depend on the machine are shown by what they are, not by their value here.
_DYNAMIC_DEFAULTS = {
    "STREAM_AL_SERVICE__REPLICA_ID": "host name",
    "STREAM_AL_WORKER__NAME": "worker-HOST-PID",
}


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return ""
    value = field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple | dict):  # as the variable takes it: JSON
        return json.dumps(value)
    return str(value)


def _walk(model: type[BaseModel], loc: tuple[str, ...], rows: list[tuple[str, str, str]]) -> None:
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _walk(annotation, (*loc, name), rows)
            continue
        env = variable_name((*loc, name))
        default = _DYNAMIC_DEFAULTS.get(env, _default(field))
        rows.append((env, default, field.description or ""))


def settings_rows() -> list[tuple[str, str, str]]:
    """``(environment variable, default, meaning)`` for every setting."""
    rows: list[tuple[str, str, str]] = []
    _walk(Settings, (), rows)
    return rows


def metric_rows() -> list[tuple[str, str, str]]:
    """``(name, type, meaning)`` for every metric the service exports."""
    rows = []
    for metric in Metrics.create().collectors():
        kind = metric._type  # prometheus_client keeps these private but stable
        name = metric._name + ("_total" if kind == "counter" else "")
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        meaning = metric._documentation + (f" Labels: {labels}." if labels else "")
        rows.append((name, kind, meaning))
    return rows


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, str, str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"`{row[0]}`", f"`{row[1]}`" if row[1] else "", row[2]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
