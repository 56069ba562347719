"""Log set-up of the long-running commands, and what may be logged of a URL.

>>> redacted_url("redis://:hunter2@r:6379/0")
'redis://:***@r:6379/0'

"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LIBRARY_LOGGERS", "configure_logging", "library_logging", "redacted_url"]

LIBRARY_LOGGERS = ("kafka",)
"""Client libraries whose own log is chatter to a user: kafka-python logs about a hundred
lines in 12 s while a broker is away, and about thirty at a normal start (a consumer
group's join: "Failed to join group", "MemberIdRequiredError") that read like errors.
stream-al says what went wrong itself (waiting for Kafka, with its address)."""


def configure_logging(quiet: bool = False) -> None:
    """INFO (WARNING when ``quiet``) to stderr, one line per record with its time."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def library_logging(verbose: bool = False) -> None:
    """Show the client libraries' own log (INFO and up) only when ``verbose``."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
