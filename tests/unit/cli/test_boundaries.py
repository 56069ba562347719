"""The command line is the top of the layers: nothing else in the package imports it."""

from __future__ import annotations

import ast
from pathlib import Path


def test_nothing_outside_the_cli_imports_it() -> None:
    package = Path(__file__).resolve().parents[3] / "stream_al"
    for path in package.rglob("*.py"):
        if path.is_relative_to(package / "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n.startswith("stream_al.cli") for n in names), path
