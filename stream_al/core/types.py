"""Type aliases shared by the core.

``Features`` is a plain dict because River's models take (and mutate nothing in) dicts
whose keys may be any hashable; the service's events always use string names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ClassLabel", "Example", "Features", "Proba"]

Features = dict[Any, Any]
ClassLabel = bool | str | int  # River's ClfTarget
Proba = dict[ClassLabel, float]
Example = tuple[Features, ClassLabel]
