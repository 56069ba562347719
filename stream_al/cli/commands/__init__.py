"""The commands: each reads its arguments, calls the package that does the work and
prints what it did (through :mod:`stream_al.cli.report`).

A wrong input is a :class:`~stream_al.errors.ConfigurationError` (exit code 2, one line).
"""

from __future__ import annotations

from stream_al.errors import BrokerUnavailable, ConfigurationError


def kafka_not_there(exc: BrokerUnavailable, elsewhere: str) -> ConfigurationError:
    """No broker answers where a command sends: said at once as a wrong setting (exit 2),
    naming the setting and ``elsewhere`` the address may come from."""
    return ConfigurationError(
        f"{exc}: is Kafka running there? The address is STREAM_AL_KAFKA__BOOTSTRAP_SERVERS"
        f"{elsewhere}"
    )
