"""``stream-al select``: queue the most informative, diverse items of a historical pool."""

from __future__ import annotations

import argparse
from dataclasses import fields

from stream_al.cli import report
from stream_al.config import Settings
from stream_al.errors import CheckpointError, ConfigurationError, ModelFileError
from stream_al.runtime.console import Progress

__all__ = ["cmd_select"]


def cmd_select(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.data.pools import parse_pool
    from stream_al.io.model_file import import_model
    from stream_al.io.redis import store_for
    from stream_al.service.select import SelectOptions, current_learner, select

    try:
        parse_pool(args.pool)  # a wrong path is the first thing to hear about
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if settings.checkpoint.key is None:
        raise ConfigurationError(
            "STREAM_AL_CHECKPOINT__KEY is not set: models and checkpoints are signed with it"
        )
    key = settings.checkpoint.key.get_secret_value().encode()
    # The select flags are SelectOptions' fields, by name.
    options = SelectOptions(**{f.name: getattr(args, f.name) for f in fields(SelectOptions)})
    progress = Progress(enabled=not args.quiet)
    try:
        if options.candidates is not None and options.candidates < options.k:
            raise ValueError(f"--candidates {options.candidates} is fewer than --k {options.k}")
        store = None if args.model and args.dry_run else store_for(settings, "select")
        if args.model:
            learner, origin = import_model(args.model, key), f"model file {args.model}"
        else:
            assert store is not None
            learner, origin = current_learner(store, key)
        progress.update(f"select: ranking with {learner.model_name} from {origin}", force=True)
        result = select(options, settings, store, learner, progress.update)
        progress.done()
    except (ValueError, CheckpointError, ModelFileError) as exc:
        raise ConfigurationError(str(exc)) from None
    if args.json:
        report.write_json(args.json, result)
    report.print_selection(result, options.k, options.dry_run)
    return 0
