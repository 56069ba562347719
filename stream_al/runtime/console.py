"""Terminal output: progress lines for long runs and plain-text tables.

Progress goes to standard error (so standard output stays clean for results): on a
terminal one line rewritten in place, elsewhere (CI logs, pipes) a line every few seconds.

Examples
--------
>>> print(table(["", "accuracy"], [["split", "77.1%"], ["random", "75.9%"]]))
        accuracy
split      77.1%
random     75.9%

"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Progress", "percent", "table"]


class Progress:
    """Reports progress on ``stream`` at most every ``interval`` seconds.

    Parameters
    ----------
    stream
        Where progress goes (default standard error).
    interval
        Seconds between two updates at the least; 5 at the least off a terminal.
    enabled
        ``False`` reports nothing (``--quiet``).

    """

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.5, enabled: bool = True
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else max(interval, 5.0)
        self._last = 0.0
        self._shown = False

    def update(self, message: str, force: bool = False) -> None:
        """Show ``message``, unless one was shown less than ``interval`` ago and not ``force``.

        On a terminal the message replaces the previous one on its line.
        """
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\033[K" + message)
        else:
            self.stream.write(message + "\n")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the progress line (on a terminal), so results start on a clean line."""
        if self.enabled and self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def percent(value: float, digits: int = 1) -> str:
    """``0.771`` as ``77.1%``."""
    return f"{100.0 * value:.{digits}f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
