"""Log set-up of the long-running commands, and what may be logged of a URL.

>>> redacted_url("redis://:hunter2@r:6379/0")
'redis://:***@r:6379/0'

"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

__all__ = ["configure_logging", "redacted_url"]


def configure_logging(quiet: bool = False) -> None:
    """INFO (WARNING when ``quiet``) to stderr, one line per record with its time."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
