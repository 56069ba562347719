"""The commands: each reads its arguments, calls the package that does the work and
prints what it did (through :mod:`stream_al.cli.report`).

A wrong input is a :class:`~stream_al.errors.ConfigurationError` (exit code 2, one line).
"""
