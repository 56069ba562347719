"""What every test process needs, unit and integration alike."""

from __future__ import annotations

import signal


def _hang_up(signum: int, frame: object) -> None:
    """Under nohup pytest outlives a closed terminal, as nohup meant."""


# Run under nohup (SIGHUP ignored), every process a test starts inherited the ignore, and
# the tests of how serve and the worker stop on SIGHUP met processes that could not: three
# failed. A handled signal is reset to its default in a child at exec, an ignored one is
# not: handled here, pytest still outlives a hang-up and its children start as a user's.
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, _hang_up)
