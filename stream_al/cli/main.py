"""``stream-al``: the command line's entry point.

Exit codes: 0 success, 2 bad usage or configuration (a
:class:`~stream_al.errors.ConfigurationError`, with a one-line message that says what to
fix), 1 a failure while running, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

from stream_al.cli.parser import build_parser, config_file
from stream_al.cli.report import PROG
from stream_al.config import load_settings
from stream_al.errors import ConfigurationError
from stream_al.runtime.logging import library_logging

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default: the process's arguments); its exit code."""
    try:
        return _main(argv)
    finally:
        _drop_what_cannot_be_written()


def _drop_what_cannot_be_written() -> None:
    """A reader of stdout or stderr gone (`stream-al serve 2>&1 | head`, a log shipper
    killed, a full disk under the log file) leaves there what could not be written, and
    Python's own flush at exit failed on it and made the exit code 120: a serve that had
    stopped cleanly, every offset committed, said it failed. What cannot be written now is
    dropped: the stream goes to /dev/null."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            with contextlib.suppress(OSError, ValueError):  # no descriptor (a test's capture)
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # needs no settings (a bad one must not hide it)
        from stream_al import __version__  # read from the package's metadata: when asked

        print(f"{PROG} {__version__}")
        return 0
    try:
        settings = load_settings(config_file(argv))
    except ValueError as exc:  # names the bad setting
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(settings).parse_args(argv)
    library_logging(getattr(args, "verbose", False))
    try:
        return int(args.func(args, settings))
    except ConfigurationError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not a failure; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        print(f"{PROG} {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
