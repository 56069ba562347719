"""Log set-up of the long-running commands, and what may be logged of a URL.

>>> redacted_url("redis://:hunter2@r:6379/0")
'redis://:***@r:6379/0'

"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "LIBRARY_LOGGERS",
    "OneLineFormatter",
    "configure_logging",
    "library_logging",
    "printable",
    "redacted_url",
]

LIBRARY_LOGGERS = ("kafka", "librdkafka")
"""Client libraries whose own log is chatter to a user: kafka-python logs about a hundred
lines in 12 s while a broker is away, and about thirty at a normal start (a consumer
group's join: "Failed to join group", "MemberIdRequiredError") that read like errors.
stream-al says what went wrong itself (waiting for Kafka, with its address)."""


def printable(text: str) -> str:
    """``text`` with every character a terminal or a log reader would act on (newlines,
    carriage returns, escapes, tabs, bidirectional overrides) written as its escape.

    >>> print(printable("ok\\nFAKE 00:00 ERROR\\x1b[2J\\u202e"))
    ok\\nFAKE 00:00 ERROR\\x1b[2J\\u202e

    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineFormatter(logging.Formatter):
    """A record's message on one line, whatever text it quotes (an event's, a queue
    entry's): a newline in it would forge a log line. A traceback keeps its lines.

    >>> record = logging.LogRecord("x", logging.WARNING, "", 0, "bad %s", ("a\\nb",), None)
    >>> OneLineFormatter("%(levelname)s %(message)s").format(record)
    'WARNING bad a\\\\nb'

    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


def configure_logging(quiet: bool = False) -> None:
    """INFO (WARNING when ``quiet``) to stderr, one line per record with its time."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=[handler])


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
