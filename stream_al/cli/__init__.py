"""``stream-al``: the command line (a thin layer over the packages it wires)."""

from __future__ import annotations

from stream_al.cli.main import main

__all__ = ["main"]
